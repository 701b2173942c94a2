"""EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): a closed-form item-item model."""
from typing import Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models.baselines.interface import Baseline, ItemFeatures, binarize

# λ values searched on the validation carve, log-spaced.
L2_GRID = tuple(float(v) for v in np.round(np.geomspace(50.0, 2000.0, 7)))


def ease_weights(train: sp.spmatrix, l2: float) -> np.ndarray:
    """B = I - P / diag(P) with P = (XᵀX + λI)⁻¹: B_ij = -P_ij / P_jj, zero diagonal."""
    gram = (train.T @ train).toarray()
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0.0)
    return weights


class EASE(Baseline):

    def __init__(self, l2: float = 500.0):
        self.l2 = l2

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "EASE":
        self.train = binarize(train)
        self.weights = ease_weights(self.train, self.l2)
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return np.asarray(self.train[np.asarray(user_indices)] @ self.weights)
