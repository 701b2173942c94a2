import numpy as np

from components.retrieval_evaluator import executor


def test_blessing_needs_the_margin_over_the_baseline():
    baseline = {"ndcg@10": 0.10}
    assert executor.decide_blessing({"ndcg@10": 0.12}, baseline, "ndcg@10", 0.1)["blessed"]
    assert not executor.decide_blessing({"ndcg@10": 0.105}, baseline, "ndcg@10", 0.1)["blessed"]
    assert not executor.decide_blessing({"ndcg@10": 0.0}, {"ndcg@10": 0.0}, "ndcg@10", 0.0)["blessed"]


def test_cold_items_that_all_score_alike_cannot_be_ranked():
    from components.retrieval_evaluator import data as data_lib

    evaluation = data_lib.EvaluationData(
        item_ids=np.array([b"a", b"b", b"c"]), candidate_inputs={}, user_ids=np.array([b"u"]),
        query_inputs={}, train_items=[{0}], eval_items=[{1}], train_item_counts=np.array([1, 0, 0]),
        train_matrix=None, train_rows=np.array([0]), item_tags=None)
    tied = np.array([[0.9, 0.2 + 1e-9, 0.2]])
    assert executor.cold_item_metrics(tied, evaluation, np.array([1, 2])) is None
    ranked = executor.cold_item_metrics(np.array([[0.9, 0.5, 0.2]]), evaluation, np.array([1, 2]))
    assert ranked["cold_recall@20"] == 1.0 and ranked["cold_users"] == 1
