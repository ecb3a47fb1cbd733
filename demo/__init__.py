"""``python -m demo``: the sample table and a synthetic class graded (make demo)."""
