"""The network-on-chip alone under synthetic traffic, as NoC engineers measure it.

Every tile injects packets by a Bernoulli process: in each cycle, with probability
``rate`` (the offered load, packets per tile per cycle), one packet whose destination(s)
the traffic pattern draws.  Patterns on an R x C grid of tiles (tile ``s`` at row
``s // C``, column ``s % C``):

- ``uniform``: any tile, the source included (as BookSim2's ``uniform``), each 1/N;
- ``transpose``: (r, c) -> (c, r) (square grids; diagonal tiles send to themselves);
- ``bitcomp``: bit complement, tile ``N - 1 - s`` (the point-mirrored tile);
- ``hotspot``: share ``hotspot_share`` of the packets to ``hotspot_tile``, the rest uniform;
- ``neighbor``: one of the tile's grid neighbours (up, down, left, right), uniformly;
- ``multicast``: ``fanout`` distinct tiles other than the source, one packet following the
  multicast tree; each tile draws its destination sets from a pool of ``MULTICAST_POOL``
  sets fixed by the seed (the routing tables are built once per run).

Phases as BookSim2's ``sim_type = latency``: ``warmup`` cycles, ``measure`` cycles whose
packets are the measured ones, then injection goes on (so measured packets meet the same
load) until every measured packet has arrived or ``drain`` more cycles have passed; then
injection stops and the network drains completely, which checks that nothing is lost.
Latency of a packet = cycle its last copy is delivered - cycle it was created, queueing
at the source included; with no contention it is ``hops x cycles_per_hop``.  Accepted
throughput = packets whose last copy arrived during the measurement cycles, per tile per
cycle.  Per-link load = packets a link forwarded per cycle during the measurement cycles.

Bounds: ``bisection_bound`` (what the links across the chip's middle allow under uniform
traffic) and ``channel_load_bound`` (what the routing trees allow for a pattern: the most
loaded link); saturation is measured by ``saturation_rate``.  Where a run saturates below
the bisection bound, the second bound tells the routing's share (lane choice) from the
router's (buffer depth, head-of-line blocking; ``HardwareSpec.virtual_channels`` and
``buffer_depth`` are the router options to try).

The packets run through the spiking simulator's own network: the same routing tables
(``mosaic.simulate.build_routes``) and the same cycle of the router model
(``mosaic.cycle_model.noc_cycle``: FIFOs, arbitration in increasing link index, back-pressure);
only the injection differs.  ``mosaic.reference.traffic_reference`` is the oracle.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import scipy.sparse as sp
from numba import njit
from tqdm import tqdm

from .cycle_model import ensure_entries, noc_cycle, push_roots
from .errors import ChipError
from .routes import max_branching
from .simstate import (C_DEL, C_INJ, C_LIVE, C_SYN, COUNTERS, POOL, SCAL_N_ACTIVE, SCAL_PKT_FREE, Chip, noc_state,
                       record)
from .simulate import build_routes
from .spec import HardwareSpec
from .topology import topology

PATTERNS = ("uniform", "transpose", "bitcomp", "hotspot", "neighbor", "multicast")
MULTICAST_POOL = 32                 # destination sets per tile for the multicast pattern
LATENCY_FACTOR = 3.0                # saturated: mean latency > this x zero-load latency,
ACCEPT_FACTOR = 0.95                # or accepted < this x offered


class NocError(ChipError):
    """A synthetic-traffic request is malformed (rate, pattern, hotspot share, phases)."""


@dataclass(frozen=True)
class Traffic:
    """One synthetic-traffic run: pattern, offered load (packets per tile per cycle),
    pattern parameters, phase lengths (cycles) and the seed of the injection process."""

    pattern: str = "uniform"
    rate: float = 0.1
    hotspot_share: float = 0.2
    hotspot_tile: int = -1          # -1: the tile nearest the grid's centre
    fanout: int = 4
    warmup: int = 1000
    measure: int = 2000
    drain: int = 4000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise NocError(f"unknown traffic pattern {self.pattern!r}; choose one of {', '.join(PATTERNS)}")
        if not isinstance(self.rate, (int, float)) or not 0.0 <= self.rate <= 1.0:
            raise NocError(f"offered rate must be in [0, 1] packets per tile per cycle, got {self.rate!r}")
        if not isinstance(self.hotspot_share, (int, float)) or not 0.0 <= self.hotspot_share <= 1.0:
            raise NocError(f"hotspot_share must be in [0, 1], got {self.hotspot_share!r}")
        for f in ("fanout", "measure"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise NocError(f"{f} must be a positive integer, got {v!r}")
        for f in ("warmup", "drain"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise NocError(f"{f} must be a non-negative integer of cycles, got {v!r}")

    def with_rate(self, rate: float) -> "Traffic":
        return replace(self, rate=float(rate))


@dataclass(frozen=True)
class Destinations:
    """A pattern on one chip: row ``k`` of ``m`` (destination tiles, weight 1) is sent from
    tile ``src[k]`` with probability ``prob[k]`` per injected packet; rows grouped by source."""

    m: sp.csr_matrix
    src: np.ndarray
    prob: np.ndarray


@dataclass(frozen=True)
class NocRun:
    """What one synthetic-traffic run measured.  Rates in packets per tile per cycle,
    latency in cycles, ``link_load`` in packets per cycle per link (measurement cycles)."""

    pattern: str
    offered: float
    accepted: float
    latency_mean: float
    latency_p99: float
    zero_load_latency: float        # expected latency with no contention (hops x cycles_per_hop)
    hop_latency: float              # mean hops x cycles_per_hop of the measured packets themselves
    n_measured: int
    unfinished: int                 # measured packets not delivered when injection stopped
    link_load: np.ndarray
    conserved: bool                 # every packet and every copy delivered, loads add up
    cycles: int

    @property
    def saturated(self) -> bool:
        """Mean latency above 3x zero-load, accepted 5% below offered, or measured packets
        still queued when the drain phase ended."""
        return bool(self.unfinished > 0 or self.latency_mean > LATENCY_FACTOR * max(self.zero_load_latency, 1.0)
                or self.accepted < ACCEPT_FACTOR * self.offered)

    def summary(self) -> dict:
        return {"pattern": self.pattern, "offered": self.offered, "accepted": self.accepted,
                "latency_mean": self.latency_mean, "latency_p99": self.latency_p99,
                "zero_load_latency": self.zero_load_latency, "hop_latency": self.hop_latency,
                "n_measured": self.n_measured,
                "unfinished": self.unfinished, "peak_link_load": float(self.link_load.max(initial=0.0)),
                "conserved": self.conserved, "saturated": self.saturated, "cycles": self.cycles}


def bisection_bound(spec: HardwareSpec) -> float:
    """Highest uniform-random unicast load (packets per tile per cycle) the links across the
    chip's middle allow.  A cut leaving ``a`` of the ``N`` tiles on one side is crossed, one
    way, by ``rate x a x (N - a) / N`` packets per cycle (destinations uniform over all N
    tiles); it carries ``links x bandwidth``, so ``rate <= links x b x N / (a (N - a))``.
    Vertical cut between the middle columns (a = R x floor(C/2)): a mesh has R links
    across, Mosaic R + 1 (its horizontal router lanes; the tile-to-router links on the cut
    serve only the adjacent tile under lane-XY routing); the horizontal cut likewise
    (C, resp. C + 1).  The bound is the smaller one: ``4 (R+1) b / R^2`` for an R x R
    Mosaic (0.5625 for 8x8), ``4 b / R`` for an R x R mesh (0.50 for 8x8)."""
    n, extra = spec.n_cores, 1 if spec.topology == "mosaic" else 0
    bounds = []
    for across, length in ((spec.cols, spec.rows), (spec.rows, spec.cols)):
        if across < 2:
            continue
        a = length * (across // 2)
        bounds.append((length + extra) * spec.bandwidth * n / (a * (n - a)))
    return float(min(bounds)) if bounds else math.inf


def channel_load_bound(spec: HardwareSpec, traffic: Traffic) -> float:
    """The routing's own throughput limit for the pattern (packets per tile per cycle):
    ``bandwidth / max over links of the expected packets the link carries per unit of
    offered load`` (the maximum channel load of the routing trees; Dally and Towles 2004,
    ch. 3).  No router, however well buffered, accepts more; the gap between this limit and
    the measured saturation is the router's (buffer depth, head-of-line blocking), the gap
    between it and ``bisection_bound`` the routing's.  Uniform traffic on an R x R Mosaic:
    under lane-XY routing a packet's lane (above or below its tile) is fixed by where its
    destination lies, so an inner lane, serving the tile rows on both its sides, carries
    (R+1)/4 per unit load across the middle, and the two edge lanes little; the links beside
    the middle vertical lane also carry the same-column packets that turn to the lane left of
    their column.  The limit is 0.43 on 8x8 (``4 b / (R+1)`` = 0.44 without those), below
    the bisection bound of 0.5625: minimal lane-XY routing cannot use the edge lanes' share."""
    dest = destinations(spec, traffic)
    rt = build_routes(spec, dest.m, np.arange(spec.n_cores, dtype=np.int64), dest.src)
    per_edge = np.repeat(dest.prob, np.diff(rt.edge_ptr))
    load = np.bincount(rt.edges[:, 0], weights=per_edge, minlength=len(topology(spec).links))
    return float(spec.bandwidth / load.max()) if load.max() > 0 else math.inf


def destinations(spec: HardwareSpec, traffic: Traffic) -> Destinations:
    """The rows of ``traffic.pattern`` on ``spec``'s grid (see the module docstring)."""
    R, C, N = spec.rows, spec.cols, spec.n_cores
    tiles = np.arange(N)
    sets: list[list[int]] = []
    src: list[int] = []
    prob: list[float] = []

    def add(s, dests, p):
        sets.append(list(dests))
        src.append(s)
        prob.append(p)

    p = traffic.pattern
    if p == "transpose" and R != C:
        raise NocError(f"transpose traffic needs a square grid, {spec.name} is {R}x{C}")
    if p == "multicast" and not 1 <= traffic.fanout <= N - 1:
        raise NocError(f"multicast fanout must be in 1..{N - 1} on {spec.name}, got {traffic.fanout}")
    hot = traffic.hotspot_tile if traffic.hotspot_tile >= 0 else (R // 2) * C + C // 2
    if p == "hotspot" and not 0 <= hot < N:
        raise NocError(f"hotspot_tile {hot} is outside 0..{N - 1} on {spec.name}")
    rng = np.random.default_rng(traffic.seed + 7919)
    for s in range(N):
        r, c = divmod(s, C)
        if p in ("uniform", "hotspot"):
            share = traffic.hotspot_share if p == "hotspot" else 0.0
            for d in range(N):
                add(s, [d], (1.0 - share) / N + (share if d == hot else 0.0))
        elif p == "transpose":
            add(s, [c * C + r], 1.0)
        elif p == "bitcomp":
            add(s, [N - 1 - s], 1.0)
        elif p == "neighbor":
            nb = [(r + dr) * C + c + dc for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                  if 0 <= r + dr < R and 0 <= c + dc < C]
            for d in nb:
                add(s, [d], 1.0 / len(nb))
        else:
            others = tiles[tiles != s]
            for _ in range(MULTICAST_POOL):
                add(s, sorted(rng.choice(others, traffic.fanout, replace=False)), 1.0 / MULTICAST_POOL)
    indptr = np.concatenate([[0], np.cumsum([len(x) for x in sets])]).astype(np.int64)
    indices = np.concatenate([np.asarray(x, np.int64) for x in sets])
    m = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(len(sets), N))
    return Destinations(m, np.asarray(src, np.int64), np.asarray(prob, np.float64))


def schedule(dest: Destinations, n_cores: int, rate: float, cycles: int, seed: int):
    """Bernoulli injections of cycles ``0 .. cycles-1``: (cycle, row) per packet, sorted by
    cycle, then source tile.  The row is drawn from the source's rows by ``dest.prob``."""
    rng = np.random.default_rng(seed)
    cyc, tile = np.nonzero(rng.random((cycles, n_cores)) < rate)
    cum = np.zeros_like(dest.prob)
    for s in range(n_cores):                 # per-source cumulative share, offset by the source
        sel = dest.src == s
        cum[sel] = s + np.cumsum(dest.prob[sel])
    row = np.searchsorted(cum, tile + rng.random(tile.size) * (1 - 1e-12), side="right")
    return cyc.astype(np.int64), np.minimum(row, dest.src.size - 1).astype(np.int64)


@njit(cache=True)
def run_traffic(chip, rt, noc, rec, I, inj_cycle, inj_row, warm, meas, stop, done):
    """Cycle by cycle: the packets of ``inj_cycle``/``inj_row`` (packet ``p`` = its index)
    enter the network, then one ``noc_cycle`` of the router model.  Injection ends once every
    packet born in ``warm .. warm+meas-1`` is delivered and ``warm + meas`` is reached, or at
    ``stop``; then the network drains.  ``done[p]``: cycle packet ``p``'s last copy arrived.
    Packet ids are never reused: ``noc_cycle`` chains the packets it completes onto the free
    list, which starts each cycle empty, so the chain is exactly that cycle's completions.
    Returns (network state, last cycle + 1, cycle injection stopped, links' measured load)."""
    counters, link_load = rec.counters, rec.link_load
    scal = noc.scal
    fan = chip.bandwidth * max_branching(rt, chip.n_cores)
    m0, m1 = warm, warm + meas
    outstanding = 0
    for p in range(inj_cycle.size):
        if m0 <= inj_cycle[p] < m1:
            outstanding += 1
    link_meas = np.zeros(link_load.size, np.int64)
    q = 0
    c = 0
    injecting = True
    stopped = stop
    while True:
        if c == m0:
            link_meas -= link_load
        if c == m1:
            link_meas += link_load
        while injecting and q < inj_cycle.size and inj_cycle[q] == c:
            k = inj_row[q]
            counters[C_INJ] += 1
            if rt.local_a[k] >= 0:
                for r in range(rt.local_a[k], rt.local_b[k]):
                    I[rt.syn_tgt[r]] += rt.syn_w[r]
                counters[C_SYN] += rt.local_b[k] - rt.local_a[k]
            if rt.n_remote[k] == 0:
                counters[C_DEL] += 1
                done[q] = c
                if m0 <= c < m1:
                    outstanding -= 1
            else:
                noc = ensure_entries(noc, rt.root_end[k] - rt.edge_ptr[k])
                noc.pkt_rem[q] = rt.n_remote[k]
                counters[C_LIVE] += 1
                push_roots(k, q, c, chip.vcs, rt, noc)
            q += 1
        noc = ensure_entries(noc, scal[SCAL_N_ACTIVE] * fan)
        scal = noc.scal
        scal[SCAL_PKT_FREE] = -1
        noc_cycle(c, 0, chip, rt, I, noc, 0, rec)
        p = scal[SCAL_PKT_FREE]
        while p >= 0:
            done[p] = c
            if m0 <= inj_cycle[p] < m1:
                outstanding -= 1
            p = noc.pkt_next[p]
        c += 1
        if injecting and c >= m1 and (outstanding == 0 or c >= stop):
            injecting = False
            stopped = c
        if not injecting and scal[SCAL_N_ACTIVE] == 0:
            break
    if c <= m1:
        link_meas += link_load
    return noc, c, stopped, link_meas


def _chip(spec: HardwareSpec) -> Chip:
    return Chip(spec.step_cycles, spec.cycles_per_hop, spec.bandwidth, spec.buffer_depth, False, spec.n_cores,
                spec.virtual_channels)


def zero_load_latency(spec: HardwareSpec, dest: Destinations, max_depth: np.ndarray) -> float:
    """Expected latency (cycles) with no contention: routers on the deepest path of each
    row (``max_depth``) x ``cycles_per_hop``, weighted by how often the row is sent (every
    source equally often)."""
    return float(np.sum(dest.prob * max_depth) / spec.n_cores * spec.cycles_per_hop)


def measure(spec: HardwareSpec, traffic: Traffic, *, born, done, hops, stopped: int, link_meas,
            conserved: bool, cycles: int, zero_load: float) -> NocRun:
    """Reduce one run's per-packet cycles (``born``, ``done``) and hops (routers on each
    packet's deepest path) to a ``NocRun``."""
    m0, m1 = traffic.warmup, traffic.warmup + traffic.measure
    meas = (born >= m0) & (born < m1)
    ok = meas & (done >= 0) & (done < stopped)
    lat = (done - born)[meas]
    arrived = np.count_nonzero((done >= m0) & (done < m1))
    per = spec.n_cores * traffic.measure
    return NocRun(pattern=traffic.pattern, offered=float(traffic.rate), accepted=float(arrived / per),
                  latency_mean=float(lat.mean()) if lat.size else 0.0,
                  latency_p99=float(np.percentile(lat, 99)) if lat.size else 0.0,
                  zero_load_latency=zero_load,
                  hop_latency=float(hops[meas].mean() * spec.cycles_per_hop) if lat.size else 0.0, n_measured=int(meas.sum()),
                  unfinished=int(meas.sum() - ok.sum()), link_load=np.asarray(link_meas) / traffic.measure,
                  conserved=bool(conserved), cycles=int(cycles))


def simulate_traffic(spec: HardwareSpec, traffic: Traffic) -> NocRun:
    """One synthetic-traffic run on ``spec``'s network-on-chip (numba; see the module docstring)."""
    if not isinstance(spec, HardwareSpec):
        raise NocError(f"spec must be a HardwareSpec, got {type(spec).__name__}")
    dest = destinations(spec, traffic)
    rt = build_routes(spec, dest.m, np.arange(spec.n_cores, dtype=np.int64), dest.src)
    stop = traffic.warmup + traffic.measure + traffic.drain
    inj_cycle, inj_row = schedule(dest, spec.n_cores, traffic.rate, stop, traffic.seed)
    topo = topology(spec)
    noc = noc_state(len(topo.links) * spec.virtual_channels, POOL)
    n = inj_cycle.size
    noc = noc._replace(pkt_rem=np.zeros(max(n, 1), np.int32), pkt_next=np.full(max(n, 1), -1, np.int32))
    rec = record(0, 0, topo.n_routers, len(topo.links))
    I = np.zeros(spec.n_cores)
    done = np.full(n, -1, np.int64)
    noc, cycles, stopped, link_meas = run_traffic(_chip(spec), rt, noc, rec, I, inj_cycle, inj_row,
                                                  traffic.warmup, traffic.measure, stop, done)
    sent = inj_cycle < stopped
    counters = dict(zip(COUNTERS, rec.counters.tolist()))
    copies = np.diff(rt.syn_ptr)[inj_row[sent]].sum()
    links = np.diff(rt.edge_ptr)[inj_row[sent]].sum()
    conserved = (counters["injected"] == sent.sum() == counters["delivered"] and counters["in_flight"] == 0
                 and I.sum() == copies == counters["synaptic_ops"] and rec.link_load.sum() == links
                 and bool(np.all(done[sent] >= inj_cycle[sent])))
    return measure(spec, traffic, born=inj_cycle[sent], done=done[sent], hops=rt.max_depth[inj_row[sent]], stopped=stopped, link_meas=link_meas,
                   conserved=conserved, cycles=cycles, zero_load=zero_load_latency(spec, dest, rt.max_depth))


def latency_curve(spec: HardwareSpec, traffic: Traffic, rates, *, progress: bool = False) -> list[NocRun]:
    """One run per offered rate (the designer's latency-throughput curve)."""
    rates = [float(r) for r in rates]
    return [simulate_traffic(spec, traffic.with_rate(r))
            for r in tqdm(rates, desc=f"noc {spec.name} {traffic.pattern}", unit="rate", disable=not progress)]


def saturation_rate(spec: HardwareSpec, traffic: Traffic, *, lo: float = 0.0, hi: float = 1.0,
                    iters: int = 7) -> float:
    """Saturation throughput (packets per tile per cycle): the offered load at which the
    network saturates (``NocRun.saturated``), found by bisection between ``lo`` (taken as
    unsaturated) and ``hi`` to within ``(hi - lo) / 2**iters``; ``hi`` if ``hi`` is not saturated.
    On runs of a few thousand cycles the criterion can pass a load a few percent above
    ``channel_load_bound`` (the queues grow too slowly to triple the latency, and accepted
    stays within 5% of offered)."""
    if not simulate_traffic(spec, traffic.with_rate(hi)).saturated:
        return float(hi)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if simulate_traffic(spec, traffic.with_rate(mid)).saturated:
            hi = mid
        else:
            lo = mid
    return float(0.5 * (lo + hi))


CURVE_FRACTIONS = (0.05, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.1)


def characterise(specs, patterns, traffic: Traffic, *, fractions=CURVE_FRACTIONS, iters: int = 7,
                 progress: bool = False) -> list[dict]:
    """One latency-throughput curve per (spec, pattern), as plain JSON-ready dicts: offered
    loads at ``fractions`` of the pattern's channel-load bound (capped at 1), the runs'
    summaries, the saturation throughput (bisection, ``iters`` steps up to 1.2 x that bound),
    the bisection bound (uniform traffic) and the zero-load latency, in packets per tile per
    cycle and cycles."""
    curves = []
    jobs = [(spec, p) for spec in specs for p in patterns]
    for spec, pattern in tqdm(jobs, desc="noc curves", unit="curve", disable=not progress):
        tr = replace(traffic, pattern=pattern)
        limit = channel_load_bound(spec, tr)
        rates = sorted({round(min(1.0, f * limit), 6) for f in fractions})
        runs = latency_curve(spec, tr, rates)
        sat = saturation_rate(spec, tr, hi=min(1.0, 1.2 * limit), iters=iters)
        curves.append({"spec": spec.name, "topology": spec.topology, "rows": spec.rows, "cols": spec.cols,
                       "bandwidth": spec.bandwidth, "buffer_depth": spec.buffer_depth,
                       "virtual_channels": spec.virtual_channels,
                       "cycles_per_hop": spec.cycles_per_hop, "pattern": pattern, "traffic": asdict(tr),
                       "bisection_bound": bisection_bound(spec), "channel_bound": limit, "saturation": sat,
                       "zero_load_latency": runs[0].zero_load_latency,
                       "conserved": all(r.conserved for r in runs), "runs": [r.summary() for r in runs]})
    return curves
