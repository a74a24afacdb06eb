"""Peak memory of a benchmark's own process."""
from __future__ import annotations

import resource


def peak_rss_gib() -> float:
    """This process's own peak resident memory in GiB: ``VmHWM`` (Linux).  Not ``ru_maxrss``:
    a child's ``ru_maxrss`` starts from its parent's resident size at the fork (and is kept
    across exec), so it reports the benchmark's parent, not the run.  ``ru_maxrss`` where
    there is no ``/proc``."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:")) / 2 ** 20
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
