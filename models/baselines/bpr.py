"""BPR: matrix factorisation for pairwise ranking (Rendle et al. 2009) from `implicit`."""
from typing import Any, Dict, List, Optional, Sequence

import implicit.bpr
import numpy as np
import scipy.sparse as sp

from models.baselines.implicit_factors import dot_scores, fit_factors
from models.baselines.interface import Baseline, ItemFeatures, binarize

# Searched by benchmarks/baselines_ml100k.py --tune (the first point is the library's own
# sampling). On ML-100K the defaults below tie with the last point, whose validation
# NDCG had already peaked at 150 epochs while theirs was still rising at 250.
TUNING_GRID: List[Dict[str, Any]] = [
    {"uniform_negative_share": 0.0, "learning_rate": 0.01, "regularization": 0.01,
     "iterations": 100},
    {"learning_rate": 0.03, "regularization": 0.01},
    {"learning_rate": 0.03, "regularization": 0.03},
    {"learning_rate": 0.03, "regularization": 0.1},
    {"learning_rate": 0.05, "regularization": 0.03, "iterations": 150},
]


def pad_with_catalogue_users(train: sp.csr_matrix, uniform_negative_share: float
                             ) -> sp.csr_matrix:
    """Appends rows that interacted with every item, so that a share of negatives is uniform.

    `implicit` draws a negative item as the item of a random stored interaction,
    i.e. in proportion to popularity, which pushes popular items down and costs
    accuracy. Rows holding the whole catalogue make that draw uniform with
    probability `uniform_negative_share`; their own samples never update
    anything, because every negative drawn for them is an item they hold.
    """
    if uniform_negative_share <= 0:
        return train
    num_items = train.shape[1]
    rows = int(round(uniform_negative_share / (1 - uniform_negative_share)
                     * train.nnz / num_items))
    return sp.vstack([train, sp.csr_matrix(np.ones((rows, num_items)))], format="csr")


class BPR(Baseline):
    """SGD runs on one thread: with more, `implicit` updates the factors
    concurrently and the result stops being a function of the seed.
    """

    def __init__(self, factors: int = 64, learning_rate: float = 0.03,
                 regularization: float = 0.03, iterations: int = 250,
                 uniform_negative_share: float = 0.9, seed: int = 0):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.uniform_negative_share = uniform_negative_share
        self.seed = seed

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "BPR":
        train = binarize(train)
        user_factors, self.item_factors = fit_factors(
            lambda: implicit.bpr.BayesianPersonalizedRanking(
                factors=self.factors, learning_rate=self.learning_rate,
                regularization=self.regularization, iterations=self.iterations,
                verify_negative_samples=True, random_state=self.seed, num_threads=1,
                use_gpu=False),
            pad_with_catalogue_users(train, self.uniform_negative_share))
        self.user_factors = user_factors[:train.shape[0]]
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return dot_scores(self.user_factors, self.item_factors, user_indices)
