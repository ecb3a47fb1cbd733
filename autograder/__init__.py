"""Grading package of the "one neuron from scratch" nbgrader course.

reference  -- the reference solution (single source of truth for the notebook)
checks     -- one check per graded cell; each takes the implementation as argument
"""

ASSIGNMENT = "one_neuron"
NOTEBOOK = "one_neuron"
