"""Shared test setup: headless plots, one torch thread (small models train fastest so,
and parallel helpers must not oversubscribe the 2 cores), bytecode caches."""
import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Bytecode caches are written as Python does by default, also where PYTHONDONTWRITEBYTECODE
# is set (numba writes its caches into __pycache__ anyway): without them every worker and
# every CLI or script subprocess compiles the project's modules again, and pytest rewrites
# every test module again (each worker's collection 12 s instead of 19 s)
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # torch-free parts of the suite still run
    pass


def pytest_sessionstart(session):
    """Under xdist, before the workers start: compile the kernels once (tests/warm_kernels.py,
    its two shares side by side), so that from a cold numba cache the workers and the
    benchmark subprocesses load them instead of each compiling the same ones at once."""
    config = session.config
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    import importlib.util
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    script = Path(__file__).with_name("warm_kernels.py")
    spec = importlib.util.spec_from_file_location("warm_kernels", script)
    warm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(warm)
    t = time.perf_counter()
    errs = {share: tempfile.TemporaryFile("w+") for share in warm.SHARES}     # a pipe could fill and block
    procs = {share: subprocess.Popen([sys.executable, str(script), share], stdout=subprocess.DEVNULL,
                                     stderr=errs[share]) for share in warm.SHARES}
    took = {}
    while len(took) < len(procs):          # each share's time, for balancing them
        for share, p in procs.items():
            if share not in took and p.poll() is not None:
                took[share] = time.perf_counter() - t
        time.sleep(0.1)
    line = "numba kernels compiled or loaded (tests/warm_kernels.py): " + ", ".join(
        f"{share} {s:.0f} s" for share, s in took.items())
    for share, p in procs.items():
        if p.returncode:                   # the tests that use the kernel will show the failure
            line += f"\nwarm_kernels.py {share} failed (exit {p.returncode}):\n{_tail(errs[share])}"
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(line)


def _tail(f, n: int = 1500) -> str:
    f.seek(0)
    return f.read()[-n:]
