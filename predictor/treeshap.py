"""Exact TreeSHAP for shallow trees, by table look-up.

XGBoost's ``pred_contribs`` computes path-dependent TreeSHAP at about 0.4 ms per row for our
239-tree, depth-3 model: too slow for reasons on 1,000-application batches. But for one tree, the
path-dependent Shapley values of a row depend on the row only through the direction it takes at
each internal node (left or right, missing values following the default branch). A depth-3 tree
has at most 7 internal nodes, so at most 128 direction patterns: the values for every pattern are
computed once when the model loads, and scoring becomes "find each tree's pattern, add up table
rows", a few vectorised numpy operations for a whole batch.

The table holds the exact Shapley values of the game XGBoost's TreeSHAP solves (the
cover-weighted conditional expectation of the tree), computed by enumerating feature subsets,
so the result equals ``pred_contribs`` up to float32 rounding; ``tests/predictor/test_treeshap.py``
checks that on every applicant. Trees with more than ``MAX_INTERNAL_NODES`` internal nodes make
``build`` return None and the caller falls back to XGBoost.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["MAX_INTERNAL_NODES", "ShapTables", "build"]

MAX_INTERNAL_NODES = 7
_CATEGORICAL = 1
# Up to this many rows, ``_block`` sums with dense arrays instead of two sparse products (for a
# single row, building the sparse matrices cost ~6x the dense sums; from ~8 rows on they win).
_SMALL_BLOCK = 4


@dataclass(frozen=True)
class _Tree:
    left: list[int]
    right: list[int]
    feature: list[int]
    threshold: list[float]
    default_left: list[bool]
    categorical: list[bool]
    right_categories: dict[int, frozenset[int]]
    cover: list[float]
    value: list[float]  # leaf values (only read at leaves)

    @property
    def internal(self) -> list[int]:
        return [n for n, child in enumerate(self.left) if child != -1]


def _parse(raw: dict[str, Any]) -> _Tree:
    cats: dict[int, frozenset[int]] = {}
    segments, sizes, values = raw["categories_segments"], raw["categories_sizes"], raw["categories"]
    for node, start, size in zip(raw["categories_nodes"], segments, sizes, strict=False):
        cats[int(node)] = frozenset(int(c) for c in values[start : start + size])
    return _Tree(
        left=[int(v) for v in raw["left_children"]],
        right=[int(v) for v in raw["right_children"]],
        feature=[int(v) for v in raw["split_indices"]],
        threshold=[float(v) for v in raw["split_conditions"]],
        default_left=[bool(v) for v in raw["default_left"]],
        categorical=[int(v) == _CATEGORICAL for v in raw["split_type"]],
        right_categories=cats,
        cover=[float(v) for v in raw["sum_hessian"]],
        value=[float(v) for v in raw["split_conditions"]],
    )


def _shapley_table(tree: _Tree, n_features: int) -> np.ndarray:
    """``[2**m, n_features]`` Shapley values of one tree for every direction pattern.

    Bit ``k`` of a pattern is 1 when the row goes left at the tree's ``k``-th internal node.
    """
    internal = tree.internal
    bit = {node: k for k, node in enumerate(internal)}
    used = sorted({tree.feature[n] for n in internal})
    slot = {f: i for i, f in enumerate(used)}
    d = len(used)
    patterns = np.arange(1 << len(internal))
    subsets = np.arange(1 << d)

    def value(node: int) -> np.ndarray:
        # v(S, pattern) of the subtree: shape [2**d, 2**m].
        if tree.left[node] == -1:
            return np.full((subsets.size, patterns.size), tree.value[node])
        left, right = value(tree.left[node]), value(tree.right[node])
        goes_left = ((patterns >> bit[node]) & 1).astype(bool)[None, :]
        known = ((subsets >> slot[tree.feature[node]]) & 1).astype(bool)[:, None]
        followed = np.where(goes_left, left, right)
        cover = tree.cover[node]
        averaged = (tree.cover[tree.left[node]] * left + tree.cover[tree.right[node]] * right) / cover
        return np.where(known, followed, averaged)

    v = value(0)
    sizes = np.array([bin(s).count("1") for s in subsets])
    weights = np.array([math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)])
    table = np.zeros((patterns.size, n_features))
    for f, i in slot.items():
        without = subsets[((subsets >> i) & 1) == 0]
        gains = v[without | (1 << i)] - v[without]
        table[:, f] = (weights[sizes[without]][:, None] * gains).sum(axis=0)
    return table


@dataclass(frozen=True)
class ShapTables:
    """Everything needed to turn a feature matrix into exact contributions."""

    n_features: int
    node_feature: np.ndarray  # [M] feature of every internal node, all trees
    node_threshold: np.ndarray  # [M] float32, numeric splits go left when x < threshold
    node_default_left: np.ndarray  # [M] bool, direction of a missing value
    node_categorical: np.ndarray  # [M] bool
    node_right_mask: np.ndarray  # [M] uint64, bit c set when category c goes right
    tree_offset: np.ndarray  # [T] first row of each tree's block in ``table``
    table: np.ndarray  # [sum(2**m), n_features] float32
    bias: float
    tree_patterns: sparse.csr_matrix  # [T, M]: 2**k at (tree, its k-th internal node)
    # The categorical nodes' columns, taken once per version rather than on every request.
    categorical_nodes: np.ndarray = field(init=False)  # [C] int64 indexes into the node arrays
    categorical_right_mask: np.ndarray = field(init=False)  # [C] uint64
    categorical_default_left: np.ndarray = field(init=False)  # [C] bool
    # ``tree_patterns`` as plain arrays (each tree's nodes are contiguous): the first node of
    # every tree and every node's 2**k, for the small-batch path of ``_block``.
    tree_first_node: np.ndarray = field(init=False)  # [T] int64
    node_weight: np.ndarray = field(init=False)  # [M] int64

    def __post_init__(self) -> None:
        nodes = np.flatnonzero(self.node_categorical)
        object.__setattr__(self, "categorical_nodes", nodes)
        object.__setattr__(self, "categorical_right_mask", self.node_right_mask[nodes])
        object.__setattr__(self, "categorical_default_left", self.node_default_left[nodes])
        patterns = self.tree_patterns
        object.__setattr__(self, "tree_first_node", patterns.indptr[:-1].astype(np.int64))
        weights = np.zeros(patterns.shape[1], dtype=np.int64)
        weights[patterns.indices] = patterns.data.astype(np.int64)
        object.__setattr__(self, "node_weight", weights)

    def contributions(self, matrix: np.ndarray, chunk: int = 512) -> np.ndarray:
        """``[N, n_features + 1]`` float32 contributions, bias last (like ``pred_contribs``)."""
        out = np.empty((matrix.shape[0], self.n_features + 1), dtype=np.float32)
        out[:, -1] = self.bias
        for start in range(0, matrix.shape[0], chunk):
            rows = matrix[start : start + chunk]
            out[start : start + len(rows), :-1] = self._block(rows)
        return out

    def _block(self, rows: np.ndarray) -> np.ndarray:
        x = rows[:, self.node_feature].astype(np.float32, copy=False)
        missing = np.isnan(x)
        # NaN < threshold is False, so a missing value goes left exactly when its default is left.
        left = (x < self.node_threshold) | (missing & self.node_default_left)
        cat = self.categorical_nodes
        if cat.size:
            xc, mc = x[:, cat], missing[:, cat]
            codes = np.where(mc, 0, xc).astype(np.int64)
            # A code outside the split's set (or outside 0..63) goes left, as in XGBoost.
            in_set = (
                (
                    (self.categorical_right_mask >> np.clip(codes, 0, 63).astype(np.uint64)) & np.uint64(1)
                ).astype(bool)
                & (codes >= 0)
                & (codes < 64)
            )
            left[:, cat] = np.where(mc, self.categorical_default_left, ~in_set)
        n = rows.shape[0]
        if n <= _SMALL_BLOCK:
            return self._small_block(left)
        # Pattern of each tree = sum of 2**k over the nodes where the row went left: one sparse
        # product with the [trees, nodes] weight matrix, then one with the value table.
        pattern = np.asarray(self.tree_patterns @ left.T.astype(np.float32)).T.astype(np.int64)
        index = pattern + self.tree_offset
        trees = index.shape[1]
        one_hot = sparse.csr_matrix(
            (np.ones(n * trees, dtype=np.float32), index.ravel(), np.arange(0, n * trees + 1, trees)),
            shape=(n, self.table.shape[0]),
        )
        summed: np.ndarray = np.asarray(one_hot @ self.table, dtype=np.float32)
        return summed

    def _small_block(self, left: np.ndarray) -> np.ndarray:
        """``_block``'s sums without building sparse matrices (for a few rows, building them cost
        more than the arithmetic): the same integers, and the same float32 additions in the same
        order (tree by tree, from zero, as the sparse product accumulates), so the same bits."""
        pattern = np.add.reduceat(left * self.node_weight, self.tree_first_node, axis=1)
        picked = self.table[(pattern + self.tree_offset).T]  # [trees, n, features]
        # cumsum adds tree after tree in float32; "+ 0.0" gives a -0.0 sum the sign 0.0 + x has.
        summed: np.ndarray = picked.cumsum(axis=0, dtype=np.float32)[-1] + np.float32(0.0)
        return summed


def build(booster: Any, bias: float) -> ShapTables | None:
    """Tables for ``booster`` (a binary XGBoost tree model), or None if a tree is too deep.

    ``bias`` is the expected margin (the last ``pred_contribs`` column), taken from XGBoost itself
    so base-score handling stays XGBoost's.
    """
    config = json.loads(bytes(booster.save_raw("json")))
    model = config["learner"]["gradient_booster"]["model"]
    n_features = int(config["learner"]["learner_model_param"]["num_feature"])
    trees = [_parse(raw) for raw in model["trees"]]
    if not trees or any(len(t.internal) > MAX_INTERNAL_NODES for t in trees):
        return None
    feats: list[int] = []
    thresholds: list[float] = []
    default_left: list[bool] = []
    categorical: list[bool] = []
    masks: list[int] = []
    weights: list[int] = []
    starts: list[int] = []
    offsets: list[int] = []
    tables: list[np.ndarray] = []
    offset = 0
    for tree in trees:
        internal = tree.internal
        if not internal:
            # A stump that is a single leaf: its value is in the bias, it has no pattern.
            continue
        starts.append(len(feats))
        offsets.append(offset)
        for k, node in enumerate(internal):
            feats.append(tree.feature[node])
            thresholds.append(tree.threshold[node])
            default_left.append(tree.default_left[node])
            categorical.append(tree.categorical[node])
            masks.append(sum(1 << c for c in tree.right_categories.get(node, ()) if 0 <= c < 64))
            weights.append(1 << k)
        table = _shapley_table(tree, n_features)
        tables.append(table)
        offset += table.shape[0]
    return ShapTables(
        n_features=n_features,
        node_feature=np.array(feats, dtype=np.int64),
        node_threshold=np.array(thresholds, dtype=np.float32),
        node_default_left=np.array(default_left, dtype=bool),
        node_categorical=np.array(categorical, dtype=bool),
        node_right_mask=np.array(masks, dtype=np.uint64),
        tree_offset=np.array(offsets, dtype=np.int64),
        table=np.concatenate(tables).astype(np.float32),
        bias=float(bias),
        tree_patterns=_tree_patterns(np.array(weights), np.array(starts), len(feats)),
    )


def _tree_patterns(weights: np.ndarray, starts: np.ndarray, n_nodes: int) -> sparse.csr_matrix:
    tree_of_node = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n_nodes)))
    return sparse.csr_matrix(
        (weights.astype(np.float32), (tree_of_node, np.arange(n_nodes))), shape=(len(starts), n_nodes)
    )
