"""The serving SavedModel of the ranking model.

It holds the Transform graph (vocabularies travel as assets), the user side of
the model, the DCN, and the vector of every catalogue item (the candidates
split), looked up in-graph by raw item id, so a client sends only item ids:
- `score`: user_id `[batch]`, history_item_ids `[batch, n]` (padded with ""), the
  user features the model reads, item_id `[batch]` -> `scores` `[batch]`
- `serving_default`: `examples`, serialized tf.Examples `[batch]` -> `predictions`
  `[batch]`, the same numbers as `score` (what TFMA's Evaluator reads)
- implicit feedback only, for TFMA's AUC: `sampled_scores` (`examples` ->
  `predictions` `[batch, 1 + eval_negatives]`: the example's own item, then random
  catalogue items) and `sampled_labels` (`examples` -> `sampled_labels`, 1 then 0s)
Unknown users and items are ordinary inputs: an unknown user gets the OOV ids,
an unknown item the vector of an item with the OOV id, no tags and the
catalogue's mean numeric fields.
"""
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models import catalogue as catalogue_lib, export_lib, features
from models.catalogue import Catalogue
from models.ranking.model import RankingModel
from models.ranking.signatures import EXAMPLES, SAMPLED_LABELS, SAMPLED_SCORES
from models.trainer_lib import TrainingRun


def unknown_item_raw_features(catalogue: Catalogue, raw_feature_spec) -> Dict[str, tf.Tensor]:
    """One raw item that matches nothing: empty strings and lists, mean numbers."""
    raw = {}
    for name, values in catalogue.raw_features.items():
        spec = raw_feature_spec[name]
        if isinstance(values, tf.SparseTensor):
            raw[name] = tf.SparseTensor(tf.zeros([0, 2], tf.int64), tf.constant([], spec.dtype),
                                        [1, 1])
        elif spec.dtype == tf.string:
            raw[name] = tf.constant([[""]])
        else:
            raw[name] = tf.cast(tf.reduce_mean(tf.cast(values, tf.float64), keepdims=True),
                                spec.dtype)
    return raw


def _item_vectors(model: RankingModel, tft_layer, raw_items, text_embeddings) -> np.ndarray:
    return model.item_vector(
        export_lib.transformed_items(tft_layer, raw_items, text_embeddings)).numpy()


def item_vectors(model: RankingModel, catalogue: Catalogue, tft_layer,
                 raw_feature_spec) -> np.ndarray:
    """The item vector of every catalogue item, then of the unknown item (last row)."""
    texts = catalogue.text_embeddings
    unknown_text = None if texts is None else np.zeros_like(texts[:1])
    return np.concatenate([
        _item_vectors(model, tft_layer, catalogue.raw_features, texts),
        _item_vectors(model, tft_layer, unknown_item_raw_features(catalogue, raw_feature_spec),
                      unknown_text)])


def user_raw_features(model: RankingModel, raw_feature_spec) -> List[str]:
    return model.user_vector.raw_features(raw_feature_spec)


class RankingServingModule(tf.Module):

    def __init__(self, model: RankingModel, tft_output: tft.TFTransformOutput,
                 catalogue: Catalogue, eval_negatives: int):
        super().__init__()
        raw_spec = tft_output.raw_feature_spec()
        self.tft_layer = tft_output.transform_features_layer()
        self.user_vector = model.user_vector
        self.scorer = model.scorer
        self.item_vectors = tf.Variable(
            item_vectors(model, catalogue, self.tft_layer, raw_spec), trainable=False)
        self.item_rows = catalogue_lib.item_rows(catalogue)  # unknown: the last row
        self._num_items = len(catalogue.item_ids)
        self._eval_negatives = eval_negatives
        self._raw_spec = raw_spec
        self._example_spec = {name: raw_spec[name] for name in
                              [*user_raw_features(model, raw_spec), features.ITEM_ID]}

    def _predict(self, raw_user_features, item_ids: tf.Tensor) -> tf.Tensor:
        users = self.user_vector(self.tft_layer(raw_user_features))
        return self.scorer.predictions(
            users, tf.gather(self.item_vectors, self.item_rows.lookup(item_ids)))

    def _parse(self, examples: tf.Tensor):
        """(raw user features, item ids) of serialized tf.Examples."""
        raw = tf.io.parse_example(examples, self._example_spec)
        return raw, tf.reshape(raw.pop(features.ITEM_ID), [-1])

    def score(self, inputs: Dict[str, tf.Tensor]):
        users = {name: value for name, value in inputs.items() if name != features.ITEM_ID}
        return {"scores": self._predict(export_lib.to_raw_features(users, self._raw_spec),
                                        inputs[features.ITEM_ID])}

    def score_examples(self, examples: tf.Tensor):
        return {"predictions": self._predict(*self._parse(examples))}

    def sampled_scores(self, examples: tf.Tensor):
        raw_users, item_ids = self._parse(examples)
        users = self.user_vector(self.tft_layer(raw_users))
        # Deterministic per example: the baseline model sees the same negatives.
        negative_rows = [tf.strings.to_hash_bucket_fast(examples + f"#negative{k}",
                                                        self._num_items)
                         for k in range(self._eval_negatives)]
        rows = [self.item_rows.lookup(item_ids), *negative_rows]
        return {"predictions": tf.stack(
            [self.scorer.predictions(users, tf.gather(self.item_vectors, r)) for r in rows],
            axis=1)}

    def sampled_labels(self, examples: tf.Tensor):
        positives = tf.ones_like(examples, tf.float32)[:, None]
        negatives = tf.zeros([tf.shape(examples)[0], self._eval_negatives])
        return {SAMPLED_LABELS: tf.concat([positives, negatives], axis=1)}


def export_serving_model(model: RankingModel, run: TrainingRun, export_dir: str,
                         eval_negatives: int = 0) -> None:
    """Saves the serving SavedModel of a trained ranking model.

    Args:
      model: the fitted RankingModel.
      run: what the trainer prepared: the Transform output and the catalogue
        (every item's vector is precomputed into the model).
      export_dir: the SavedModel directory (the Trainer's serving_model_dir).
      eval_negatives: > 0 adds the sampled-AUC signatures (implicit feedback).

    Example:

    ```python
    export_serving_model(model, run, "/tmp/ranking")
    loaded = tf.saved_model.load("/tmp/ranking")
    loaded.signatures["score"](user_id=tf.constant(["u0001"]), item_id=tf.constant(["i00012"]),
                               history_item_ids=tf.constant([["i00007"]]), ...)["scores"]
    ```
    """
    module = RankingServingModule(model, run.tft_output, run.catalogue, eval_negatives)
    raw_spec = run.raw_feature_spec
    score_specs = export_lib.serving_input_specs(
        raw_spec, [*user_raw_features(model, raw_spec), features.ITEM_ID])
    examples_spec = [tf.TensorSpec([None], tf.string, name=EXAMPLES)]

    module.score_fn = tf.function(module.score, input_signature=[score_specs])
    module.score_examples_fn = tf.function(module.score_examples, input_signature=examples_spec)
    signatures = {"serving_default": module.score_examples_fn, "score": module.score_fn}
    if eval_negatives > 0:
        module.sampled_scores_fn = tf.function(module.sampled_scores,
                                               input_signature=examples_spec)
        module.sampled_labels_fn = tf.function(module.sampled_labels,
                                               input_signature=examples_spec)
        signatures.update({SAMPLED_SCORES: module.sampled_scores_fn,
                           SAMPLED_LABELS: module.sampled_labels_fn})
    tf.saved_model.save(module, export_dir, signatures=signatures)
