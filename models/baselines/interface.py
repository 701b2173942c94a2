"""What every baseline implements, and the input conversion they share."""
import abc
from typing import Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp

ItemFeatures = Union[np.ndarray, sp.spmatrix]


class Baseline(abc.ABC):
    """Scores the full catalogue for users of the interaction matrix it was fitted on.

    `fit` takes a users × items matrix whose non-zero entries are interactions
    (1s or ratings: every stored value counts as a positive) and, for content
    baselines, an items × features matrix. `score` returns dense scores, one row
    per requested user; higher is better. Callers ask for a batch of users at a
    time (the evaluator and the tuning: 1024 by default), so a fitted baseline
    must not need a dense users × items or, above its stated size, items × items
    array. Masking each user's training items is the caller's job.
    """

    @abc.abstractmethod
    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "Baseline":
        """Learns from `train`; returns self."""

    @abc.abstractmethod
    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        """Scores [len(user_indices), num_items] for rows of the fitted matrix."""


def binarize(train: sp.spmatrix) -> sp.csr_matrix:
    """Every stored non-zero (a rating, a repeated interaction) becomes a float 1."""
    matrix = sp.csr_matrix(train, dtype=np.float64, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.data[:] = 1.0
    return matrix
