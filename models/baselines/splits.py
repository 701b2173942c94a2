"""Per-user random hold-out of interactions, for test splits and validation carves."""
from typing import Tuple

import numpy as np
import scipy.sparse as sp


def holdout_per_user(interactions: sp.spmatrix, fraction: float, seed: int
                     ) -> Tuple[sp.csr_matrix, sp.csr_matrix]:
    """(kept, held): each user's seeded random `fraction` of interactions goes to held.

    A user holds out round(fraction × n) of their n interactions, but always
    keeps at least one.
    """
    matrix = sp.csr_matrix(interactions, copy=True)
    matrix.sum_duplicates()  # Also sorts each row, so the draw depends only on the content.
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((np.random.default_rng(seed).random(matrix.nnz), rows))
    rank_in_row = np.empty(matrix.nnz, dtype=np.int64)
    rank_in_row[order] = np.arange(matrix.nnz) - matrix.indptr[rows[order]]
    num_held = np.minimum(np.floor(fraction * counts + 0.5), np.maximum(counts - 1, 0))
    is_held = rank_in_row < num_held[rows]
    return _subset(matrix, rows, ~is_held), _subset(matrix, rows, is_held)


def _subset(matrix: sp.csr_matrix, rows: np.ndarray, keep: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])),
                         shape=matrix.shape)
