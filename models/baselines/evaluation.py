"""Ranking metrics of a fitted baseline on held-out interactions, training items excluded."""
from typing import Dict, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from models import metrics as metrics_lib
from models.baselines.interface import Baseline

USER_BATCH = 1024


def evaluate(baseline: Baseline, train: sp.spmatrix, test: sp.spmatrix,
             cutoffs: Sequence[int], items: Optional[np.ndarray] = None,
             batch_size: int = USER_BATCH, max_users: int = 0, seed: int = 0
             ) -> Dict[str, float]:
    """metrics.ranking_metrics over the users with test interactions among `items`
    (a seeded sample of `max_users` of them when there are more; 0: all).

    `items` (default: the whole catalogue) are the candidates ranked; a user's
    training items are never recommended. Users are scored `batch_size` at a
    time (fewer on a large catalogue: metrics.users_per_batch), so memory holds
    one batch x catalogue block of scores.
    """
    num_items = train.shape[1]
    ranked_items = np.arange(num_items) if items is None else np.asarray(items)
    train = sp.csr_matrix(train)[:, ranked_items]
    test = sp.csr_matrix(test)[:, ranked_items]
    train.eliminate_zeros()
    test.eliminate_zeros()
    users = np.flatnonzero(np.diff(test.indptr))
    if not len(users):
        raise ValueError("no user has a test interaction with the ranked items")
    if 0 < max_users < len(users):
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))

    def scores(rows: np.ndarray) -> np.ndarray:
        catalogue_scores = baseline.score(users[rows])
        return catalogue_scores if items is None else catalogue_scores[:, ranked_items]

    ranked = np.concatenate([
        metrics_lib.top_k_unseen(scores(rows), train[users[rows]], max(cutoffs))
        for rows in metrics_lib.user_batches(
            len(users), metrics_lib.users_per_batch(batch_size, num_items))])
    relevant = [set(test.indices[test.indptr[u]:test.indptr[u + 1]]) for u in users]
    return metrics_lib.ranking_metrics(ranked, relevant, cutoffs, len(ranked_items))
