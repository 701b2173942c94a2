"""What every model's serving SavedModel shares: raw-feature signature inputs.

Exported models take raw features, as a client has them, and apply the
Transform graph inside: scalar features are `[batch]` tensors, list features
(the history, tags) `[batch, length]` padded with "".
"""
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from models import features


def serving_input_specs(raw_feature_spec: Mapping[str, object],
                        names: Sequence[str]) -> Dict[str, tf.TensorSpec]:
    """The input signature of the raw features `names`.

    Args:
      raw_feature_spec: TFTransformOutput.raw_feature_spec().
      names: the raw features the signature takes (e.g. blocks.raw_features(...)).

    Returns:
      {name: TensorSpec}: `[None]` for fixed-length features, `[None, None]` for lists.
    """
    specs = {}
    for name in names:
        spec = raw_feature_spec[name]
        shape = [None] if isinstance(spec, tf.io.FixedLenFeature) else [None, None]
        specs[name] = tf.TensorSpec(shape, spec.dtype, name=name)
    return specs


def to_raw_features(inputs: Dict[str, tf.Tensor],
                    raw_feature_spec: Mapping[str, object]) -> Dict[str, tf.Tensor]:
    """Serving tensors -> the shapes tf.io.parse_example gives the TFT layer."""
    raw = {}
    for name, value in inputs.items():
        if isinstance(raw_feature_spec[name], tf.io.FixedLenFeature):
            raw[name] = tf.reshape(value, [-1, 1])
        else:
            raw[name] = tf.sparse.from_dense(value)  # Drops the "" padding.
    return raw


def transformed_items(tft_layer, raw_items: Dict[str, tf.Tensor],
                      text_embeddings: Optional[np.ndarray]) -> Dict[str, tf.Tensor]:
    """Transformed features of parsed raw items, with their precomputed text embeddings."""
    transformed = tft_layer(raw_items)
    if text_embeddings is not None:
        transformed[features.ITEM_TEXT_EMBEDDING] = tf.constant(text_embeddings)
    return transformed
