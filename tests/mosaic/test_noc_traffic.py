"""Synthetic traffic on the network-on-chip (``mosaic.noc``): the numba run equals the
pure-Python reference, zero-load latency equals the hop formula, throughput below and
above saturation, the transpose bottleneck of an XY-routed mesh, bad input."""
import math

import numpy as np
import pytest

from mosaic import HardwareSpec, hop_matrix, topology
from mosaic.noc import (PATTERNS, NocError, Traffic, bisection_bound, channel_load_bound, destinations,
                        saturation_rate, simulate_traffic)
from mosaic.reference import traffic_reference
from mosaic.topology import mosaic_hops


def small(topo: str, **kw) -> HardwareSpec:
    return HardwareSpec.preset("mosaic-4x4").replace(topology=topo, **kw)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("topo,rate,bw,depth,cph", [("mosaic", 0.15, 1, 2, 1), ("mesh", 0.7, 1, 1, 2),
                                                    ("mosaic", 0.8, 2, 3, 1)])
def test_kernel_equals_reference(pattern, topo, rate, bw, depth, cph):
    spec = small(topo, bandwidth=bw, buffer_depth=depth, cycles_per_hop=cph)
    tr = Traffic(pattern=pattern, rate=rate, warmup=30, measure=80, drain=60, fanout=3, seed=3)
    a, b = simulate_traffic(spec, tr), traffic_reference(spec, tr)
    assert a.summary() == b.summary()
    assert np.array_equal(a.link_load, b.link_load)
    assert a.conserved and a.n_measured > 50


@pytest.mark.parametrize("preset", ["mosaic-8x8", "mesh-8x8"])
@pytest.mark.parametrize("cph", [1, 3])
def test_zero_load_latency_is_hops_times_cycles_per_hop(preset, cph):
    spec = HardwareSpec.preset(preset).replace(cycles_per_hop=cph)
    run = simulate_traffic(spec, Traffic(rate=0.002, warmup=200, measure=20000, drain=1000))
    # the packets' own hops (no contention at this load) and the closed form over all pairs
    assert run.latency_mean == pytest.approx(run.hop_latency, rel=0.02)
    hops = mosaic_hops(8, 8) if spec.topology == "mosaic" else hop_matrix(spec)
    assert run.zero_load_latency == pytest.approx(hops.mean() * cph, rel=1e-12)
    assert run.hop_latency == pytest.approx(run.zero_load_latency, rel=0.03)
    assert not run.saturated and run.conserved


def test_below_saturation_accepted_equals_offered():
    spec = HardwareSpec.preset("mosaic-8x8")
    for rate, seed in ((0.1, 1), (0.3, 2)):
        tr = Traffic(rate=rate, warmup=500, measure=5000, drain=2000, seed=seed)
        run = simulate_traffic(spec, tr)
        noise = 4 * math.sqrt(rate / (spec.n_cores * tr.measure)) + 2 * rate * run.latency_mean / tr.measure
        assert abs(run.accepted - rate) < noise
        assert not run.saturated and run.unfinished == 0 and run.conserved


def test_above_saturation_accepted_plateaus_and_nothing_is_lost():
    spec = HardwareSpec.preset("mesh-8x8")
    runs = [simulate_traffic(spec, Traffic(rate=r, warmup=1000, measure=2000, drain=500)) for r in (0.6, 0.9)]
    for run in runs:
        assert run.saturated and run.conserved
        assert run.accepted < 0.9 * run.offered
    assert runs[1].accepted == pytest.approx(runs[0].accepted, rel=0.08)
    assert runs[0].accepted < bisection_bound(spec)


def test_transpose_on_an_xy_mesh_saturates_at_its_bottleneck_link():
    """Transpose under XY routing on an R x R mesh: row R-1's tiles 0..R-2 all travel right
    to column R-1, so the link into router (R-1, R-1) carries (R-1) x rate: saturation at
    bandwidth / (R-1) = 1/7 on 8x8, the tightest channel."""
    spec = HardwareSpec.preset("mesh-8x8")
    R = spec.rows
    run = simulate_traffic(spec, Traffic(pattern="transpose", rate=0.08, measure=8000))
    t = topology(spec)
    n = spec.n_cores
    worst = int(np.argmax(run.link_load))
    assert run.link_load[worst] == pytest.approx((R - 1) * 0.08, rel=0.1)
    ends = {tuple(t.links[worst])}
    hot = {(n + (R - 1) * R + R - 2, n + R * R - 1), (n + R * R - 1, n + (R - 2) * R + R - 1),
           (n + 1, n), (n, n + R)}            # the four mirror images of that link
    assert ends <= hot
    sat = saturation_rate(spec, Traffic(pattern="transpose", measure=3000), hi=0.5)
    assert 0.85 / (R - 1) <= sat <= 1.03 / (R - 1)


def test_bisection_bound_formula():
    for R in (4, 8, 16):
        mos = HardwareSpec.preset("mosaic-8x8").replace(rows=R, cols=R)
        assert bisection_bound(mos) == pytest.approx(4 * (R + 1) / R ** 2)
        assert bisection_bound(mos.replace(topology="mesh")) == pytest.approx(4 / R)
        assert bisection_bound(mos.replace(bandwidth=3)) == pytest.approx(12 * (R + 1) / R ** 2)
    assert bisection_bound(HardwareSpec.preset("mosaic-8x8")) == 0.5625


def test_patterns_send_where_they_say():
    spec = HardwareSpec.preset("mosaic-4x4")
    for pattern, want in (("transpose", lambda s: (s % 4) * 4 + s // 4), ("bitcomp", lambda s: 15 - s)):
        d = destinations(spec, Traffic(pattern=pattern))
        assert [int(d.m.indices[d.m.indptr[k]]) for k in range(16)] == [want(s) for s in range(16)]
    d = destinations(spec, Traffic(pattern="hotspot", hotspot_share=0.5, hotspot_tile=5))
    to5 = d.prob[d.m.indices == 5]
    assert np.allclose(to5, 0.5 + 0.5 / 16) and np.allclose(d.prob.reshape(16, 16).sum(1), 1)
    d = destinations(spec, Traffic(pattern="multicast", fanout=5))
    sizes = np.diff(d.m.indptr)
    assert np.all(sizes == 5) and not np.any(d.m.indices == np.repeat(d.src, 5))
    d = destinations(spec, Traffic(pattern="neighbor"))
    assert np.all(hop_matrix(spec.replace(topology="mesh"))[d.src, d.m.indices] == 2)


@pytest.mark.parametrize("kw,msg", [({"rate": -0.1}, "rate"), ({"rate": 1.5}, "rate"),
                                    ({"pattern": "zigzag"}, "unknown traffic pattern"),
                                    ({"hotspot_share": 1.2}, "hotspot_share"),
                                    ({"hotspot_share": -0.01}, "hotspot_share"), ({"measure": 0}, "measure")])
def test_bad_traffic_is_refused(kw, msg):
    with pytest.raises(NocError, match=msg):
        Traffic(**kw)


def test_bad_requests_for_a_chip_are_refused():
    with pytest.raises(NocError, match="square"):
        simulate_traffic(HardwareSpec.preset("mosaic-4x4").replace(rows=2), Traffic(pattern="transpose"))
    with pytest.raises(NocError, match="fanout"):
        simulate_traffic(HardwareSpec.preset("mosaic-4x4"), Traffic(pattern="multicast", fanout=16))
    with pytest.raises(NocError, match="hotspot_tile"):
        simulate_traffic(HardwareSpec.preset("mosaic-4x4"), Traffic(pattern="hotspot", hotspot_tile=99))


def test_channel_load_bound_is_the_most_loaded_link():
    mesh, mos = HardwareSpec.preset("mesh-8x8"), HardwareSpec.preset("mosaic-8x8")
    assert channel_load_bound(mesh, Traffic(pattern="transpose")) == pytest.approx(1 / 7)
    assert channel_load_bound(mesh, Traffic()) == pytest.approx(bisection_bound(mesh))
    limit = channel_load_bound(mos, Traffic())
    assert limit <= 4 / 9 < bisection_bound(mos)
    run = simulate_traffic(mos, Traffic(rate=0.2, measure=10000))
    assert run.link_load.max() == pytest.approx(0.2 / limit, rel=0.05)
    assert channel_load_bound(mos.replace(bandwidth=2), Traffic()) == pytest.approx(2 * limit)
