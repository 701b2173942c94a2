"""ItemKNN: shrunk cosine item-item similarity, each item keeping its k nearest neighbours.

The similarity stays sparse: only items that share a user have one, and each
column keeps at most k, so memory grows with the co-occurrences, not items².
"""
from typing import Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models.baselines.interface import Baseline, ItemFeatures, binarize

NEIGHBOURS_GRID = (50, 100, 200, 400)


def cosine_similarity(train: sp.spmatrix, shrinkage: float) -> sp.csr_matrix:
    """sim(i, j) = x_i·x_j / (‖x_i‖‖x_j‖ + shrinkage) over item columns; zero diagonal.

    Shrinkage pulls similarities of items with few co-occurrences towards zero.
    """
    co_counts = sp.coo_matrix(train.T @ train)
    norms = np.sqrt(co_counts.diagonal())
    off_diagonal = co_counts.row != co_counts.col
    rows, columns = co_counts.row[off_diagonal], co_counts.col[off_diagonal]
    values = co_counts.data[off_diagonal] / (norms[rows] * norms[columns] + shrinkage + 1e-12)
    return sp.csr_matrix((values, (rows, columns)), shape=co_counts.shape)


def keep_top_k_per_column(similarity: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Keeps the k largest entries of each column (ties broken by row index), drops the rest."""
    entries = sp.coo_matrix(similarity)
    order = np.lexsort((entries.row, -entries.data, entries.col))
    sorted_columns = entries.col[order]
    rank_in_column = np.arange(len(order)) - np.searchsorted(sorted_columns, sorted_columns)
    kept = order[rank_in_column < k]
    return sp.csr_matrix((entries.data[kept], (entries.row[kept], entries.col[kept])),
                         shape=entries.shape)


class ItemKNN(Baseline):
    """score(u, j) = Σ over u's items i among j's k neighbours of sim(i, j)."""

    def __init__(self, neighbours: int = 200, shrinkage: float = 10.0):
        self.neighbours = neighbours
        self.shrinkage = shrinkage

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "ItemKNN":
        self.train = binarize(train)
        self.similarity = keep_top_k_per_column(
            cosine_similarity(self.train, self.shrinkage), self.neighbours)
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return (self.train[np.asarray(user_indices)] @ self.similarity).toarray()
