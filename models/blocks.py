"""Feature blocks: the one table of what retrieval towers and ranking models are built from.

A block turns some features of an example into one vector: an id embedding is
collaborative filtering, a text embedding is content, both is hybrid. The
retrieval towers (models/towers.py) and the ranking model's user and item
vectors (models/ranking/model.py) concatenate blocks named by an algorithm
family (models/families.py) or by the `ranking.blocks` config.

Each `BlockSpec` in `BLOCKS` provides:
  name: what families and configs call it.
  side: QUERY (the user and their context: the retrieval query tower, the
    ranking user vector) or CANDIDATE (the item: the candidate tower, the ranking
    item vector, the exported model's precomputed item vectors).
  reads(raw_feature_spec) -> [raw feature names]: the pre-Transform features it
    needs. The trainer parses them, the serving signatures take them as inputs
    (scalars `[batch]`, lists `[batch, n]` padded with ""), and for a CANDIDATE
    block the catalogue holds them for every item. The block is available when
    the data has every one of them and there is at least one; an unavailable
    block is left out of the model and the trainer logs it (`usable`).
  build(context, name) -> tf_keras layer (models/layers.py), called as
    `layer(features, training=...)` on the transformed features
    (models/transform/preprocessing.py; lists arrive as SparseTensors, most
    recent first for the history) plus `features.ITEM_TEXT_EMBEDDING`; returns
    float32 `[batch, any dim]`. `training` lets a block behave differently while
    fitting (`IdEmbedding`'s id dropout); the ranking model passes it, the
    retrieval model does not yet (see RetrievalModel.compute_loss).
  needs_text: it reads item text embeddings, so the pipeline adds the
    TextEncoder and the trainer fills `context.item_text_table`.
  score_bias: a CANDIDATE block whose `[batch, 1]` output is added to the
    retrieval score rather than to the item vector (the item bias).
  reads_item_vectors: a QUERY block of the retrieval model that pools the
    model's own item vectors (`features.ITEM_VECTORS`); the ranking model,
    which has none, cannot use it.
  order_aware: it reads the order of the history, which carries no signal in a
    random split: the retrieval trainer leaves it out there (and logs it).
  item_item: a QUERY block of the retrieval model that meets the candidate
    inside the score: its layer gives a term per (user, catalogue item),
    `[batch, vocabulary]`, added to `query . item + bias`, not a vector of the
    query tower (layers.ItemItem). The exported model keeps one dot product by
    extending both sides (towers.query_score_vector). Its size grows with the
    square of the catalogue: above `retrieval.item_item_max_items` the retrieval
    trainer leaves it out (and logs it).

Adding a block is one `BlockSpec` below (and its layer in models/layers.py when
none fits); families and `ranking.blocks` can then name it.

Blocks over features some datasets lack (user fields, tags, text) drop out
through `reads`.

No TensorFlow import here: the config validates block names with this table.
"""
import dataclasses
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from absl import logging

from models import features

QUERY = "query"
CANDIDATE = "candidate"

# Raw feature name -> tf.io.FixedLenFeature or VarLenFeature (TFTransformOutput.raw_feature_spec()).
RawFeatureSpec = Mapping[str, object]


@dataclasses.dataclass
class BlockContext:
    """What a block's layer may depend on: the data's vocabularies and fields, the model's sizes."""
    embedding_dim: int
    vocab_sizes: Dict[str, int]  # transformed id feature -> table size, OOV bucket included
    user_categorical: List[str]
    user_numeric: List[str]
    item_numeric: List[str]
    # Text embedding of each item, by item vocabulary index (the OOV row is zeros).
    item_text_table: Optional[object] = None
    # Share of training examples whose item id is replaced by the OOV id, so that
    # hybrid models learn to score items from their content alone.
    id_dropout: float = 0.0
    # L2 penalty on the item tables and the text projection.
    l2: float = 0.0
    # history_sequence: how many recent items it reads, attention heads, dropout.
    sequence_length: int = 50
    sequence_heads: int = 2
    sequence_dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One feature block; the module docstring states what each field must provide.

    Example: the item's numeric fields as a block of their own, read from the data.

    ```python
    BlockSpec(
        "item_numeric", CANDIDATE, item_numeric_fields,
        lambda c, name: _layers().FieldFeatures(
            [], c.item_numeric, c.vocab_sizes, c.embedding_dim, name=name))
    ```
    """
    name: str
    side: str
    reads: Callable[[RawFeatureSpec], List[str]]
    build: Callable[[BlockContext, str], object]
    needs_text: bool = False
    score_bias: bool = False
    reads_item_vectors: bool = False
    order_aware: bool = False
    item_item: bool = False


def _is_string(spec) -> bool:
    return spec.dtype == "string"  # a tf.DType equals its name


def user_fields(raw_feature_spec: RawFeatureSpec) -> List[str]:
    """user_<field> features: strings are categorical, numbers numeric."""
    return sorted(name for name in raw_feature_spec if features.is_user_feature(name))


def item_numeric_fields(raw_feature_spec: RawFeatureSpec) -> List[str]:
    return sorted(name for name, spec in raw_feature_spec.items()
                  if features.is_item_numeric_feature(name) and not _is_string(spec))


def _just(*names: str) -> Callable[[RawFeatureSpec], List[str]]:
    return lambda raw_feature_spec: list(names)


def _layers():
    from models import layers  # TensorFlow loads when a block is built, not when a config names one.

    return layers


BLOCKS: Dict[str, BlockSpec] = {spec.name: spec for spec in [
    BlockSpec(
        "user_id", QUERY, _just(features.USER_ID),
        lambda c, name: _layers().IdEmbedding(
            features.USER_ID, c.vocab_sizes[features.USER_ID], c.embedding_dim, name=name)),
    BlockSpec(
        "user_features", QUERY, user_fields,
        lambda c, name: _layers().FieldFeatures(
            c.user_categorical, c.user_numeric, c.vocab_sizes, c.embedding_dim, name=name)),
    BlockSpec(
        "history", QUERY, _just(features.HISTORY_ITEM_IDS),
        lambda c, name: _layers().PooledIdEmbedding(
            features.HISTORY_ITEM_IDS, c.vocab_sizes[features.ITEM_ID], c.embedding_dim, name=name)),
    BlockSpec(
        "history_text", QUERY, _just(features.HISTORY_ITEM_IDS),
        lambda c, name: _layers().PooledItemText(
            features.HISTORY_ITEM_IDS, c.item_text_table, c.embedding_dim, name=name),
        needs_text=True),
    BlockSpec(
        "history_bag", QUERY, _just(features.HISTORY_ITEM_IDS),
        lambda c, name: _layers().HistoryBag(features.HISTORY_ITEM_IDS, name=name),
        reads_item_vectors=True),
    BlockSpec(
        "history_sequence", QUERY, _just(features.HISTORY_ITEM_IDS),
        lambda c, name: _layers().HistorySequence(
            features.HISTORY_ITEM_IDS, c.sequence_length, c.embedding_dim, c.sequence_heads,
            c.sequence_dropout, name=name),
        reads_item_vectors=True, order_aware=True),
    BlockSpec(
        "item_item", QUERY, _just(features.HISTORY_ITEM_IDS),
        lambda c, name: _layers().ItemItem(
            features.HISTORY_ITEM_IDS, c.vocab_sizes[features.ITEM_ID], name=name),
        item_item=True),
    BlockSpec(
        "item_id", CANDIDATE, _just(features.ITEM_ID),
        lambda c, name: _layers().IdEmbedding(
            features.ITEM_ID, c.vocab_sizes[features.ITEM_ID], c.embedding_dim,
            dropout=c.id_dropout, l2=c.l2,
            initializer="glorot_uniform" if c.l2 else "uniform", name=name)),
    BlockSpec(
        "item_bias", CANDIDATE, _just(features.ITEM_ID),
        lambda c, name: _layers().ItemBias(
            features.ITEM_ID, c.vocab_sizes[features.ITEM_ID], name=name),
        score_bias=True),
    BlockSpec(
        "item_tags", CANDIDATE, _just(features.ITEM_TAGS),
        lambda c, name: _layers().PooledIdEmbedding(
            features.ITEM_TAGS, c.vocab_sizes[features.ITEM_TAGS], c.embedding_dim, l2=c.l2,
            name=name)),
    BlockSpec(
        "item_numeric", CANDIDATE, item_numeric_fields,
        lambda c, name: _layers().FieldFeatures(
            [], c.item_numeric, c.vocab_sizes, c.embedding_dim, name=name)),
    BlockSpec(
        "item_text", CANDIDATE, _just(features.ITEM_TEXT),
        lambda c, name: _layers().ItemText(c.embedding_dim, l2=c.l2, name=name),
        needs_text=True),
]}


def get(name: str) -> BlockSpec:
    try:
        return BLOCKS[name]
    except KeyError:
        raise ValueError(f"unknown feature block {name!r}; known blocks: {sorted(BLOCKS)}") from None


def on_side(block_names: Sequence[str], side: str) -> List[str]:
    """The blocks of `block_names` that describe `side` (QUERY or CANDIDATE), in order."""
    return [name for name in block_names if get(name).side == side]


def needs_text(block_names: Sequence[str]) -> bool:
    return any(get(name).needs_text for name in block_names)


def is_available(name: str, raw_feature_spec: RawFeatureSpec) -> bool:
    """Whether the data has every feature the block reads (and it reads at least one)."""
    reads = get(name).reads(raw_feature_spec)
    return bool(reads) and all(feature in raw_feature_spec for feature in reads)


def usable(block_names: Sequence[str], raw_feature_spec: RawFeatureSpec, model: str) -> List[str]:
    """The available blocks of `block_names`, in order; logs the ones left out.

    Args:
      block_names: what a family or config asks for, both sides.
      raw_feature_spec: the data's raw features.
      model: names the model in the log and errors ("retrieval", "ranking").

    Raises:
      ValueError: a side is left without a block.
    """
    kept = [name for name in block_names if is_available(name, raw_feature_spec)]
    if len(kept) < len(block_names):
        logging.warning("%s: the data has no features for block(s) %s; left out",
                        model, [name for name in block_names if name not in kept])
    for side in (QUERY, CANDIDATE):
        if not on_side(kept, side):
            raise ValueError(f"{model}: none of the {side} blocks {on_side(block_names, side)} "
                             "has its features in this data")
    return kept


def raw_features(block_names: Sequence[str], raw_feature_spec: RawFeatureSpec) -> List[str]:
    """The raw (pre-Transform) features these blocks read, each once, in block order."""
    names: List[str] = []
    for block in block_names:
        names.extend(n for n in get(block).reads(raw_feature_spec) if n not in names)
    return names


def build(name: str, context: BlockContext):
    """The layer of block `name` for this data and model.

    Args:
      name: an entry of BLOCKS.
      context: the data's vocabularies and fields, the embedding size, the item
        text table (required by blocks that need text).

    Returns:
      A tf_keras Layer named `name`: transformed features -> `[batch, dim]`.
    """
    spec = get(name)
    if spec.needs_text and context.item_text_table is None:
        raise ValueError(f"block {name!r} needs item text embeddings (a text encoder)")
    return spec.build(context, name)
