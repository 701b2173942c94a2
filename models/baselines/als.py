"""ALS: implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008) from `implicit`."""
from typing import Optional, Sequence

import implicit.als
import numpy as np
import scipy.sparse as sp

from models.baselines.implicit_factors import dot_scores, fit_factors
from models.baselines.interface import Baseline, ItemFeatures, binarize


class ALS(Baseline):
    """Defaults tuned lightly on a validation carve of ML-100K (benchmarks/baselines_ml100k.py)."""

    def __init__(self, factors: int = 64, regularization: float = 1.0, alpha: float = 1.0,
                 iterations: int = 15, seed: int = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "ALS":
        self.user_factors, self.item_factors = fit_factors(
            lambda: implicit.als.AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.seed, use_gpu=False),
            binarize(train))
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return dot_scores(self.user_factors, self.item_factors, user_indices)
