"""Charts of stored results: ``sweep plot`` and the pictures of ``sweep report``.

:mod:`sweep.plots.prepare` selects and thins what a chart draws (lazily, on the Dask-backed
store: never the whole of a large store); :mod:`sweep.plots.charts` holds one pure function
per chart, from prepared xarray data to a :class:`~sweep.plots.charts.Chart` (a matplotlib
figure, the numbers it draws, a title that says what it answers and a one-sentence
reading); :mod:`sweep.plots.defaults` picks the charts for each kind of store and writes
them with their CSV files.
"""
