"""Where student code runs: the bubblewrap sandbox, the verdict worker and its client."""
