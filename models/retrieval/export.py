"""The serving SavedModel of the retrieval model.

It holds the Transform graph (vocabularies travel as assets), both towers and
a BruteForce index over the whole catalogue, and takes raw features:
- `serving_default` / `retrieve`: user features -> top-k `item_ids`, `scores`
- `query_embedding`: user features -> `embedding`
- `candidate_embedding`: item features -> `embedding`
Scalar features are `[batch]` tensors; list features such as the history are
`[batch, length]`, padded with "".
"""
import os
from typing import Dict, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from models import features, towers  # noqa: E402
from models.retrieval import training  # noqa: E402
from models.retrieval.hparams import Hyperparameters  # noqa: E402


def serving_input_specs(raw_feature_spec, names: Sequence[str]) -> Dict[str, tf.TensorSpec]:
    specs = {}
    for name in names:
        spec = raw_feature_spec[name]
        shape = [None] if isinstance(spec, tf.io.FixedLenFeature) else [None, None]
        specs[name] = tf.TensorSpec(shape, spec.dtype, name=name)
    return specs


def to_raw_features(inputs: Dict[str, tf.Tensor], raw_feature_spec) -> Dict[str, tf.Tensor]:
    """Serving tensors -> the shapes tf.io.parse_example gives the TFT layer."""
    raw = {}
    for name, value in inputs.items():
        if isinstance(raw_feature_spec[name], tf.io.FixedLenFeature):
            raw[name] = tf.reshape(value, [-1, 1])
        else:
            raw[name] = tf.sparse.from_dense(value)  # Drops the "" padding.
    return raw


class RetrievalServingModule(tf.Module):

    def __init__(self, model, tft_output: tft.TFTransformOutput, hparams: Hyperparameters,
                 candidate_ids: np.ndarray, candidate_embeddings: np.ndarray):
        super().__init__()
        self.tft_layer = tft_output.transform_features_layer()
        self.query_tower = model.query_tower
        self.candidate_tower = model.candidate_tower
        self.index = tfrs.layers.factorized_top_k.BruteForce(k=min(hparams.top_k, len(candidate_ids)))
        self.index.index(tf.constant(candidate_embeddings), tf.constant(candidate_ids))
        self._raw_spec = tft_output.raw_feature_spec()

    def embed_queries(self, inputs):
        return self.query_tower(self.tft_layer(to_raw_features(inputs, self._raw_spec)))

    def embed_candidates(self, inputs):
        return self.candidate_tower(self.tft_layer(to_raw_features(inputs, self._raw_spec)))

    def retrieve(self, inputs):
        scores, item_ids = self.index(self.embed_queries(inputs))
        return {"item_ids": item_ids, "scores": scores}


def candidate_embeddings(model, candidate_patterns, tft_output, hparams):
    """(raw item ids, embeddings) of every item in the candidates split."""
    names = towers.raw_features_for(hparams.candidate_features)
    if features.ITEM_ID not in names:
        names.append(features.ITEM_ID)
    tft_layer = tft_output.transform_features_layer()
    ids, embeddings = [], []
    for raw in training.read_raw_examples(
            candidate_patterns, training.raw_spec_for(tft_output, names), 4096):
        ids.append(tf.reshape(raw[features.ITEM_ID], [-1]).numpy())
        embeddings.append(model.candidate_tower(tft_layer(raw)).numpy())
    return np.concatenate(ids), np.concatenate(embeddings)


def export_serving_model(model, tft_output, hparams, candidate_patterns, export_dir: str) -> None:
    ids, embeddings = candidate_embeddings(model, candidate_patterns, tft_output, hparams)
    module = RetrievalServingModule(model, tft_output, hparams, ids, embeddings)
    raw_spec = tft_output.raw_feature_spec()
    query_specs = serving_input_specs(raw_spec, towers.raw_features_for(hparams.query_features))
    candidate_specs = serving_input_specs(
        raw_spec, towers.raw_features_for(hparams.candidate_features))

    module.retrieve_fn = tf.function(module.retrieve, input_signature=[query_specs])
    module.query_embedding_fn = tf.function(
        lambda inputs: {"embedding": module.embed_queries(inputs)}, input_signature=[query_specs])
    module.candidate_embedding_fn = tf.function(
        lambda inputs: {"embedding": module.embed_candidates(inputs)},
        input_signature=[candidate_specs])
    tf.saved_model.save(module, export_dir, signatures={
        "serving_default": module.retrieve_fn,
        "retrieve": module.retrieve_fn,
        "query_embedding": module.query_embedding_fn,
        "candidate_embedding": module.candidate_embedding_fn,
    })
