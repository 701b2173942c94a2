"""BPR: matrix factorisation for pairwise ranking (Rendle et al. 2009) from `implicit`."""
from typing import Optional, Sequence

import implicit.bpr
import numpy as np
import scipy.sparse as sp

from models.baselines.implicit_factors import dot_scores, fit_factors
from models.baselines.interface import Baseline, ItemFeatures, binarize


class BPR(Baseline):
    """Defaults tuned lightly on a validation carve of ML-100K (benchmarks/baselines_ml100k.py).

    SGD runs on one thread: with more, `implicit` updates the factors
    concurrently and the result stops being a function of the seed.
    """

    def __init__(self, factors: int = 64, learning_rate: float = 0.01,
                 regularization: float = 0.01, iterations: int = 100, seed: int = 0):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "BPR":
        self.user_factors, self.item_factors = fit_factors(
            lambda: implicit.bpr.BayesianPersonalizedRanking(
                factors=self.factors, learning_rate=self.learning_rate,
                regularization=self.regularization, iterations=self.iterations,
                random_state=self.seed, num_threads=1, use_gpu=False),
            binarize(train))
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return dot_scores(self.user_factors, self.item_factors, user_indices)
