"""What is decided before computing: the plan of a grid or sample grid (planner), the
samplers (sampling) and the pre-flight checks (preflight)."""
