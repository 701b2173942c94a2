"""The item catalogue (the candidates split) with its text embeddings, read once."""
import dataclasses
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models import features
from models.transform import preprocessing

_ONE_BATCH = 1 << 24


@dataclasses.dataclass
class Catalogue:
    item_ids: np.ndarray                 # raw ids (bytes), candidates-split order
    raw_features: Dict[str, tf.Tensor]   # parsed raw features of every item, one batch
    text_embeddings: Optional[np.ndarray] = None  # [items, text dim], same order


def read_catalogue(file_patterns: Sequence[str], raw_feature_spec, names: Sequence[str],
                   encoder=None, text_batch_size: int = 256) -> Catalogue:
    """Reads the items; with an encoder, embeds each distinct item text once."""
    names = list(dict.fromkeys([features.ITEM_ID, *names, *([features.ITEM_TEXT] if encoder else [])]))
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no candidate files match {list(file_patterns)}")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(_ONE_BATCH)
    raw = tf.io.parse_example(next(iter(records)), {n: raw_feature_spec[n] for n in names})
    item_ids = tf.reshape(raw[features.ITEM_ID], [-1]).numpy()
    text_embeddings = None
    if encoder is not None:
        from models.text_encoder import encode_texts

        texts = [t.decode("utf-8") for t in tf.reshape(raw[features.ITEM_TEXT], [-1]).numpy()]
        text_embeddings = encode_texts(encoder, texts, batch_size=text_batch_size)
    return Catalogue(item_ids, raw, text_embeddings)


def item_text_table(catalogue: Catalogue, tft_output: tft.TFTransformOutput) -> np.ndarray:
    """Text embeddings by item vocabulary index; the OOV row (last) is zeros."""
    vocabulary = tft_output.vocabulary_by_name(preprocessing.ITEM_ID_VOCAB)
    row_of_item = {item: row for row, item in enumerate(catalogue.item_ids)}
    dim = catalogue.text_embeddings.shape[1]
    table = np.zeros((len(vocabulary) + preprocessing.NUM_OOV_BUCKETS, dim), np.float32)
    for index, item in enumerate(vocabulary):
        row = row_of_item.get(item)
        if row is not None:
            table[index] = catalogue.text_embeddings[row]
    return table


def item_rows(catalogue: Catalogue) -> tf.lookup.StaticHashTable:
    """Raw item id -> the item's row in the catalogue (candidates-split order); an id
    outside it -> len(catalogue), the row after the last."""
    num_items = len(catalogue.item_ids)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(catalogue.item_ids), tf.range(num_items, dtype=tf.int64)),
        default_value=num_items)


class ItemJoin:
    """The transformed item features of every catalogue item, looked up by raw item id:
    what an interaction row, which names its item by id only, is joined to.

    An id outside the catalogue gets no tags and zeros (interactions never have one:
    the data contract checks that every interaction's item is in the catalogue).
    """

    def __init__(self, catalogue: Catalogue, tft_output: tft.TFTransformOutput,
                 names: Sequence[str]):
        raw = {name: catalogue.raw_features[name] for name in [features.ITEM_ID, *names]}
        transformed = tft_output.transform_features_layer()(raw)
        self._rows = item_rows(catalogue)
        # A numeric field's bucket comes with it.
        wanted = {*names, *map(preprocessing.bucket_feature_name, names)}
        self._values = {name: _with_empty_row(_as_ragged(value))
                        for name, value in transformed.items() if name in wanted}

    def __call__(self, raw_item_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
        """The transformed features of `names` (and numeric fields' buckets) of the items
        `raw_item_ids` (`[batch]`)."""
        rows = self._rows.lookup(raw_item_ids)
        return {name: (tf.gather(value, rows).to_sparse() if isinstance(value, tf.RaggedTensor)
                       else tf.gather(value, rows))
                for name, value in self._values.items()}


def _as_ragged(value) -> object:
    """A sparse tensor as ragged (which `tf.gather` takes); a dense one as it is."""
    return tf.RaggedTensor.from_sparse(value) if isinstance(value, tf.SparseTensor) else value


def _with_empty_row(value) -> object:
    """`value` (ragged or dense) with one more row: empty (ragged) or zeros (dense)."""
    if isinstance(value, tf.RaggedTensor):
        return tf.concat([value, tf.RaggedTensor.from_row_lengths(
            tf.zeros([0], value.dtype), tf.constant([0], tf.int64))], axis=0)
    return tf.concat([value, tf.zeros_like(value[:1])], axis=0)


def vocabulary_items(catalogue: Catalogue, tft_output: tft.TFTransformOutput
                     ) -> Dict[str, object]:
    """The transformed features of every item of the id vocabulary, in vocabulary order,
    then one row for the OOV bucket (no tags, no text, numeric fields 0): what the
    retrieval model's item tower reads to give every item's vector while training."""
    vocabulary = tft_output.vocabulary_by_name(preprocessing.ITEM_ID_VOCAB)
    row_of_item = {item: row for row, item in enumerate(catalogue.item_ids)}
    missing = [item for item in vocabulary if item not in row_of_item]
    if missing:
        raise ValueError(f"{len(missing)} trained items are not in the candidates split, "
                         f"e.g. {missing[:3]}")
    rows = tf.constant([row_of_item[item] for item in vocabulary], tf.int64)
    transformed = tft_output.transform_features_layer()(catalogue.raw_features)
    if catalogue.text_embeddings is not None:
        transformed[features.ITEM_TEXT_EMBEDDING] = tf.constant(catalogue.text_embeddings)
    items = {name: _with_empty_row(tf.gather(_as_ragged(value), rows))
             for name, value in transformed.items()}
    ids = items[features.ITEM_ID]  # the OOV row's id is the OOV bucket's index, not 0
    items[features.ITEM_ID] = tf.concat([ids[:-1], ids[-1:] + len(vocabulary)], axis=0)
    return {name: value.to_sparse() if isinstance(value, tf.RaggedTensor) else value
            for name, value in items.items()}
