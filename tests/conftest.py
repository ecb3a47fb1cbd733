"""Suite-wide settings: hypothesis runs derandomized (same examples every run, no
example database), so the suite is deterministic like every other test here."""

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.load_profile("deterministic")
