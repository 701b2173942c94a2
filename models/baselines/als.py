"""ALS: implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008) from `implicit`."""
import os
from typing import Any, Dict, List, Optional, Sequence

import implicit.als
import numpy as np
import scipy.sparse as sp

from models.baselines.implicit_factors import dot_scores, fit_factors
from models.baselines.interface import Baseline, ItemFeatures, binarize

# The factory's ALS picks its regularisation from this grid on a validation carve:
# accuracy falls steeply on both sides of an optimum that depends on the dataset.
REGULARIZATION_GRID = (5.0, 8.0, 12.0, 18.0, 27.0)
# Searched by benchmarks/baselines_ml100k.py --tune; the defaults below won on ML-100K.
TUNING_GRID: List[Dict[str, Any]] = [
    {"factors": factors, "regularization": regularization}
    for factors in (32, 64, 128) for regularization in REGULARIZATION_GRID]


# Below this many interactions ALS fits on one thread: on ML-100K and smaller,
# OpenMP start-up costs more than it saves. On the ml-1m shape's grid-search carve
# (640K interactions) two threads fit in 3.2-3.4 s instead of 5.5-5.7 (64 factors).
PARALLEL_MIN_INTERACTIONS = 500_000


class ALS(Baseline):
    """`num_threads`: 0 for one per usable core above PARALLEL_MIN_INTERACTIONS and one
    below. Each thread solves its own users' (items') factors against fixed factors of
    the other side, so the result does not depend on the number of threads."""

    def __init__(self, factors: int = 32, regularization: float = 12.0, alpha: float = 1.0,
                 iterations: int = 20, seed: int = 0, num_threads: int = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.num_threads = num_threads

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "ALS":
        threads = self.num_threads or (len(os.sched_getaffinity(0))
                                       if train.nnz >= PARALLEL_MIN_INTERACTIONS else 1)
        self.user_factors, self.item_factors = fit_factors(
            lambda: implicit.als.AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.seed, num_threads=threads,
                use_gpu=False),
            binarize(train))
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return dot_scores(self.user_factors, self.item_factors, user_indices)
