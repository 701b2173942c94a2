"""Fitting a model of the `implicit` library on the CPU, single-threaded BLAS."""
from typing import Callable, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import threadpoolctl


def fit_factors(make_model: Callable[[], object], train: sp.csr_matrix
                ) -> Tuple[np.ndarray, np.ndarray]:
    """(user_factors, item_factors) of the model `make_model()` fitted on `train`.

    `implicit` runs its own threads and warns (and slows down) when BLAS runs
    more, so BLAS is limited to one thread while the model is built and fitted.
    """
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = make_model()
        model.fit(train.astype(np.float32), show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


def dot_scores(user_factors: np.ndarray, item_factors: np.ndarray,
               user_indices: Sequence[int]) -> np.ndarray:
    return (user_factors[np.asarray(user_indices)] @ item_factors.T).astype(np.float64)
