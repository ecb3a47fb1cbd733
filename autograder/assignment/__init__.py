"""The assignment "one neuron from scratch": contract, reference solution, checks."""
