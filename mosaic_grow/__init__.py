"""The application layer: the ``mosaic`` command line, the end-to-end demo, sweeps on Dask
with a resumable SQLite store, and result plots.  Nothing in the toolkit imports it."""
