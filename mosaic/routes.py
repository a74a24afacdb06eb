"""Numba kernels building the routing tables (``mosaic.simstate.Routes``) of a placed network.

Routing tables (one row per source: neurons, then spike inputs):
- synapses of each source are permuted so that they are grouped by destination
  core (ascending), targets ascending inside a core (``perm``);
- the source's tree edges ``edge_ptr[k] .. edge_ptr[k+1]`` are laid out
  breadth-first from the source tile: the edges leaving the tile come first (up
  to ``root_end[k]``) and the edges leaving any one router are contiguous;
- per edge ``edges[e] = (link, a, b)``: the link, and ``a .. b`` the child edges
  if the link ends at a router, or the synapse range onto that core if it ends
  at a tile (one row per edge: a forward touches one cache line).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .topology import tree_walk


@njit(cache=True)
def count_routes(parent, indptr, indices, core_of, src_core):
    """Synapse permutation (grouped by destination core) and tree-edge offsets per source."""
    n_src = src_core.size
    perm = np.empty(indices.size, np.int64)
    edge_ptr = np.zeros(n_src + 1, np.int64)
    stamp = np.zeros(parent.shape[1], np.int64)
    nodes = np.empty(parent.shape[1], np.int64)
    for k in range(n_src):
        a, b = indptr[k], indptr[k + 1]
        cnt = 0
        if b > a:
            cores = core_of[indices[a:b]]
            order = np.argsort(cores, kind="mergesort")
            for j in range(b - a):
                perm[a + j] = a + order[j]
            s = src_core[k]
            cnt = tree_walk(parent[s], s, cores, k + 1, stamp, nodes)
        edge_ptr[k + 1] = edge_ptr[k] + cnt
    return perm, edge_ptr


@njit(cache=True)
def fill_routes(parent, parent_link, depth, n_cores, indptr, indices, core_of, src_core, perm, edge_ptr):
    """Tree edges of every source (see module docstring) and per-source figures:
    root edge end, local synapse range (-1 if none), remote cores, routers, max depth.
    Edges are laid out breadth-first from the source tile, so siblings are contiguous."""
    n_src = src_core.size
    n_nodes = parent.shape[1]
    n_edges = edge_ptr[-1]
    edges = np.empty((n_edges, 3), np.int32)
    root_end = np.zeros(n_src, np.int64)
    local_a = np.full(n_src, -1, np.int64)
    local_b = np.full(n_src, -1, np.int64)
    n_remote = np.zeros(n_src, np.int32)
    n_routers = np.zeros(n_src, np.int32)
    max_depth = np.zeros(n_src, np.int32)
    stamp = np.zeros(n_nodes, np.int64)
    cstamp = np.zeros(n_nodes, np.int64)
    first_child = np.zeros(n_nodes, np.int64)
    next_sib = np.zeros(n_nodes, np.int64)
    dstart = np.zeros(n_nodes, np.int64)
    dend = np.zeros(n_nodes, np.int64)
    nfirst = np.zeros(n_nodes, np.int64)
    nlast = np.zeros(n_nodes, np.int64)
    queue = np.empty(n_nodes, np.int64)
    child = np.empty(n_nodes, np.int64)
    remote = np.empty(n_nodes, np.int64)
    nodes = np.empty(n_nodes, np.int64)
    for k in range(n_src):
        a, b = indptr[k], indptr[k + 1]
        e0 = edge_ptr[k]
        root_end[k] = e0
        if b == a:
            continue
        s = src_core[k]
        n_rem = 0
        j = a
        while j < b:
            d = core_of[indices[perm[j]]]
            j2 = j + 1
            while j2 < b and core_of[indices[perm[j2]]] == d:
                j2 += 1
            dstart[d] = j
            dend[d] = j2
            if d == s:
                local_a[k] = j
                local_b[k] = j2
            else:
                remote[n_rem] = d
                n_rem += 1
            j = j2
        n_remote[k] = n_rem
        if n_rem == 0:
            continue
        tag = k + 1
        cstamp[s] = tag
        first_child[s] = -1
        md = 0
        for r in range(n_rem):
            md = max(md, depth[s, remote[r]])
        for i in range(tree_walk(parent[s], s, remote[:n_rem], tag, stamp, nodes)):
            v = nodes[i]                            # children pushed in walk order
            u = parent[s, v]
            if cstamp[u] != tag:
                cstamp[u] = tag
                first_child[u] = -1
            next_sib[v] = first_child[u]
            first_child[u] = v
        max_depth[k] = md
        queue[0] = s
        qh, qt, e = 0, 1, 0
        nr = 0
        while qh < qt:
            u = queue[qh]
            qh += 1
            nfirst[u] = e
            v = first_child[u]
            while v >= 0:
                edges[e0 + e, 0] = parent_link[s, v]
                child[e] = v
                e += 1
                if v >= n_cores:
                    queue[qt] = v
                    qt += 1
                    nr += 1
                v = next_sib[v]
            nlast[u] = e
        for i in range(e):
            v = child[i]
            if v >= n_cores:
                edges[e0 + i, 1] = e0 + nfirst[v]
                edges[e0 + i, 2] = e0 + nlast[v]
            else:
                edges[e0 + i, 1] = dstart[v]
                edges[e0 + i, 2] = dend[v]
        n_routers[k] = nr
        root_end[k] = e0 + nlast[s]
    return edges, root_end, local_a, local_b, n_remote, n_routers, max_depth


@njit(cache=True)
def max_branching(rt, n_cores):
    """Most branches leaving one router of any tree (``cycle_model.noc_cycle`` pushes at most this many
    entries per packet it forwards)."""
    edges, link_head = rt.edges, rt.link_head
    max_fan = 1
    for e in range(edges.shape[0]):
        if link_head[edges[e, 0]] >= n_cores:
            max_fan = max(max_fan, edges[e, 2] - edges[e, 1])
    return max_fan
