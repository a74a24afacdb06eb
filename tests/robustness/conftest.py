"""Shared pieces of the hostile-input tests: the benchmark's case generator and judge, loaded
from ``benchmarks/bench_robustness.py`` (one implementation of what "clean" means)."""
import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_robustness.py"
_spec = importlib.util.spec_from_file_location("bench_robustness", _PATH)
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)


@pytest.fixture(scope="session")
def base_files():
    return hostile.base_files()


@pytest.fixture
def folder(tmp_path, base_files, monkeypatch):
    """A fresh folder holding the valid base files, as the working directory."""
    for name, data in base_files.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def bench():
    """The benchmark module: case families, ``run_in_process``, ``snapshot``, ``judge``."""
    return hostile


@pytest.fixture(scope="session")
def run_clean():
    def run(folder: Path, argv: list[str]) -> str:
        """Run `mosaic ARGV` in ``folder``; assert a clean refusal; return the error line."""
        before = hostile.snapshot(folder)
        res = hostile.run_in_process(argv)
        problems = hostile.judge(res, before, hostile.snapshot(folder))
        assert not problems, (argv, problems, res["stderr"])
        return res["stderr"].strip()
    return run
