"""Running a plan: materialize chunks on Dask (execute), reduce mode and its partial
statistics (reduce, partials), Sobol' sensitivity and Morris screening (sensitivity,
screening), progress bars and the fault injection of the tests."""
