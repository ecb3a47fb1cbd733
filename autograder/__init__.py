"""Grading package of the "one neuron from scratch" nbgrader course.

assignment     -- this assignment: its contract, the reference solution and the checks
preprocessors  -- nbgrader preprocessors of the course, one per module
sandbox        -- bubblewrap, the verdict worker that runs student code, its client
classgrade     -- the class-grading command
"""
