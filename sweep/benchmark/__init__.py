"""``sweep bench``: how fast each backend evaluates, stores and reduces the benchmark grid on
this machine, against the hardware ceilings measured in the same run."""
