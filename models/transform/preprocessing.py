"""The Transform module: one preprocessing_fn for every dataset and model.

Features are found by role (models/features.py), so the same function serves
every dataset: ids and categoricals get vocabularies (unseen values fall into
one OOV bucket), numeric fields are z-scored and bucketised, item text is
normalised, tags become vocabulary ids.

Transform analyses the train split's interaction rows and the candidates
split's item rows together (components/schema_gen/joined_schema.py): the ids,
the history and the user fields are analysed on the interaction rows (a held-out
item stays out of the item-id vocabulary), the item fields on the item rows,
each item once. An item row is one without a user id.
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


def _numeric(value: tf.Tensor, analysed: tf.Tensor):
    """(z-score, bucket) of a numeric field, its mean, variance and quantiles computed
    on the rows where `analysed` holds (tft.scale_to_z_score and tft.bucketize on them)."""
    numeric = tf.cast(_dense(value, 0), tf.float32)
    sample = tf.boolean_mask(numeric, analysed)
    mean, variance = tft.mean(sample), tft.var(sample)
    centred = numeric - mean
    z_score = tf.where(variance > 0, centred / tf.sqrt(variance), centred)
    boundaries = tft.quantiles(sample, NUM_NUMERIC_BUCKETS,
                               epsilon=min(1.0 / NUM_NUMERIC_BUCKETS, 0.01))
    return z_score, tft.apply_buckets(numeric, boundaries)


def _categorical(value: tf.Tensor, analysed: tf.Tensor, vocab_filename: str) -> tf.Tensor:
    """Vocabulary ids, the vocabulary computed on the rows where `analysed` holds."""
    values = _dense(value, "")
    vocabulary = tft.vocabulary(tf.boolean_mask(values, analysed),
                                vocab_filename=vocab_filename)
    return tft.apply_vocabulary(values, vocabulary, num_oov_buckets=NUM_OOV_BUCKETS)


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
    is_interaction = tf.not_equal(_dense(inputs[features.USER_ID], ""), "")
    is_item = tf.logical_not(is_interaction)
    item_ids = _dense(inputs[features.ITEM_ID], "")
    item_vocab = tft.vocabulary(tf.boolean_mask(item_ids, is_interaction),
                                vocab_filename=ITEM_ID_VOCAB)
    outputs[features.ITEM_ID] = tft.apply_vocabulary(
        item_ids, item_vocab, num_oov_buckets=NUM_OOV_BUCKETS)
    outputs[features.USER_ID] = _categorical(inputs[features.USER_ID], is_interaction,
                                             USER_ID_VOCAB)

    if features.HISTORY_ITEM_IDS in inputs:
        outputs[features.HISTORY_ITEM_IDS] = tft.apply_vocabulary(
            inputs[features.HISTORY_ITEM_IDS], item_vocab, num_oov_buckets=NUM_OOV_BUCKETS)
    if features.ITEM_TEXT in inputs:
        outputs[features.ITEM_TEXT] = normalize_text(_dense(inputs[features.ITEM_TEXT], ""))
    if features.ITEM_TAGS in inputs:  # only item rows have tags
        outputs[features.ITEM_TAGS] = tft.compute_and_apply_vocabulary(
            inputs[features.ITEM_TAGS], vocab_filename=ITEM_TAGS_VOCAB,
            num_oov_buckets=NUM_OOV_BUCKETS)
    for label in (features.RATING, features.TIMESTAMP):
        if label in inputs:
            outputs[label] = _dense(inputs[label], 0)

    for name, value in inputs.items():
        if features.is_user_feature(name):
            analysed = is_interaction
        elif features.is_item_numeric_feature(name):
            analysed = is_item
        else:
            continue
        if value.dtype == tf.string:
            outputs[name] = _categorical(value, analysed, name)
        else:
            outputs[name], outputs[bucket_feature_name(name)] = _numeric(value, analysed)
    return outputs
