"""ItemKNN: shrunk cosine item-item similarity, each item keeping its k nearest neighbours."""
from typing import Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models.baselines.interface import Baseline, ItemFeatures, binarize

NEIGHBOURS_GRID = (50, 100, 200, 400)


def cosine_similarity(train: sp.spmatrix, shrinkage: float) -> np.ndarray:
    """sim(i, j) = x_i·x_j / (‖x_i‖‖x_j‖ + shrinkage) over item columns; zero diagonal.

    Shrinkage pulls similarities of items with few co-occurrences towards zero.
    """
    co_counts = (train.T @ train).toarray()
    norms = np.sqrt(np.diag(co_counts))
    similarity = co_counts / (np.outer(norms, norms) + shrinkage + 1e-12)
    np.fill_diagonal(similarity, 0.0)
    return similarity


def keep_top_k_per_column(similarity: np.ndarray, k: int) -> np.ndarray:
    """Zeroes all but the k largest entries of each column (ties broken by row index)."""
    if k >= similarity.shape[0]:
        return similarity
    order = np.argsort(-similarity, axis=0, kind="stable")
    pruned = np.zeros_like(similarity)
    rows = order[:k]
    columns = np.arange(similarity.shape[1])
    pruned[rows, columns] = similarity[rows, columns]
    return pruned


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
        return np.asarray(self.train[np.asarray(user_indices)] @ self.similarity)
