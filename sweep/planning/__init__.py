"""What is decided before computing, every mode's plan resolved: a grid or sample grid
(planner), a reduce (reduce_plan, with its folding: weights, thresholds, histogram edges),
a Sobol' or Morris analysis (sensitivity_plan), the samplers (sampling) and the pre-flight
checks (preflight)."""
