"""The serving SavedModel of the retrieval model.

It holds the Transform graph (vocabularies travel as assets), both towers, the
text encoder when the family reads text, and a BruteForce index over the whole
catalogue. It takes raw features:
- `serving_default` / `retrieve`: user features -> top-k `item_ids`, `scores`
- `query_embedding`: user features -> `embedding`
- `candidate_embedding`: item features -> `embedding` (a new item is embedded
  from its text: nothing about it needs to have been seen in training)
Scalar features are `[batch]` tensors; list features such as the history are
`[batch, length]`, padded with "".
"""
import os
from typing import Dict, Optional, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from models import features  # noqa: E402
from models.catalogue import Catalogue  # noqa: E402
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


def candidate_embeddings(model, catalogue: Catalogue, tft_layer) -> np.ndarray:
    """Embeddings of every catalogue item, from precomputed text embeddings."""
    transformed = tft_layer(catalogue.raw_features)
    if catalogue.text_embeddings is not None:
        transformed[features.ITEM_TEXT_EMBEDDING] = tf.constant(catalogue.text_embeddings)
    return model.candidate_tower(transformed).numpy()


class RetrievalServingModule(tf.Module):

    def __init__(self, model, tft_output: tft.TFTransformOutput, hparams: Hyperparameters,
                 catalogue: Catalogue, text_encoder=None):
        super().__init__()
        self.tft_layer = tft_output.transform_features_layer()
        self.query_tower = model.query_tower
        self.candidate_tower = model.candidate_tower
        self.text_encoder = text_encoder
        self.index = tfrs.layers.factorized_top_k.BruteForce(
            k=min(hparams.top_k, len(catalogue.item_ids)))
        self.index.index(tf.constant(candidate_embeddings(model, catalogue, self.tft_layer)),
                         tf.constant(catalogue.item_ids))
        self._raw_spec = tft_output.raw_feature_spec()

    def embed_queries(self, inputs):
        return self.query_tower(self.tft_layer(to_raw_features(inputs, self._raw_spec)))

    def embed_candidates(self, inputs):
        transformed = self.tft_layer(to_raw_features(inputs, self._raw_spec))
        if self.text_encoder is not None:
            transformed[features.ITEM_TEXT_EMBEDDING] = self.text_encoder.serve(
                inputs[features.ITEM_TEXT])["embedding"]
        return self.candidate_tower(transformed)

    def retrieve(self, inputs):
        scores, item_ids = self.index(self.embed_queries(inputs))
        return {"item_ids": item_ids, "scores": scores}


def export_serving_model(model, tft_output: tft.TFTransformOutput, hparams: Hyperparameters,
                         catalogue: Catalogue, export_dir: str, text_encoder=None) -> None:
    module = RetrievalServingModule(model, tft_output, hparams, catalogue, text_encoder)
    raw_spec = tft_output.raw_feature_spec()
    query_specs = serving_input_specs(raw_spec, training.query_raw_features(hparams, raw_spec))
    candidate_specs = serving_input_specs(
        raw_spec, training.candidate_raw_features(hparams, raw_spec))

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
