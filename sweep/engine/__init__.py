"""Running a resolved plan: materialize chunks (execute) and repair a store (repair), reduce
mode (reduce, with ``best:`` in best), Sobol' sensitivity and Morris screening
(sensitivity, screening), and the fault injection of the tests (faults). Tasks run on an
executor of :mod:`sweep.executors`; the compute is the backends' (:mod:`sweep.backends`)."""
