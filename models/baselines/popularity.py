"""Popularity: every user gets the items ranked by their training interaction count."""
from typing import Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models.baselines.interface import Baseline, ItemFeatures, binarize


class Popularity(Baseline):

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "Popularity":
        self.item_counts = np.asarray(binarize(train).sum(axis=0)).ravel()
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return np.tile(self.item_counts, (len(user_indices), 1))
