"""ItemKNN: shrunk cosine item-item similarity, each item keeping its k nearest neighbours.

The similarity is computed a block of item columns at a time and only each
column's k largest entries are kept, so memory grows with items x block and
items x k, never items²: at ML-10M's shape (10,677 items, and nearly every pair
of them shares a user) the whole co-occurrence matrix, sorted at once, took
the evaluator to 10.5 GB.
"""
from typing import Any, Dict, Iterator, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models.baselines.interface import Baseline, ItemFeatures, binarize

NEIGHBOURS_GRID = (50, 100, 200, 400)
# Similarities computed at a time, at most: a block of columns is items x
# (_BLOCK_CELLS // items) float64s (128 MB), plus its co-occurrence counts.
_BLOCK_CELLS = 1 << 24


def top_k_similarity(train: sp.spmatrix, shrinkage: float, k: int) -> sp.csr_matrix:
    """sim(i, j) = x_i·x_j / (‖x_i‖‖x_j‖ + shrinkage) over item columns, zero on the
    diagonal; each column j keeps its k largest positive entries (ties: the lower row
    first). Shrinkage pulls similarities of items with few co-occurrences towards zero."""
    columns_of = sp.csc_matrix(train)
    items_by_user = columns_of.T.tocsr()
    num_items = train.shape[1]
    norms = np.sqrt(np.asarray(columns_of.multiply(columns_of).sum(axis=0)).ravel())
    block = max(1, _BLOCK_CELLS // max(num_items, 1))
    rows, columns, values = [], [], []
    for start in range(0, num_items, block):
        stop = min(start + block, num_items)
        similarity = np.asarray((items_by_user @ columns_of[:, start:stop]).toarray(), np.float64)
        similarity /= norms[:, None] * norms[None, start:stop] + shrinkage + 1e-12
        similarity[np.arange(start, stop), np.arange(stop - start)] = 0.0
        kept = _top_k_per_column(similarity, k)
        block_rows, block_columns = np.nonzero(kept)
        rows.append(block_rows)
        columns.append(block_columns + start)
        values.append(similarity[block_rows, block_columns])
    rows, columns, values = (np.concatenate(parts) if parts else np.zeros(0)
                             for parts in (rows, columns, values))
    return sp.csr_matrix((values, (rows, columns)), shape=(num_items, num_items))


def _top_k_per_column(values: np.ndarray, k: int) -> np.ndarray:
    """Mask of each column's k largest positive entries, ties going to the lower row."""
    positive = values > 0
    if k >= len(values):
        return positive
    threshold = -np.partition(-values, k - 1, axis=0)[k - 1]  # each column's k-th largest
    above = values > threshold
    tied = values == threshold
    room = k - above.sum(axis=0)
    return positive & (above | (tied & (np.cumsum(tied, axis=0) <= room)))


def first_k_per_column(similarity: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Each column's k largest entries of a top_k_similarity, ties going to the lower
    row: from its k' >= k per column this is top_k_similarity with k itself, as an
    entry among a column's k largest is also among its k' largest."""
    entries = sp.coo_matrix(similarity)
    order = np.lexsort((entries.row, -entries.data, entries.col))
    columns = entries.col[order]
    rank = np.arange(len(order)) - np.searchsorted(columns, columns)
    kept = order[rank < k]
    return sp.csr_matrix((entries.data[kept], (entries.row[kept], entries.col[kept])),
                         shape=similarity.shape)


class ItemKNN(Baseline):
    """score(u, j) = Σ over u's items i among j's k neighbours of sim(i, j)."""

    def __init__(self, neighbours: int = 200, shrinkage: float = 10.0):
        self.neighbours = neighbours
        self.shrinkage = shrinkage

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "ItemKNN":
        self.train = binarize(train)
        self.similarity = top_k_similarity(self.train, self.shrinkage, self.neighbours)
        return self

    @classmethod
    def fit_grid(cls, grid: Sequence[Dict[str, Any]], train: sp.spmatrix,
                 item_features: Optional[ItemFeatures] = None) -> Iterator["ItemKNN"]:
        """The model of each grid point, fitted one at a time, the similarity computed
        once per shrinkage with the most neighbours asked for (models/baselines/tuning.py
        asks this of a baseline whose grid points can share work)."""
        binary = binarize(train)
        widest, widest_shrinkage = None, None
        for params in grid:
            model = cls(**params)
            if model.shrinkage != widest_shrinkage:
                most = max(cls(**other).neighbours for other in grid
                           if cls(**other).shrinkage == model.shrinkage)
                widest = top_k_similarity(binary, model.shrinkage, most)
                widest_shrinkage = model.shrinkage
            model.train = binary
            model.similarity = first_k_per_column(widest, model.neighbours)
            yield model

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return (self.train[np.asarray(user_indices)] @ self.similarity).toarray()
