import itertools

import networkx as nx
import numpy as np
import pytest

from mosaic import HardwareSpec, hop_matrix, topology
from mosaic.topology import ROUTER_R0, ROUTER_R1, TILE, mosaic_hops, tree_walk


def off_diagonal_stats(h):
    off = ~np.eye(h.shape[0], dtype=bool)
    return int(h.max()), float(h[off].mean())


def test_mosaic_hop_statistics_match_the_paper():
    hmax, hmean = off_diagonal_stats(hop_matrix(HardwareSpec.preset("mosaic-8x8")))
    assert hmax == 27 and round(hmean, 2) == 10.0
    hmax, hmean = off_diagonal_stats(hop_matrix(HardwareSpec.preset("mosaic-4x4")))
    assert hmax == 11 and round(hmean, 2) == 4.73


@pytest.mark.parametrize("rows, cols", [(2, 2), (3, 5), (8, 8), (1, 4)])
def test_mosaic_hops_equal_closed_form(rows, cols):
    spec = HardwareSpec("t", rows, cols, 4)
    assert np.array_equal(hop_matrix(spec), mosaic_hops(rows, cols))


def test_hops_equal_networkx_shortest_paths_through_routers_only():
    spec = HardwareSpec("t", 3, 4, 4)
    t = topology(spec)
    g = nx.DiGraph()
    g.add_edges_from(map(tuple, t.links.tolist()))
    h = hop_matrix(spec)
    for s, d in itertools.permutations(range(t.n_cores), 2):
        # routers only in the interior of the path: remove other tiles
        sub = g.subgraph([v for v in g if v >= t.n_cores or v in (s, d)])
        path = nx.shortest_path(sub, s, d)
        assert len(path) - 2 == h[s, d]


def test_mosaic_layout_positions_and_kinds():
    t = topology(HardwareSpec.preset("mosaic-4x4"))
    pos, kind = t.node_pos, t.node_kind
    assert (kind[:16] == TILE).all() and (pos[:16] % 2 == 1).all()
    r0 = pos[kind == ROUTER_R0]
    assert (r0 % 2 == 0).all() and len(r0) == 25
    r1 = pos[kind == ROUTER_R1]
    assert ((r1.sum(axis=1)) % 2 == 1).all() and len(r1) == 40
    # no link joins two tiles
    assert not ((t.links[:, 0] < 16) & (t.links[:, 1] < 16)).any()


def test_mesh_is_xy_routed():
    spec = HardwareSpec.preset("mesh-8x8")
    h = hop_matrix(spec)
    r, c = np.divmod(np.arange(64), 8)
    manhattan = np.abs(r[:, None] - r) + np.abs(c[:, None] - c)
    assert np.array_equal(h, np.where(manhattan > 0, manhattan + 1, 0))
    t = topology(spec)
    # XY: from core 0 to core 63 the packet first runs along row 0 to column 7
    nodes = t.tree_nodes(0, [63])
    routers = nodes[nodes >= 64] - 64
    assert set(range(8)) <= set(routers.tolist()) and 7 + 8 in routers


@pytest.mark.parametrize("preset", ["mosaic-4x4", "mesh-8x8"])
def test_trees_are_shortest_and_shared(preset):
    spec = HardwareSpec.preset(preset)
    t, h = topology(spec), hop_matrix(spec)
    rng = np.random.default_rng(0)
    for _ in range(30):
        s = int(rng.integers(t.n_cores))
        dests = rng.choice(t.n_cores, size=int(rng.integers(1, 6)), replace=False)
        links = t.tree_links(s, dests)
        assert len(set(links.tolist())) == len(links)          # a link is used once
        # a tree: as many links as non-root nodes
        assert len(links) == len(t.tree_nodes(s, dests)) - 1
        for d in dests:
            if d != s:
                assert t.tree_routers(s, [d]) == h[s, d]
        assert t.tree_routers(s, dests) <= sum(h[s, d] for d in dests)


def test_shared_prefix_is_counted_once():
    spec = HardwareSpec.preset("mosaic-4x4")
    t, h = topology(spec), hop_matrix(spec)
    # cores 2 and 3 lie in the same row beyond core 1: their paths from core 0 overlap
    both = t.tree_routers(0, [2, 3])
    assert both < h[0, 2] + h[0, 3]
    assert both >= max(h[0, 2], h[0, 3])


def test_routing_tables_are_read_only():
    t = topology(HardwareSpec.preset("mosaic-4x4"))
    with pytest.raises(ValueError):
        t.parent[0, 0] = 3


@pytest.mark.parametrize("topo_name, rows, cols", [("mosaic", 4, 4), ("mosaic", 3, 5), ("mosaic", 1, 4),
                                                   ("mosaic", 8, 8), ("mesh", 4, 6)])
def test_routing_is_deadlock_free(topo_name, rows, cols):
    """Dally & Seitz: no cycle in the channel-dependency graph (a link feeding the
    next link of any route) means no deadlock without virtual channels."""
    t = topology(HardwareSpec("t", rows, cols, 4, topology=topo_name))
    g = nx.DiGraph()
    for s in range(t.n_cores):
        v = np.flatnonzero(t.parent[s] >= 0)
        p = t.parent[s, v]
        inner = p != s                       # the link into p is itself on the route
        g.add_edges_from(zip(t.parent_link[s, p[inner]].tolist(), t.parent_link[s, v[inner]].tolist()))
    assert nx.is_directed_acyclic_graph(g)


def test_every_tile_reached_by_a_shortest_route():
    t = topology(HardwareSpec.preset("mosaic-8x8"))
    for s in (0, 27, 63):
        for d in range(t.n_cores):
            nodes = t.tree_nodes(s, [d])
            assert np.count_nonzero(nodes >= t.n_cores) == mosaic_hops(8, 8)[s, d]


@pytest.mark.parametrize("preset", ["mosaic-4x4", "mesh-8x8"])
def test_tree_walk_is_the_union_of_the_unicast_paths(preset):
    """Oracle for ``tree_walk`` (the one tree walk of the simulator, cost model and mapper):
    the union of every destination's full path to the root, each walked to the end."""
    t = topology(HardwareSpec.preset(preset))
    rng = np.random.default_rng(0)
    stamp = np.zeros(t.n_nodes, np.int64)
    out = np.empty(t.n_nodes, np.int64)
    for tag in range(1, 60):
        s = int(rng.integers(t.n_cores))
        dests = rng.integers(0, t.n_cores, int(rng.integers(1, 8)))
        union = set()
        for d in dests.tolist():
            v = d
            while v != s:
                union.add(v)
                v = int(t.parent[s, v])
        k = tree_walk(t.parent[s], s, dests, tag, stamp, out)
        assert sorted(out[:k].tolist()) == sorted(union)
        assert k == len(union)                       # each node listed once
        assert all(int(t.parent[s, v]) == s or int(t.parent[s, v]) in union for v in out[:k])
