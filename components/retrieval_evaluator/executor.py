"""Executor of RetrievalEvaluator: full-catalogue metrics, baselines, blessing."""
import json
import logging
import os
from typing import Any, Dict, List, Optional

import numpy as np
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
_BATCH = 1024


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


def model_scores(model, evaluation: data_lib.EvaluationData) -> np.ndarray:
    queries = embed(model.signatures["query_embedding"], evaluation.query_inputs)
    candidates = embed(model.signatures["candidate_embedding"], evaluation.candidate_inputs)
    return queries @ candidates.T


def cold_item_metrics(scores: np.ndarray, evaluation: data_lib.EvaluationData,
                      cold_items: np.ndarray, k: int = 20) -> Optional[Dict[str, float]]:
    """Recall@k and NDCG@k ranking only the held-out items, for users who chose some.

    None when the scores cannot tell the cold items apart (e.g. id-only models,
    for which every unseen item is the same out-of-vocabulary id).
    """
    cold_scores = scores[:, cold_items]
    # Equal up to float noise: the same embedding scored in different batches.
    if np.allclose(cold_scores, cold_scores[:, :1], rtol=0.0, atol=1e-6):
        return None
    column_of = {item: column for column, item in enumerate(cold_items)}
    rows, relevant = [], []
    for row, items in enumerate(evaluation.eval_items):
        cold = {column_of[i] for i in items if i in column_of}
        if cold:
            rows.append(row)
            relevant.append(cold)
    if not rows:
        return None
    ranked = metrics_lib.top_k_indices(cold_scores[rows], k)
    result = metrics_lib.ranking_metrics(ranked, relevant, [k], len(cold_items))
    return {f"cold_recall@{k}": result[f"recall@{k}"], f"cold_ndcg@{k}": result[f"ndcg@{k}"],
            "cold_users": len(rows)}


def baseline_scores(name: str, evaluation: data_lib.EvaluationData, seed: int = 0) -> np.ndarray:
    """Full-catalogue scores of a baseline fitted on the same training split."""
    baseline = baselines_lib.make_baseline(name, seed).fit(
        evaluation.train_matrix, evaluation.item_tags)
    scores = np.zeros((len(evaluation.user_ids), len(evaluation.item_ids)))
    has_train = evaluation.train_rows >= 0
    if has_train.any():
        scores[has_train] = baseline.score(evaluation.train_rows[has_train])
    return scores


def decide_blessing(model_metrics: Dict[str, float], baseline_metrics: Dict[str, float],
                    metric: str, min_relative_improvement: float) -> Dict[str, Any]:
    threshold = baseline_metrics[metric] * (1.0 + min_relative_improvement)
    return {
        "metric": metric,
        "model": model_metrics[metric],
        "threshold": threshold,
        "blessed": bool(model_metrics[metric] > 0 and model_metrics[metric] >= threshold),
    }


def slice_metrics(ranked: np.ndarray, evaluation: data_lib.EvaluationData,
                  cutoffs: List[int]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Metrics by user activity, and Recall/NDCG on head and tail items."""
    num_items = len(evaluation.item_ids)
    train_counts = np.array([len(items) for items in evaluation.train_items])
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


def evaluate(model, evaluation: data_lib.EvaluationData, cutoffs: List[int],
             baselines: List[str], cold_item_ids=()):
    """Metrics of the model and of each baseline on the same users and items,
    and the model's top-max(cutoffs) catalogue indices per user.

    With held-out (cold) items, each also gets a `cold` entry: its ranking of
    the cold items alone, or None when it cannot rank them.
    """
    max_k = max(cutoffs)
    num_items = len(evaluation.item_ids)
    index_of = {item: index for index, item in enumerate(evaluation.item_ids)}
    cold_items = np.array(sorted(index_of[i] for i in cold_item_ids if i in index_of), np.int64)
    seen = metrics_lib.item_sets_matrix(evaluation.train_items, num_items)
    results = {}
    for name, scores in [("model", model_scores(model, evaluation))] + [
            (baseline, baseline_scores(baseline, evaluation)) for baseline in baselines]:
        ranked = metrics_lib.top_k_unseen(scores, seen, max_k)
        results[name] = metrics_lib.ranking_metrics(
            ranked, evaluation.eval_items, cutoffs, num_items)
        results[name]["popularity_percentile@10"] = metrics_lib.popularity_percentile(
            ranked, evaluation.train_item_counts, 10)
        results[name]["slices"] = slice_metrics(ranked, evaluation, cutoffs)
        if len(cold_items):
            results[name]["cold"] = cold_item_metrics(scores, evaluation, cold_items)
        if name == "model":
            model_ranking = ranked
    return results, model_ranking


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
        cutoffs = json.loads(exec_properties["cutoffs"])
        metric = exec_properties["metric"]
        baseline = exec_properties["baseline"]
        reported = json.loads(exec_properties["report_baselines"])

        index_lib.register_ops()  # a model exported with a ScaNN index needs its ops
        model = tf.saved_model.load(path_utils.serving_model_path(model_artifact.uri))
        evaluation = data_lib.load(
            examples,
            signature_input_specs(model.signatures["query_embedding"]),
            signature_input_specs(model.signatures["candidate_embedding"]))
        cold_item_ids = [i.encode() for i in split_info.read(examples.uri).holdout_item_ids]
        results, ranking = evaluate(model, evaluation, cutoffs,
                           list(dict.fromkeys([baseline, *reported])), cold_item_ids)
        blessing = decide_blessing(results["model"], results[baseline], metric,
                                   exec_properties["min_relative_improvement"])
        blessing["baseline"] = baseline
        logging.info("Retrieval evaluation on %d users: %s", len(evaluation.user_ids), blessing)

        report = {"num_users": len(evaluation.user_ids), "num_items": len(evaluation.item_ids),
                  "metrics": results, "blessing": blessing}
        evaluation_artifact = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY])
        with tf.io.gfile.GFile(os.path.join(evaluation_artifact.uri, EVALUATION_FILE), "w") as f:
            json.dump(report, f, indent=2)
        write_recommendations(os.path.join(evaluation_artifact.uri, RECOMMENDATIONS_FILE),
                              evaluation, ranking)

        blessing_artifact = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY])
        blessed = blessing["blessed"]
        blessing_artifact.set_int_custom_property("blessed", int(blessed))
        blessing_artifact.set_string_custom_property("current_model", model_artifact.uri)
        with tf.io.gfile.GFile(os.path.join(
                blessing_artifact.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as f:
            f.write("")
