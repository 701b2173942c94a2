"""Executor of RetrievalEvaluator: full-catalogue metrics, baselines, blessing."""
import json
import logging
import os
from typing import Any, Callable, Dict, List, Optional, Set

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_text  # noqa: F401  models that read text tokenise in-graph
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils

from components.retrieval_evaluator import data as data_lib
from models import baselines as baselines_lib
from models import metrics as metrics_lib
from models import split_info
from models.retrieval import index as index_lib

EVALUATION_FILE = "evaluation.json"
RECOMMENDATIONS_FILE = "recommendations.csv"
_BATCH = 1024  # rows per call of an embedding signature; users per scored batch by default


def signature_input_specs(signature) -> Dict[str, tf.TensorSpec]:
    return dict(signature.structured_input_signature[1])


def embed(signature, inputs: Dict[str, np.ndarray]) -> np.ndarray:
    """Calls an embedding signature in batches."""
    size = len(next(iter(inputs.values())))
    parts = []
    for start in range(0, size, _BATCH):
        batch = {name: tf.constant(value[start:start + _BATCH]) for name, value in inputs.items()}
        parts.append(signature(**batch)["embedding"].numpy())
    return np.concatenate(parts)


Scorer = Callable[[np.ndarray], np.ndarray]


def model_scorer(model, evaluation: data_lib.EvaluationData) -> Scorer:
    """Catalogue scores for rows of the evaluated users: the candidates are
    embedded once, each batch of users' queries when it is scored."""
    candidates = embed(model.signatures["candidate_embedding"], evaluation.candidate_inputs)
    query_signature = model.signatures["query_embedding"]

    def score(rows: np.ndarray) -> np.ndarray:
        queries = embed(query_signature, evaluation.queries(rows))
        return queries @ candidates.T
    return score


def baseline_scorer(name: str, evaluation: data_lib.EvaluationData, batch_size: int,
                    seed: int = 0, tuning_max_users: int = 0) -> Scorer:
    """Catalogue scores for rows of the evaluated users from a baseline fitted on
    the same training split (a tuned one scores its validation carve on at most
    `tuning_max_users` users; 0: all); users without training interactions score 0."""
    baseline = baselines_lib.make_baseline(name, seed, batch_size, tuning_max_users).fit(
        evaluation.train_matrix, evaluation.item_tags)

    def score(rows: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(rows), len(evaluation.item_ids)))
        train_rows = evaluation.train_rows[rows]
        has_train = train_rows >= 0
        if has_train.any():
            scores[has_train] = baseline.score(train_rows[has_train])
        return scores
    return score


class ColdItemRanking:
    """Recall@k and NDCG@k ranking only the held-out (cold) items, for users who
    chose some, gathered one batch of scores at a time.

    The result is None when the scores cannot tell the cold items apart (e.g.
    id-only models, for which every unseen item is the same out-of-vocabulary id).
    """

    def __init__(self, evaluation: data_lib.EvaluationData, cold_items: np.ndarray, k: int = 20):
        self.evaluation = evaluation
        self.cold_items = cold_items
        self.k = k
        self.column_of = {item: column for column, item in enumerate(cold_items)}
        self.tied = True
        self.ranked: List[np.ndarray] = []
        self.relevant: List[Set[int]] = []

    def add(self, rows: np.ndarray, scores: np.ndarray) -> None:
        """`scores[i]` scores the catalogue for evaluated user `rows[i]`."""
        cold_scores = scores[:, self.cold_items]
        # Equal up to float noise: the same embedding scored in different batches.
        self.tied = self.tied and np.allclose(cold_scores, cold_scores[:, :1], rtol=0.0, atol=1e-6)
        chosen = []
        for position, row in enumerate(rows):
            cold = {self.column_of[i] for i in self.evaluation.eval_items[row]
                    if i in self.column_of}
            if cold:
                chosen.append(position)
                self.relevant.append(cold)
        if chosen:
            self.ranked.append(metrics_lib.top_k_indices(cold_scores[chosen], self.k))

    def result(self) -> Optional[Dict[str, float]]:
        if self.tied or not self.relevant:
            return None
        k = self.k
        result = metrics_lib.ranking_metrics(np.concatenate(self.ranked), self.relevant, [k],
                                             len(self.cold_items))
        return {f"cold_recall@{k}": result[f"recall@{k}"], f"cold_ndcg@{k}": result[f"ndcg@{k}"],
                "cold_users": len(self.relevant)}


def skipped_baselines(names: List[str], num_items: int, ease_max_items: int) -> Dict[str, str]:
    """The baselines that cannot run on this catalogue, each with the reason."""
    skipped = {}
    if "ease" in names and ease_max_items and num_items > ease_max_items:
        skipped["ease"] = (
            f"skipped: {num_items} items > evaluation.ease_max_items {ease_max_items}; EASE "
            f"inverts a dense items x items matrix ({num_items ** 2 * 8 / 1e9:.1f} GB, "
            f"cubic time)")
    return skipped


def decide_blessing(model_metrics: Dict[str, float], baseline_metrics: Dict[str, float],
                    metric: str, min_relative_improvement: float) -> Dict[str, Any]:
    threshold = baseline_metrics[metric] * (1.0 + min_relative_improvement)
    return {
        "metric": metric,
        "model": model_metrics[metric],
        "threshold": threshold,
        "blessed": bool(model_metrics[metric] > 0 and model_metrics[metric] >= threshold),
    }


def bless(results: Dict[str, Dict], baseline: str, skipped: Dict[str, str], metric: str,
          min_relative_improvement: float) -> Dict[str, Any]:
    """The blessing against `baseline`, or, when it was skipped, against the
    strongest baseline that ran, with a note saying so."""
    compared = baseline
    if baseline in skipped:
        compared = max((name for name in results if name != "model"),
                       key=lambda name: results[name][metric])
    blessing = decide_blessing(results["model"], results[compared], metric,
                               min_relative_improvement)
    blessing["baseline"] = compared
    if compared != baseline:
        blessing["note"] = (f"{baseline} was {skipped[baseline]}; compared with the strongest "
                            f"baseline that ran, {compared}")
    return blessing


def slice_metrics(ranked: np.ndarray, evaluation: data_lib.EvaluationData,
                  cutoffs: List[int]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Metrics by user activity, and Recall/NDCG on head and tail items."""
    num_items = len(evaluation.item_ids)
    train_counts = evaluation.train_counts()
    by_activity = {}
    for label, users in metrics_lib.user_activity_slices(train_counts).items():
        if not len(users):
            continue
        relevant = [evaluation.eval_items[u] for u in users]
        by_activity[label] = metrics_lib.ranking_metrics(ranked[users], relevant, cutoffs, num_items)
        by_activity[label]["users"] = len(users)
    by_popularity = {}
    for label, items in metrics_lib.item_popularity_slices(evaluation.train_item_counts).items():
        users = [u for u, rel in enumerate(evaluation.eval_items) if rel & items]
        if not users:
            continue
        relevant = [evaluation.eval_items[u] & items for u in users]
        by_popularity[label] = metrics_lib.ranking_metrics(ranked[users], relevant, cutoffs, num_items)
        by_popularity[label]["users"] = len(users)
    return {"user_activity": by_activity, "item_popularity": by_popularity}


def rank_in_batches(scorer: Scorer, evaluation: data_lib.EvaluationData, seen: sp.csr_matrix,
                    k: int, batch_size: int, cold: Optional[ColdItemRanking] = None
                    ) -> np.ndarray:
    """Each evaluated user's top-k unseen catalogue indices, best first, scoring
    `batch_size` users at a time (memory: one batch x catalogue block)."""
    ranked = []
    for rows in metrics_lib.user_batches(len(evaluation.user_ids), batch_size):
        scores = scorer(rows)
        ranked.append(metrics_lib.top_k_unseen(scores, seen[rows], k))
        if cold is not None:
            cold.add(rows, scores)
    return np.concatenate(ranked)


def evaluate(model, evaluation: data_lib.EvaluationData, cutoffs: List[int],
             baselines: List[str], cold_item_ids=(), batch_size: int = _BATCH,
             tuning_max_users: int = 0):
    """Metrics of the model and of each baseline on the same users and items,
    and the model's top-max(cutoffs) catalogue indices per user, scoring
    `batch_size` users at a time (fewer on a large catalogue:
    metrics.users_per_batch). A tuned baseline scores its validation carve on at
    most `tuning_max_users` users (0: all).

    With held-out (cold) items, each also gets a `cold` entry: its ranking of
    the cold items alone, or None when it cannot rank them.
    """
    max_k = max(cutoffs)
    num_items = len(evaluation.item_ids)
    index_of = {item: index for index, item in enumerate(evaluation.item_ids)}
    cold_items = np.array(sorted(index_of[i] for i in cold_item_ids if i in index_of), np.int64)
    seen = evaluation.seen_matrix()
    batch_size = metrics_lib.users_per_batch(batch_size, num_items)
    results = {}
    for name in ["model", *baselines]:
        scorer = (model_scorer(model, evaluation) if name == "model"
                  else baseline_scorer(name, evaluation, batch_size,
                                       tuning_max_users=tuning_max_users))
        cold = ColdItemRanking(evaluation, cold_items) if len(cold_items) else None
        ranked = rank_in_batches(scorer, evaluation, seen, max_k, batch_size, cold)
        results[name] = metrics_lib.ranking_metrics(
            ranked, evaluation.eval_items, cutoffs, num_items)
        results[name]["popularity_percentile@10"] = metrics_lib.popularity_percentile(
            ranked, evaluation.train_item_counts, 10)
        results[name]["slices"] = slice_metrics(ranked, evaluation, cutoffs)
        if cold is not None:
            results[name]["cold"] = cold.result()
        if name == "model":
            model_ranking = ranked
    return results, model_ranking


def build_report(model, evaluation: data_lib.EvaluationData, cold_item_ids: List[bytes],
                 cutoffs: List[int], metric: str, baseline: str, report_baselines: List[str],
                 min_relative_improvement: float, batch_users: int, max_users: int,
                 sample_seed: int, ease_max_items: int):
    """(the evaluation report, the evaluated users, the model's ranking of them).

    Above `max_users` users a seeded sample is evaluated (and the tuned baselines'
    validation carves are scored on as many); baselines too large for the
    catalogue are skipped, and the report says both.
    """
    sampled = data_lib.sample_users(evaluation, max_users, sample_seed)
    wanted = list(dict.fromkeys([baseline, *report_baselines]))
    skipped = skipped_baselines(wanted, len(evaluation.item_ids), ease_max_items)
    for name, reason in skipped.items():
        logging.info("Baseline %s %s", name, reason)
    # A skipped blessing baseline needs at least one that runs to compare with.
    ran = [name for name in wanted if name not in skipped] or ["popularity"]
    results, ranking = evaluate(model, sampled, cutoffs, ran, cold_item_ids, batch_users,
                                tuning_max_users=max_users)
    blessing = bless(results, baseline, skipped, metric, min_relative_improvement)
    logging.info("Retrieval evaluation on %d users: %s", len(sampled.user_ids), blessing)
    num_users = len(evaluation.user_ids)
    user_sample = (None if len(sampled.user_ids) == num_users else
                   {"users": len(sampled.user_ids), "of": num_users, "seed": sample_seed})
    report = {"num_users": len(sampled.user_ids), "num_items": len(evaluation.item_ids),
              "user_sample": user_sample, "skipped_baselines": skipped, "metrics": results,
              "blessing": blessing}
    return report, sampled, ranking


def write_recommendations(path: str, evaluation: data_lib.EvaluationData,
                          ranking: np.ndarray) -> None:
    """`user_id,item_1 item_2 ...` per evaluated user, original ids, best first."""
    with tf.io.gfile.GFile(path, "w") as f:
        for user, row in zip(evaluation.user_ids, ranking):
            items = " ".join(evaluation.item_ids[i].decode() for i in row)
            f.write(f"{user.decode()},{items}\n")


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY])
        model_artifact = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.MODEL_KEY])

        index_lib.register_ops()  # a model exported with a ScaNN index needs its ops
        model = tf.saved_model.load(path_utils.serving_model_path(model_artifact.uri))
        evaluation = data_lib.load(
            examples,
            signature_input_specs(model.signatures["query_embedding"]),
            signature_input_specs(model.signatures["candidate_embedding"]))
        cold_item_ids = [i.encode() for i in split_info.read(examples.uri).holdout_item_ids]
        report, sampled, ranking = build_report(
            model, evaluation, cold_item_ids,
            cutoffs=json.loads(exec_properties["cutoffs"]),
            report_baselines=json.loads(exec_properties["report_baselines"]),
            **{name: exec_properties[name] for name in (
                "metric", "baseline", "min_relative_improvement", "batch_users", "max_users",
                "sample_seed", "ease_max_items")})
        evaluation_artifact = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY])
        with tf.io.gfile.GFile(os.path.join(evaluation_artifact.uri, EVALUATION_FILE), "w") as f:
            json.dump(report, f, indent=2)
        write_recommendations(os.path.join(evaluation_artifact.uri, RECOMMENDATIONS_FILE),
                              sampled, ranking)

        blessing_artifact = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY])
        blessed = report["blessing"]["blessed"]
        blessing_artifact.set_int_custom_property("blessed", int(blessed))
        blessing_artifact.set_string_custom_property("current_model", model_artifact.uri)
        with tf.io.gfile.GFile(os.path.join(
                blessing_artifact.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as f:
            f.write("")
