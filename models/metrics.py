"""Top-k ranking metrics over a full-catalogue ranking (numpy only).

The retrieval evaluator scores the model and the baselines with these; the
baselines' own tuning (models/baselines) ranks with the same functions.
"""
from typing import Dict, Iterator, Sequence, Set

import numpy as np
import scipy.sparse as sp


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores of each row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def top_k_unseen(scores: np.ndarray, seen: sp.spmatrix, k: int) -> np.ndarray:
    """Indices of the k highest scores of each row, best first, never an item the
    row's user has seen (a non-zero of `seen`, users x items like `scores`)."""
    scores = scores.astype(np.float64, copy=True)
    scores[sp.csr_matrix(seen).nonzero()] = -np.inf
    return top_k_indices(scores, k)


# Scores held at once while ranking a batch of users (2^24 float64s, 134 MB; the
# copies and indices top_k_unseen makes are as large): at 59,047 items, batches of
# 1,024 users took the evaluator to 15 GB.
SCORE_CELLS = 1 << 24


def users_per_batch(batch_users: int, num_items: int) -> int:
    """`batch_users`, or fewer on a catalogue so large that a batch x catalogue block
    would hold more than SCORE_CELLS scores."""
    if batch_users < 1:
        raise ValueError(f"batch_users must be at least 1, got {batch_users}")
    return max(1, min(batch_users, SCORE_CELLS // max(num_items, 1)))


def user_batches(num_users: int, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive row indices, `batch_size` at a time: callers score one batch x
    catalogue block at once, never all users x catalogue."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for start in range(0, num_users, batch_size):
        yield np.arange(start, min(start + batch_size, num_users))


def item_sets_matrix(item_sets: Sequence[Set[int]], num_items: int) -> sp.csr_matrix:
    """Per-user item index sets as a users x items 0/1 matrix."""
    rows = np.repeat(np.arange(len(item_sets)), [len(items) for items in item_sets])
    columns = np.fromiter((i for items in item_sets for i in items), np.int64, len(rows))
    return sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(item_sets), num_items))


def ranking_metrics(recommended: np.ndarray, relevant: Sequence[Set[int]],
                    cutoffs: Sequence[int], num_items: int) -> Dict[str, float]:
    """Means over users of P@k, Recall@k, NDCG@k, HitRate@k, MAP@k, MRR and coverage@k.

    `recommended[u]` lists user u's item indices best first (at least
    max(cutoffs) of them); `relevant[u]` holds u's held-out positives.
    """
    max_k = max(cutoffs)
    hits = np.array([[item in rel for item in row[:max_k]]
                     for row, rel in zip(recommended, relevant)], dtype=np.float64)
    # Catalogues smaller than k: the missing ranks are misses.
    hits = np.pad(hits, ((0, 0), (0, max_k - hits.shape[1])))
    num_relevant = np.array([len(rel) for rel in relevant], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, max_k + 2))
    metrics: Dict[str, float] = {}
    for k in cutoffs:
        hits_k = hits[:, :k]
        num_hits = hits_k.sum(axis=1)
        ideal = np.array([discounts[:int(min(n, k))].sum() for n in num_relevant])
        precision_at_i = np.cumsum(hits_k, axis=1) / np.arange(1, k + 1)
        metrics[f"precision@{k}"] = float(np.mean(num_hits / k))
        metrics[f"recall@{k}"] = float(np.mean(num_hits / num_relevant))
        metrics[f"ndcg@{k}"] = float(np.mean((hits_k * discounts[:k]).sum(axis=1) / ideal))
        metrics[f"hitrate@{k}"] = float(np.mean(num_hits > 0))
        metrics[f"map@{k}"] = float(np.mean(
            (precision_at_i * hits_k).sum(axis=1) / np.minimum(num_relevant, k)))
        metrics[f"coverage@{k}"] = float(len(np.unique(recommended[:, :k])) / num_items)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    metrics["mrr"] = float(np.mean(1.0 / first_hit))
    return metrics


def popularity_percentile(recommended: np.ndarray, item_counts: np.ndarray, k: int) -> float:
    """Mean popularity percentile (0 = rarest, 1 = most popular) of the top-k items."""
    order = np.argsort(np.argsort(item_counts, kind="stable"), kind="stable")
    percentiles = order / max(len(item_counts) - 1, 1)
    return float(percentiles[recommended[:, :k]].mean())


def user_activity_slices(train_counts: np.ndarray, num_slices: int = 3) -> Dict[str, np.ndarray]:
    """Users grouped by their number of training interactions, in quantile bands."""
    edges = np.unique(np.quantile(train_counts, np.linspace(0, 1, num_slices + 1)))
    slices = {}
    for low, high in zip(edges[:-1], edges[1:]):
        last = high == edges[-1]
        members = (train_counts >= low) & ((train_counts <= high) if last else (train_counts < high))
        label = f"{int(low)}-{int(high) if last else int(np.ceil(high)) - 1} train items"
        slices[label] = np.flatnonzero(members)
    return slices


def item_popularity_slices(item_counts: np.ndarray, head_share: float = 0.2) -> Dict[str, Set[int]]:
    """The most popular `head_share` of items (by training interactions), and the rest."""
    ranked = np.argsort(-item_counts, kind="stable")
    head = int(round(head_share * len(item_counts)))
    return {f"head (top {head_share:.0%})": set(ranked[:head].tolist()),
            "tail": set(ranked[head:].tolist())}
