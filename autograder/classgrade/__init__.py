"""The class-grading command: collect, pre-check, grade in parallel, merge, report."""
