import numpy as np

from components.retrieval_evaluator import executor


def test_training_items_are_never_recommended():
    scores = np.array([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
    ranked = executor.rank_excluding_train(scores, [{0, 1}, {3}], k=2)
    np.testing.assert_array_equal(ranked, [[3, 2], [2, 1]])


def test_blessing_needs_the_margin_over_the_baseline():
    baseline = {"ndcg@10": 0.10}
    assert executor.decide_blessing({"ndcg@10": 0.12}, baseline, "ndcg@10", 0.1)["blessed"]
    assert not executor.decide_blessing({"ndcg@10": 0.105}, baseline, "ndcg@10", 0.1)["blessed"]
    assert not executor.decide_blessing({"ndcg@10": 0.0}, {"ndcg@10": 0.0}, "ndcg@10", 0.0)["blessed"]
