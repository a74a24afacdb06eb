"""Smoke runs: every example and benchmark script run in a subprocess with ``--quick``, as a
user would run it.  They are the slowest tests; every test here is marked ``smoke``, so
``pytest -m "not smoke"`` runs the unit tests alone and ``pytest tests/smoke`` these alone
(the longer ones are also marked ``slow``: ``pytest -m slow tests/smoke``)."""
import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/smoke/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.smoke)
