"""EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): a closed-form item-item model.

Its weights are a dense items x items matrix, the inverse of the regularised
Gram matrix: n² x 8 bytes and O(n³) time, so the evaluator skips EASE above
`evaluation.ease_max_items` (pipeline/config.py).
"""
from typing import Any, Dict, Iterator, Optional, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from models.baselines.interface import Baseline, ItemFeatures, binarize

# λ values searched on the validation carve, log-spaced.
L2_GRID = tuple(float(v) for v in np.round(np.geomspace(50.0, 2000.0, 7)))
_MIRROR_BLOCK = 1024


def ease_weights(train: sp.spmatrix, l2: float) -> np.ndarray:
    """B = I - P / diag(P) with P = (XᵀX + λI)⁻¹: B_ij = -P_ij / P_jj, zero diagonal."""
    return weights_from_gram(gram_matrix(train), l2)


def gram_matrix(train: sp.spmatrix) -> np.ndarray:
    return (train.T @ train).toarray()


def weights_from_gram(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE's weights from the Gram matrix XᵀX, which they are written over."""
    gram[np.diag_indices_from(gram)] += l2
    weights = positive_definite_inverse(gram)
    weights /= -np.diag(weights).copy()
    np.fill_diagonal(weights, 0.0)
    return weights


def positive_definite_inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite C-ordered matrix, written over it.

    Cholesky takes half the flops of a general inverse, and working in place
    keeps one n x n array instead of three.
    """
    # A symmetric C-ordered array is its own transpose, which LAPACK reads in
    # place (Fortran order); its upper triangle there is our lower triangle.
    factor, info = lapack.dpotrf(matrix.T, lower=False, clean=False, overwrite_a=True)
    if info == 0:
        factor, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"the matrix is not positive definite (LAPACK info {info})")
    inverse = factor.T
    size = len(inverse)
    for start in range(0, size, _MIRROR_BLOCK):  # lower triangle -> upper, a block at a time
        stop = min(start + _MIRROR_BLOCK, size)
        inverse[start:stop, stop:] = inverse[stop:, start:stop].T
        tile = inverse[start:stop, start:stop]
        upper = np.triu_indices(stop - start, 1)
        tile[upper] = tile.T[upper]
    return inverse


class EASE(Baseline):

    def __init__(self, l2: float = 500.0):
        self.l2 = l2

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "EASE":
        self.train = binarize(train)
        self.weights = ease_weights(self.train, self.l2)
        return self

    @classmethod
    def fit_grid(cls, grid: Sequence[Dict[str, Any]], train: sp.spmatrix,
                 item_features: Optional[ItemFeatures] = None) -> Iterator["EASE"]:
        """The model of each grid point, fitted one at a time on one Gram matrix
        (models/baselines/tuning.py asks this of a baseline whose grid points can
        share work)."""
        binary = binarize(train)
        gram = gram_matrix(binary)
        for params in grid:
            model = cls(**params)
            model.train = binary
            model.weights = weights_from_gram(gram.copy(), model.l2)
            yield model

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return np.asarray(self.train[np.asarray(user_indices)] @ self.weights)
