"""Top-k ranking metrics (models/metrics.py)."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from models import metrics


def test_top_k_indices_orders_best_first():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 2.0, 1.0, 0.0]])
    np.testing.assert_array_equal(metrics.top_k_indices(scores, 3), [[1, 3, 2], [0, 1, 2]])


def test_seen_items_are_never_ranked():
    scores = np.array([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
    seen = metrics.item_sets_matrix([{0, 1}, {3}], num_items=4)
    np.testing.assert_array_equal(metrics.top_k_unseen(scores, seen, k=2), [[3, 2], [2, 1]])
    # A ratings matrix marks seen items by its non-zeros, whatever the rating.
    ratings = sp.csr_matrix(np.array([[4.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]]))
    np.testing.assert_array_equal(metrics.top_k_unseen(scores, ratings, k=2), [[3, 2], [2, 1]])


def test_ranking_metrics_match_hand_computation():
    # User 0: relevant {2, 5}; ranking hits at positions 1 and 3.
    # User 1: relevant {9}; no hit in the top 3.
    recommended = np.array([[2, 7, 5], [1, 2, 3]])
    relevant = [{2, 5}, {9}]
    result = metrics.ranking_metrics(recommended, relevant, cutoffs=[3], num_items=10)

    dcg = 1.0 + 1.0 / math.log2(4)
    idcg = 1.0 + 1.0 / math.log2(3)
    assert math.isclose(result["precision@3"], (2 / 3 + 0) / 2)
    assert math.isclose(result["recall@3"], (1.0 + 0.0) / 2)
    assert math.isclose(result["ndcg@3"], (dcg / idcg) / 2)
    assert math.isclose(result["hitrate@3"], 0.5)
    assert math.isclose(result["map@3"], ((1.0 + 2 / 3) / 2) / 2)
    assert math.isclose(result["mrr"], 0.5)
    assert math.isclose(result["coverage@3"], 5 / 10)


def test_perfect_ranking_scores_one():
    recommended = np.array([[4, 1, 0]])
    result = metrics.ranking_metrics(recommended, [{4, 1}], cutoffs=[2], num_items=5)
    assert result["ndcg@2"] == 1.0 and result["recall@2"] == 1.0 and result["map@2"] == 1.0


def test_popularity_percentile_of_the_most_and_least_popular():
    counts = np.array([10, 0, 5, 1])
    assert metrics.popularity_percentile(np.array([[0]]), counts, 1) == 1.0
    assert metrics.popularity_percentile(np.array([[1]]), counts, 1) == 0.0


def test_user_activity_slices_cover_every_user_once():
    counts = np.array([1, 2, 3, 10, 20, 30, 100, 200, 300])
    slices = metrics.user_activity_slices(counts)
    members = np.concatenate(list(slices.values()))
    assert sorted(members) == list(range(9)) and len(slices) == 3


def test_item_popularity_slices_split_head_and_tail():
    counts = np.array([50, 1, 40, 2, 3, 4, 5, 6, 7, 8])
    slices = metrics.item_popularity_slices(counts, head_share=0.2)
    head, tail = slices.values()
    assert head == {0, 2} and len(tail) == 8


def test_a_large_catalogue_scores_fewer_users_at_a_time():
    assert metrics.users_per_batch(1024, 2_000) == 1024
    assert metrics.users_per_batch(1024, 59_047) == metrics.SCORE_CELLS // 59_047 == 284
    assert metrics.users_per_batch(1024, 2 * metrics.SCORE_CELLS) == 1
    with pytest.raises(ValueError, match="batch_users"):
        metrics.users_per_batch(0, 100)
