"""Router graphs, hop counts and multicast routing trees.

Nodes are numbered tiles first (node ``c`` is core ``c``, row-major), then routers.
Spikes travel router to router and never through a tile; a tile only injects
packets into, and receives them from, its adjacent routers.

"mosaic" (Dalgaty et al., Nat Commun 2024): a (2R+1)x(2C+1) grid of positions;
tile (r, c) sits at (2r+1, 2c+1); R1 routers sit between two adjacent tiles, at
(odd, even) and (even, odd); R0 routers at (even, even) between four R1s.  Only
routers between tiles exist (no border ring).  Each position links to its four
grid neighbours.  "mesh": one router per core, at the core's (row, col); the tile
links to its own router only; routers link to their four grid neighbours.

Routing rule (deterministic, documented, minimal and deadlock-free): every source
core has one routing tree, and a multicast packet follows the union of the tree's
paths to its destination cores, so a shared link or router is used once.
- mosaic, "lane XY": on the position grid, even rows are horizontal lanes and even
  columns vertical lanes (tiles block every odd row and odd column).  A packet leaves
  its tile for the lane above (destinations in rows above) or below (all others),
  runs along that lane in X to the vertical lane next to the destination column on
  the source's side, turns there and runs in Y to the R1 router beside the
  destination tile; a destination reachable straight from the lane (or through the
  R1 shared with an adjacent tile) is entered directly.  Among equally short
  entries a tile hangs under the router of lowest node number.  Packets only turn
  from X to Y, never back, so the channel-dependency graph is acyclic: no deadlock
  without virtual channels.  (Breadth-first shortest-path trees, our first rule,
  deadlocked under saturation: a ring of full FIFOs around one tile.)
- mesh: dimension-ordered XY routing: along the source's row to the destination
  column, then along that column.
Both rules are shortest-path, so a unicast path traverses ``hop_matrix`` routers:
0 on the same tile; on Mosaic 1 for adjacent tiles, 2d+1 in the same row or column
at distance d >= 2, 2d-1 otherwise; on a mesh d+1.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from .spec import HardwareSpec, SpecError

TILE, ROUTER_R0, ROUTER_R1, ROUTER_MESH = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Topology:
    """The chip's router graph and every source core's routing tree.

    ``parent[s, v]`` is the node before ``v`` on source core ``s``'s tree (-1 at
    the root and for nodes off the tree); ``depth[s, v]`` is the number of routers
    a packet from ``s`` has traversed on arriving at ``v`` (a router counts itself);
    ``parent_link[s, v]`` is the index in ``links`` of the link parent -> v.
    """

    n_cores: int
    n_nodes: int
    node_kind: np.ndarray      # (n_nodes,) int8: TILE, ROUTER_R0, ROUTER_R1, ROUTER_MESH
    node_pos: np.ndarray       # (n_nodes, 2) int: (row, col) on the drawing grid
    links: np.ndarray          # (n_links, 2) int32 directed (from, to), sorted
    parent: np.ndarray         # (n_cores, n_nodes) int32
    parent_link: np.ndarray    # (n_cores, n_nodes) int32
    depth: np.ndarray          # (n_cores, n_nodes) int32

    @property
    def n_routers(self) -> int:
        return self.n_nodes - self.n_cores

    def tree_nodes(self, src: int, dests) -> np.ndarray:
        """Sorted nodes (tiles and routers) of the multicast tree from core ``src``
        to the cores ``dests`` (the source tile included)."""
        d = np.atleast_1d(np.asarray(dests, dtype=np.int64))
        out = np.empty(self.n_nodes, np.int64)
        k = tree_walk(self.parent[src], int(src), d, 1, np.zeros(self.n_nodes, np.int64), out)
        return np.sort(np.append(out[:k], int(src)))

    def tree_links(self, src: int, dests) -> np.ndarray:
        """Sorted link indices of the multicast tree from ``src`` to ``dests``."""
        nodes = self.tree_nodes(src, dests)
        return np.sort(self.parent_link[src, nodes[nodes != src]])

    def tree_routers(self, src: int, dests) -> int:
        """Routers a multicast packet from ``src`` to ``dests`` traverses (each once)."""
        return int(np.count_nonzero(self.tree_nodes(src, dests) >= self.n_cores))


@njit(cache=True)
def tree_walk(parent_row, root, dests, tag, stamp, out):
    """The multicast routing-tree walk, the one every caller uses (simulator tables, cost
    model, mapping objective): the nodes of the tree from core ``root`` to the cores
    ``dests`` along ``parent_row = Topology.parent[root]``, written to ``out`` in walk
    order (for each destination in turn, its path towards the root up to the first node
    already on the tree; the root itself is not listed); returns how many.  ``stamp``
    (n_nodes,) marks the tree's nodes with ``tag``: pass a fresh ``tag`` per tree instead
    of clearing it.  Repeated destinations and the root among ``dests`` are harmless."""
    stamp[root] = tag
    n = 0
    for d in dests:
        v = d
        while stamp[v] != tag:
            stamp[v] = tag
            out[n] = v
            n += 1
            v = parent_row[v]
    return n


def _mosaic_graph(rows: int, cols: int):
    pos = [(2 * r + 1, 2 * c + 1) for r in range(rows) for c in range(cols)]
    kind = [TILE] * len(pos)
    for y in range(2 * rows + 1):
        for x in range(2 * cols + 1):
            if y % 2 == 1 and x % 2 == 1:
                continue                                   # a tile
            kind.append(ROUTER_R0 if (y % 2 == 0 and x % 2 == 0) else ROUTER_R1)
            pos.append((y, x))
    index = {p: i for i, p in enumerate(pos)}
    edges = []
    for i, (y, x) in enumerate(pos):
        for dy, dx in ((-1, 0), (0, -1), (0, 1), (1, 0)):
            j = index.get((y + dy, x + dx))
            if j is not None and not (kind[i] == TILE and kind[j] == TILE):
                edges.append((i, j))
    return np.array(kind, np.int8), np.array(pos, np.int64), edges


def _mesh_graph(rows: int, cols: int):
    n = rows * cols
    pos = [(r, c) for r in range(rows) for c in range(cols)] * 2
    kind = [TILE] * n + [ROUTER_MESH] * n
    edges = []
    for c in range(n):
        edges += [(c, n + c), (n + c, c)]
        r0, c0 = divmod(c, cols)
        for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0)):
            r1, c1 = r0 + dr, c0 + dc
            if 0 <= r1 < rows and 0 <= c1 < cols:
                edges.append((n + c, n + r1 * cols + c1))
    return np.array(kind, np.int8), np.array(pos, np.int64), edges


def _lane_parents(rows: int, cols: int, index: dict):
    """Mosaic "lane XY" routing trees (see the module doc); routers no route uses
    keep parent -1."""
    n_cores, n_nodes = rows * cols, len(index)
    height, width = 2 * rows + 1, 2 * cols + 1
    parent = np.full((n_cores, n_nodes), -1, np.int32)
    depth = np.full((n_cores, n_nodes), -1, np.int32)
    for s in range(n_cores):
        ys, xs = 2 * (s // cols) + 1, 2 * (s % cols) + 1
        par, dep = parent[s], depth[s]
        dep[s] = 0

        def link(v, u):
            par[index[v]], dep[index[v]] = index[u] if u is not None else s, \
                (dep[index[u]] if u is not None else 0) + 1

        for lane in (ys - 1, ys + 1):                       # X phase on both lanes
            link((lane, xs), None)
            for x in range(xs + 1, width):
                link((lane, x), (lane, x - 1))
            for x in range(xs - 1, -1, -1):
                link((lane, x), (lane, x + 1))
        for x in range(0, width, 2):                        # Y phase on vertical lanes
            for y in range(ys + 2, height):
                link((y, x), (y - 1, x))
            for y in range(ys - 2, -1, -1):
                link((y, x), (y + 1, x))
            link((ys, x), None if abs(x - xs) == 1 else (ys + 1, x))
        for t in range(n_cores):
            if t == s:
                continue
            yd, xd = 2 * (t // cols) + 1, 2 * (t % cols) + 1
            entries = [(yd, xd - 1), (yd, xd + 1)] + [(y, xd) for y in (yd - 1, yd + 1) if abs(y - ys) == 1]
            best = min((index[e] for e in entries), key=lambda u: (dep[u], u))
            par[t], dep[t] = best, dep[best]
    return parent, depth


def _xy_parents(rows: int, cols: int):
    n = rows * cols
    parent = np.full((n, 2 * n), -1, np.int32)
    depth = np.full((n, 2 * n), -1, np.int32)
    for s in range(n):
        rs, cs = divmod(s, cols)
        depth[s, s] = 0
        for d in range(n):
            rd, cd = divmod(d, cols)
            if rd == rs:
                parent[s, n + d] = s if cd == cs else n + rd * cols + cd + (1 if cd < cs else -1)
            else:
                parent[s, n + d] = n + (rd + (1 if rd < rs else -1)) * cols + cd
            depth[s, n + d] = abs(rd - rs) + abs(cd - cs) + 1
            if d != s:
                parent[s, d] = n + d
                depth[s, d] = depth[s, n + d]
    return parent, depth


@lru_cache(maxsize=32)
def _topology(topology: str, rows: int, cols: int) -> Topology:
    n_cores = rows * cols
    if topology == "mosaic":
        kind, pos, edges = _mosaic_graph(rows, cols)
    else:
        kind, pos, edges = _mesh_graph(rows, cols)
    n_nodes = len(kind)
    links = np.array(sorted(edges), np.int32).reshape(-1, 2)
    if topology == "mosaic":
        parent, depth = _lane_parents(rows, cols, {(int(y), int(x)): i for i, (y, x) in enumerate(pos)})
    else:
        parent, depth = _xy_parents(rows, cols)
    if (depth[:, :n_cores] < 0).any():
        raise SpecError(f"{topology} {rows}x{cols}: some tiles are unreachable")
    link_index = {(int(u), int(v)): i for i, (u, v) in enumerate(links)}
    parent_link = np.full_like(parent, -1)
    for s in range(n_cores):
        for v in np.flatnonzero(parent[s] >= 0):
            parent_link[s, v] = link_index[(int(parent[s, v]), int(v))]
    for a in (kind, pos, links, parent, parent_link, depth):
        a.setflags(write=False)
    return Topology(n_cores, n_nodes, kind, pos, links, parent, parent_link, depth)


def topology(spec: HardwareSpec) -> Topology:
    """The (cached) router graph and routing trees of a spec's chip."""
    return _topology(spec.topology, spec.rows, spec.cols)


def hop_matrix(spec: HardwareSpec) -> np.ndarray:
    """(n_cores, n_cores) int: routers traversed from core i to core j (0 on the diagonal)."""
    t = topology(spec)
    return np.ascontiguousarray(t.depth[:, : t.n_cores])


def mosaic_hops(rows: int, cols: int) -> np.ndarray:
    """The closed-form Mosaic hop count (Dalgaty et al. 2024), the oracle for ``hop_matrix``."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    dr = np.abs(r[:, None] - r[None, :])
    dc = np.abs(c[:, None] - c[None, :])
    d = dr + dc
    straight = (dr == 0) | (dc == 0)
    h = np.where(straight, 2 * d + 1, 2 * d - 1)
    h[d == 1] = 1
    h[d == 0] = 0
    return h


MOSAIC_BETA = 8.0                    # Mosaic's train.py default for --beta
MOSAIC_PENALTY_CLIP = float(np.exp(15))  # generate_mosaic_mask's clip


def hop_penalty(spec: HardwareSpec, beta: float = MOSAIC_BETA) -> np.ndarray:
    """Mosaic's hop penalty M(h) = min(exp(beta h) - 1, e^15) for every pair of cores:
    (n_cores, n_cores) float64, M[i, j] the cost factor of a synapse from core i to core j.

    As EIS-Hub/Mosaic's ``generate_mosaic_mask`` (mosaic/utils.py): h is the raw number of
    routers between the two cores (``hop_matrix``, no normalisation; 0 on the same core, so
    M = 0 there), beta = 8 is its training script's default, and M is clipped at e^15, so with
    beta = 8 every route of 2 or more routers costs the same e^15 = 3.3e6 (one router: 2980).
    The training penalty is mean(M * W^2) over all synapses (Mosaic's ``sparser``)."""
    if not np.isfinite(beta) or beta <= 0:
        raise SpecError(f"hop_penalty: beta must be a positive number, got {beta}")
    return np.minimum(np.expm1(beta * hop_matrix(spec).astype(np.float64)), MOSAIC_PENALTY_CLIP)


def tile_hops(spec: HardwareSpec, src_core, dst_core) -> tuple[np.ndarray, np.ndarray]:
    """Tile-to-tile hops (along a row, along a column) of a message from ``src_core`` to
    ``dst_core`` (arrays of core numbers): Manhattan distance between their tiles, a tile
    being ``spec.cores_per_tile`` consecutive cores of a row, so 0 inside a tile (SANA-FE's
    hierarchical tiles of cores).  Independent of ``hop_matrix``, which counts routers."""
    rs, cs = np.divmod(np.asarray(src_core, np.int64), spec.cols)
    rd, cd = np.divmod(np.asarray(dst_core, np.int64), spec.cols)
    k = spec.cores_per_tile
    return np.abs(cs // k - cd // k), np.abs(rs - rd)
