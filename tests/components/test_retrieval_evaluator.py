import numpy as np
import pytest
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
        query_inputs={}, eval_items=[{1}], train_item_counts=np.array([1, 0, 0]),
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
        query_inputs={"user": np.arange(num_users)},
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


def random_evaluation(num_users: int = 23, num_items: int = 30, seed: int = 0):
    """Random train/eval items for `num_users` evaluated users (plus training-only
    users and one evaluated user without training), tags, and random model scores."""
    from components.retrieval_evaluator import data as data_lib

    rng = np.random.default_rng(seed)
    train_items = [set(rng.choice(num_items, size=rng.integers(3, 10), replace=False).tolist())
                   for _ in range(num_users)]
    train_items[-1] = set()
    eval_items = [set(rng.choice(sorted(set(range(num_items)) - train), size=2,
                                 replace=False).tolist()) for train in train_items]
    extra_users = [set(rng.choice(num_items, size=6, replace=False).tolist()) for _ in range(15)]
    rows = [sorted(items) for items in train_items[:-1] + extra_users]
    train_matrix = sp.csr_matrix(
        (np.ones(sum(map(len, rows))), np.concatenate(rows),
         np.cumsum([0] + [len(r) for r in rows])), shape=(len(rows), num_items))
    evaluation = data_lib.EvaluationData(
        item_ids=np.array([f"i{i}".encode() for i in range(num_items)]),
        candidate_inputs={"item": np.arange(num_items)},
        user_ids=np.array([f"u{u}".encode() for u in range(num_users)]),
        query_inputs={"user": np.arange(num_users)},
        eval_items=eval_items, train_item_counts=np.asarray(train_matrix.sum(axis=0)).ravel(),
        train_matrix=train_matrix,
        train_rows=np.array(list(range(num_users - 1)) + [-1]),
        item_tags=sp.csr_matrix(rng.random((num_items, 4)) < 0.4, dtype=np.float64))
    return evaluation, OracleModel(rng.random((num_users, num_items)))


def flat(results, prefix=""):
    """Nested metric dicts as {"model/slices/.../ndcg@10": value}."""
    if not isinstance(results, dict):
        return {prefix: results}
    return {key: value for name, nested in results.items()
            for key, value in flat(nested, f"{prefix}/{name}").items()}


def test_scoring_in_batches_gives_the_metrics_of_one_batch():
    evaluation, model = random_evaluation()
    baselines = ["popularity", "random", "itemknn", "ease", "als", "tags_linear"]
    cold = [b"i3", b"i17", b"i25"]
    whole, whole_ranking = executor.evaluate(model, evaluation, [5, 10], baselines, cold,
                                             batch_size=1024)
    assert set(whole) == {"model", *baselines} and whole["model"]["cold"] is not None
    for batch_size in (1, 7):
        batched, ranking = executor.evaluate(model, evaluation, [5, 10], baselines, cold,
                                             batch_size=batch_size)
        np.testing.assert_array_equal(ranking, whole_ranking)
        assert flat(batched) == pytest.approx(flat(whole), rel=1e-12, abs=1e-12)


def report_of(evaluation, model, **overrides):
    settings = {"cutoffs": [5, 10], "metric": "ndcg@10", "baseline": "popularity",
                "report_baselines": ["itemknn", "ease"], "min_relative_improvement": 0.0,
                "batch_users": 4, "max_users": 0, "sample_seed": 0, "ease_max_items": 0}
    return executor.build_report(model, evaluation, [], **{**settings, **overrides})


def test_users_above_max_users_are_a_seeded_sample_and_the_report_says_so():
    from pipeline import run_summary

    evaluation, model = random_evaluation(num_users=23)
    report, sampled, ranking = report_of(evaluation, model, max_users=10, sample_seed=5)
    assert report["num_users"] == 10 == len(sampled.user_ids) == len(ranking)
    assert report["user_sample"] == {"users": 10, "of": 23, "seed": 5}
    assert "a seeded sample of 10 of the 23 users (seed 5)" in run_summary.format_heading(report)
    assert set(sampled.user_ids) < set(evaluation.user_ids)
    # Each sampled user keeps their own data, and the model ranks them as unsampled.
    _, _, all_ranking = report_of(evaluation, model)
    rows = [list(evaluation.user_ids).index(user) for user in sampled.user_ids]
    np.testing.assert_array_equal(ranking, all_ranking[rows])
    assert [evaluation.eval_items[row] for row in rows] == sampled.eval_items
    again = report_of(evaluation, model, max_users=10, sample_seed=5)[1]
    other = report_of(evaluation, model, max_users=10, sample_seed=6)[1]
    np.testing.assert_array_equal(again.user_ids, sampled.user_ids)
    assert list(other.user_ids) != list(sampled.user_ids)
    report, sampled, _ = report_of(evaluation, model, max_users=23)
    assert report["user_sample"] is None and report["num_users"] == 23
    assert "on 23 users," in run_summary.format_heading(report)


def test_ease_above_ease_max_items_is_skipped_with_the_reason_and_the_blessing_says_so():
    from pipeline import run_summary

    evaluation, model = random_evaluation(num_items=30)
    report, _, _ = report_of(evaluation, model, baseline="ease",
                             report_baselines=["popularity", "itemknn"], ease_max_items=29)
    assert "ease" not in report["metrics"]
    reason = report["skipped_baselines"]["ease"]
    assert reason.startswith("skipped: 30 items > evaluation.ease_max_items 29")
    assert f"ease: {reason}" in run_summary.format_metrics(report, names=("ndcg@10",)).splitlines()
    strongest = max(["popularity", "itemknn"], key=lambda n: report["metrics"][n]["ndcg@10"])
    blessing = report["blessing"]
    assert blessing["baseline"] == strongest
    assert blessing["threshold"] == report["metrics"][strongest]["ndcg@10"]
    assert "ease was skipped" in blessing["note"] and strongest in blessing["note"]
    # At the limit EASE runs and is the blessing's baseline.
    report, _, _ = report_of(evaluation, model, baseline="ease", ease_max_items=30)
    assert "ease" in report["metrics"] and report["skipped_baselines"] == {}
    assert report["blessing"]["baseline"] == "ease" and "note" not in report["blessing"]
