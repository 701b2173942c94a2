"""The Transform module: one preprocessing_fn for every dataset and model.

Features are found by role (models/features.py), so the same function serves
every dataset: ids and categoricals get vocabularies computed on the train
split (unseen values fall into one OOV bucket), numeric fields are z-scored and
bucketised, item text is normalised, tags become vocabulary ids.
"""
import tensorflow as tf
import tensorflow_transform as tft

from models import features

NUM_OOV_BUCKETS = 1
NUM_NUMERIC_BUCKETS = 10

# Vocabulary files, looked up by name in the Trainer and the exported model.
ITEM_ID_VOCAB = "item_id"
USER_ID_VOCAB = "user_id"
ITEM_TAGS_VOCAB = "item_tags"


def bucket_feature_name(feature_name: str) -> str:
    return feature_name + "_bucket"


def _dense(x: tf.Tensor, default_value) -> tf.Tensor:
    """[B, 1] dense or sparse single-valued feature -> [B]."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value)
    return tf.reshape(x, [-1])


def normalize_text(text: tf.Tensor) -> tf.Tensor:
    """Lower-cases, drops control characters and collapses white space."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"[\p{Cc}]", " ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)


def preprocessing_fn(inputs):
    """The Transform component's function (TFX passes `preprocessing_fn` by module path).

    Args:
      inputs: raw features by name, as parsed with the schema (`[batch, 1]` dense
        or sparse; lists sparse).

    Returns:
      Transformed features: vocabulary ids for ids, categoricals, the history and
      tags; z-score and `<name>_bucket` for numeric user and item fields;
      normalised item text; rating and timestamp as they are. All `[batch]`
      except the lists.
    """
    outputs = {}
    item_ids = _dense(inputs[features.ITEM_ID], "")
    item_vocab = tft.vocabulary(item_ids, vocab_filename=ITEM_ID_VOCAB)
    outputs[features.ITEM_ID] = tft.apply_vocabulary(
        item_ids, item_vocab, num_oov_buckets=NUM_OOV_BUCKETS)
    outputs[features.USER_ID] = tft.compute_and_apply_vocabulary(
        _dense(inputs[features.USER_ID], ""), vocab_filename=USER_ID_VOCAB,
        num_oov_buckets=NUM_OOV_BUCKETS)

    if features.HISTORY_ITEM_IDS in inputs:
        outputs[features.HISTORY_ITEM_IDS] = tft.apply_vocabulary(
            inputs[features.HISTORY_ITEM_IDS], item_vocab, num_oov_buckets=NUM_OOV_BUCKETS)
    if features.ITEM_TEXT in inputs:
        outputs[features.ITEM_TEXT] = normalize_text(_dense(inputs[features.ITEM_TEXT], ""))
    if features.ITEM_TAGS in inputs:
        outputs[features.ITEM_TAGS] = tft.compute_and_apply_vocabulary(
            inputs[features.ITEM_TAGS], vocab_filename=ITEM_TAGS_VOCAB,
            num_oov_buckets=NUM_OOV_BUCKETS)
    for label in (features.RATING, features.TIMESTAMP):
        if label in inputs:
            outputs[label] = _dense(inputs[label], 0)

    for name, value in inputs.items():
        if not (features.is_user_feature(name) or features.is_item_numeric_feature(name)):
            continue
        if value.dtype == tf.string:
            outputs[name] = tft.compute_and_apply_vocabulary(
                _dense(value, ""), vocab_filename=name,
                num_oov_buckets=NUM_OOV_BUCKETS)
        else:
            numeric = tf.cast(_dense(value, 0), tf.float32)
            outputs[name] = tft.scale_to_z_score(numeric)
            outputs[bucket_feature_name(name)] = tft.bucketize(
                numeric, NUM_NUMERIC_BUCKETS)
    return outputs
