"""Random: independent uniform scores, the floor any baseline must clear."""
from typing import Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models.baselines.interface import Baseline, ItemFeatures


class RandomBaseline(Baseline):

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train: sp.spmatrix,
            item_features: Optional[ItemFeatures] = None) -> "RandomBaseline":
        self.num_items = train.shape[1]
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        # One generator per call keeps a user's scores independent of how users are batched.
        rows = [np.random.default_rng([self.seed, int(user)]).random(self.num_items)
                for user in user_indices]
        return np.array(rows, dtype=np.float64).reshape(len(rows), self.num_items)
