"""Hyperparameter choice by grid search on a validation carve of the training matrix."""
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models.baselines.evaluation import USER_BATCH, evaluate
from models.baselines.interface import Baseline, ItemFeatures
from models.baselines.splits import holdout_per_user

Params = Dict[str, Any]


class GridSearch(Baseline):
    """Fits `make(**params)` for each grid point on train minus a per-user random
    validation carve, keeps the params with the best validation NDCG@cutoff, then
    refits them on all of train. Ties go to the earlier grid point. Validation
    users are scored `batch_size` at a time, and above `validation_max_users`
    (0: no limit) a seeded sample of that many is: at ML-10M's 69,878 users,
    scoring all of them took most of the time of each grid point.
    """

    def __init__(self, make: Callable[..., Baseline], grid: Sequence[Params], seed: int = 0,
                 validation_fraction: float = 0.2, cutoff: int = 10,
                 batch_size: int = USER_BATCH, validation_max_users: int = 0):
        self.make = make
        self.grid = list(grid)
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.cutoff = cutoff
        self.batch_size = batch_size
        self.validation_max_users = validation_max_users

    def fit(self, train: sp.spmatrix,
            item_features: Optional[ItemFeatures] = None) -> "GridSearch":
        fit_part, validation = holdout_per_user(train, self.validation_fraction, self.seed)
        metric = f"ndcg@{self.cutoff}"
        self.validation_ndcg: List[float] = [
            evaluate(model, fit_part, validation, [self.cutoff], batch_size=self.batch_size,
                     max_users=self.validation_max_users, seed=self.seed)[metric]
            for model in self._fitted_grid(fit_part, item_features)]
        self.best_params = self.grid[int(np.argmax(self.validation_ndcg))]
        self.model = self.make(**self.best_params).fit(train, item_features)
        return self

    def _fitted_grid(self, train: sp.spmatrix,
                     item_features: Optional[ItemFeatures]) -> Iterator[Baseline]:
        """The model of each grid point, one at a time: from `make.fit_grid` when the
        baseline shares work between grid points (ItemKNN), else fitted one by one."""
        fit_grid = getattr(self.make, "fit_grid", None)
        if fit_grid is not None:
            return fit_grid(self.grid, train, item_features)
        return (self.make(**params).fit(train, item_features) for params in self.grid)

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return self.model.score(user_indices)
