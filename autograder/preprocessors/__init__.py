"""nbgrader preprocessors of the course, one per module (configured in nbgrader_config.py)."""
