"""The serving SavedModel of the retrieval model.

It holds the Transform graph (vocabularies travel as assets), both towers, the
vector of every trained item (the query tower pools them over the history),
the text encoder when the family reads text, and a BruteForce index over the
whole catalogue (or a ScaNN index, `retrieval.index`: models/retrieval/index.py).
It takes raw features:
- `serving_default` / `retrieve`: user features -> top-k `item_ids`, `scores`
- `query_embedding`: user features -> `embedding` (`[query, 1]`; with the
  item-item block, then the history's decay-weighted count of each vocabulary item)
- `candidate_embedding`: item features -> `embedding` (`[item vector, bias]`;
  with the item-item block, then the item's weight column, zeros for an item
  outside the vocabulary; a new item is embedded from its text: nothing about
  it needs to have been seen in training)
- `explain`: user features and `item_ids` `[batch, k]` -> each item's `scores`,
  `history_contributions` `[batch, k, n]` (the exact term each history item adds),
  `item_part_contributions` (the same total by the item's parts: id, text, tags;
  names in `item_parts`) and `unattributed` (the rest: bias, user fields, the
  recent-order block) -- models/retrieval/explain.py
The dot product of the two embeddings is the model's score. Scalar features
are `[batch]` tensors; list features such as the history are `[batch, length]`,
padded with "" (the history: the user's items, most recent first, up to the
examples' max_history).
"""
from typing import Dict

from absl import logging
import numpy as np
import tensorflow as tf

from models import blocks, export_lib, features, towers
from models.catalogue import Catalogue
from models.retrieval import explain as explain_lib
from models.retrieval import index as index_lib
from models.trainer_lib import TrainingRun

# The `explain` signature's input besides the user's features: the items to explain.
EXPLAINED_ITEM_IDS = "item_ids"


def item_score_vectors(item_tower, item_item, transformed_items: Dict[str, tf.Tensor]
                       ) -> tf.Tensor:
    """`[item vector, bias]` (then the item-item block's weight column) of these items."""
    vectors, bias = item_tower(transformed_items)
    columns = (None if item_item is None
               else item_item.item_columns(transformed_items[features.ITEM_ID]))
    return towers.item_score_vectors(vectors, bias, columns)


def candidate_embeddings(model, catalogue: Catalogue, tft_layer) -> np.ndarray:
    """The index's vectors of every catalogue item, from precomputed text embeddings."""
    return item_score_vectors(model.item_tower, model.item_item, export_lib.transformed_items(
        tft_layer, catalogue.raw_features, catalogue.text_embeddings)).numpy()


class RetrievalServingModule(tf.Module):
    """The towers, the Transform graph, the text encoder and a top-k index of the catalogue."""

    def __init__(self, model, run: TrainingRun):
        super().__init__()
        catalogue = run.catalogue
        self.tft_layer = run.tft_output.transform_features_layer()
        self.query_tower = model.query_tower
        self.item_tower = model.item_tower
        self.item_item = model.item_item
        # What the history blocks pool: a variable, so large catalogues stay out
        # of the graph proto.
        self.item_vectors = tf.Variable(model.item_vectors()[0], trainable=False,
                                        name="item_vectors")
        self.text_encoder = run.text_encoder
        transformed_catalogue = export_lib.transformed_items(
            self.tft_layer, catalogue.raw_features, catalogue.text_embeddings)
        hparams = run.hparams
        kind = index_lib.resolve(hparams.index, len(catalogue.item_ids), hparams.scann_min_items)
        logging.info("Retrieval index: %s over %d items", kind, len(catalogue.item_ids))
        self.index = index_lib.build(
            kind, hparams.top_k,
            item_score_vectors(model.item_tower, model.item_item, transformed_catalogue),
            tf.constant(catalogue.item_ids))
        self.catalogue_parts = explain_lib.catalogue_parts(
            model, transformed_catalogue, catalogue.item_ids)
        self._has_bag = any(block.name == "history_bag" for block in model.query_tower.blocks)
        self._raw_spec = run.raw_feature_spec

    def embed_queries(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        transformed = self.tft_layer(export_lib.to_raw_features(inputs, self._raw_spec))
        query = self.query_tower({**transformed, features.ITEM_VECTORS: self.item_vectors})
        history_weights = (None if self.item_item is None
                           else self.item_item.history_weights(transformed))
        return towers.query_score_vector(query, history_weights)

    def embed_candidates(self, inputs: Dict[str, tf.Tensor]) -> tf.Tensor:
        transformed = self.tft_layer(export_lib.to_raw_features(inputs, self._raw_spec))
        if self.text_encoder is not None:
            transformed[features.ITEM_TEXT_EMBEDDING] = self.text_encoder.serve(
                inputs[features.ITEM_TEXT])["embedding"]
        return item_score_vectors(self.item_tower, self.item_item, transformed)

    def retrieve(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        scores, item_ids = self.index(self.embed_queries(inputs))
        return {"item_ids": item_ids, "scores": scores}

    def explain(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        item_ids = inputs[EXPLAINED_ITEM_IDS]
        user = {name: value for name, value in inputs.items() if name != EXPLAINED_ITEM_IDS}
        transformed = self.tft_layer(export_lib.to_raw_features(user, self._raw_spec))
        query = self.query_tower({**transformed, features.ITEM_VECTORS: self.item_vectors})
        history = user.get(features.HISTORY_ITEM_IDS)
        width = tf.shape(history)[1] if history is not None else 0
        return explain_lib.explain(query, transformed, self.item_vectors, self.catalogue_parts,
                                   item_ids, width, self._has_bag)


def export_serving_model(model, run: TrainingRun, export_dir: str) -> None:
    """Saves the serving SavedModel of a trained retrieval model.

    Args:
      model: the fitted RetrievalModel.
      run: what the trainer prepared: the blocks (they name the signatures'
        inputs), the Transform output, the catalogue, the text encoder, top_k.
      export_dir: the SavedModel directory (the Trainer's serving_model_dir).

    Example:

    ```python
    export_serving_model(model, run, "/tmp/retrieval")
    loaded = tf.saved_model.load("/tmp/retrieval")
    top = loaded.signatures["serving_default"](
        user_id=tf.constant(["u0001"]), history_item_ids=tf.constant([["i00012", ""]]))
    top["item_ids"], top["scores"]  # [1, top_k] each, best first
    ```
    """
    module = RetrievalServingModule(model, run)
    raw_spec = run.raw_feature_spec
    query_specs = export_lib.serving_input_specs(
        raw_spec, blocks.raw_features(blocks.on_side(run.block_names, blocks.QUERY), raw_spec))
    candidate_specs = export_lib.serving_input_specs(
        raw_spec, blocks.raw_features(blocks.on_side(run.block_names, blocks.CANDIDATE), raw_spec))

    # No AutoGraph (see RetrievalModel.train_step): nothing here branches on a tensor.
    module.retrieve_fn = tf.function(module.retrieve, input_signature=[query_specs],
                                     autograph=False)
    module.query_embedding_fn = tf.function(
        lambda inputs: {"embedding": module.embed_queries(inputs)}, input_signature=[query_specs],
        autograph=False)
    module.candidate_embedding_fn = tf.function(
        lambda inputs: {"embedding": module.embed_candidates(inputs)},
        input_signature=[candidate_specs], autograph=False)
    module.explain_fn = tf.function(module.explain, autograph=False, input_signature=[{
        **query_specs,
        EXPLAINED_ITEM_IDS: tf.TensorSpec([None, None], tf.string, name=EXPLAINED_ITEM_IDS)}])
    tf.saved_model.save(module, export_dir, signatures={
        "serving_default": module.retrieve_fn,
        "retrieve": module.retrieve_fn,
        "query_embedding": module.query_embedding_fn,
        "candidate_embedding": module.candidate_embedding_fn,
        "explain": module.explain_fn,
    })
