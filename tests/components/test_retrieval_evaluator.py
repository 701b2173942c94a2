import numpy as np
import scipy.sparse as sp
import tensorflow as tf

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
    def cold_metrics(scores):
        ranking = executor.ColdItemRanking(evaluation, np.array([1, 2]))
        ranking.add(np.array([0]), scores)
        return ranking.result()

    assert cold_metrics(np.array([[0.9, 0.2 + 1e-9, 0.2]])) is None
    ranked = cold_metrics(np.array([[0.9, 0.5, 0.2]]))
    assert ranked["cold_recall@20"] == 1.0 and ranked["cold_users"] == 1


class OracleModel:
    """Scores each user's eval items 1, their training items 2 (which must be
    excluded), everything else 0: the embeddings are rows of that matrix and the
    identity."""

    def __init__(self, scores: np.ndarray):
        table = tf.constant(scores, tf.float32)
        identity = tf.eye(scores.shape[1])
        self.signatures = {
            "query_embedding": lambda user: {"embedding": tf.gather(table, user)},
            "candidate_embedding": lambda item: {"embedding": tf.gather(identity, item)},
        }


def test_an_oracle_scores_ndcg_one_and_training_items_are_excluded_for_every_ranker():
    from components.retrieval_evaluator import data as data_lib

    num_users, num_items = 6, 12
    train_items = [{0, 1, 2, 3} for _ in range(num_users)]  # the most popular items
    eval_items = [{4, 5} for _ in range(num_users)]          # the next most popular
    rows = [sorted(items) for items in train_items] + [[0, 4, 5, 6]] * 3 + [[0, 4, 5]] * 7
    train_matrix = sp.csr_matrix(
        (np.ones(sum(map(len, rows))), np.concatenate(rows),
         np.cumsum([0] + [len(r) for r in rows])), shape=(len(rows), num_items))
    oracle = np.zeros((num_users, num_items))
    for user in range(num_users):
        oracle[user, sorted(eval_items[user])] = 1.0
        oracle[user, sorted(train_items[user])] = 2.0
    evaluation = data_lib.EvaluationData(
        item_ids=np.array([f"i{i}".encode() for i in range(num_items)]),
        candidate_inputs={"item": np.arange(num_items)},
        user_ids=np.array([f"u{u}".encode() for u in range(num_users)]),
        query_inputs={"user": np.arange(num_users)}, train_items=train_items,
        eval_items=eval_items, train_item_counts=np.asarray(train_matrix.sum(axis=0)).ravel(),
        train_matrix=train_matrix, train_rows=np.arange(num_users),
        item_tags=sp.csr_matrix((num_items, 1)))
    results, ranking = executor.evaluate(OracleModel(oracle), evaluation, [2, 5],
                                         ["popularity", "itemknn", "ease"])
    assert results["model"]["ndcg@2"] == 1.0 and results["model"]["recall@2"] == 1.0
    assert not any(set(row) & train for row, train in zip(ranking, train_items))
    # Popularity without the training items is the eval items first.
    assert results["popularity"]["ndcg@2"] == 1.0
    for name in ("itemknn", "ease"):
        assert results[name]["recall@5"] == 1.0
