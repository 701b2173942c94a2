"""Algorithm families of the retrieval model: a name -> the feature blocks of each tower.

Adding an algorithm is one entry here (and a block in models/blocks.py if it
needs a new kind of feature). No TensorFlow import: the config validates names.
"""
import dataclasses
from typing import Dict, Tuple

from models import blocks


@dataclasses.dataclass(frozen=True)
class Family:
    """What `retrieval.family` picks: the blocks of the query and candidate towers.

    Args:
      description: one line for the README and error messages.
      query_blocks: QUERY-side entries of blocks.BLOCKS, summed into the query tower.
      candidate_blocks: CANDIDATE-side entries, summed into the item tower (score
        biases into the bias).
      id_dropout: share of training examples whose item id is replaced by the OOV
        id, so that the content blocks learn to score items never seen in training.

    Example:

    ```python
    FAMILIES["cf_tags"] = Family("ids plus tags", query_blocks=("history_bag",),
                                 candidate_blocks=("item_id", "item_tags", "item_bias"))
    ```
    """
    description: str
    query_blocks: Tuple[str, ...]
    candidate_blocks: Tuple[str, ...]
    id_dropout: float = 0.0

    def __post_init__(self):
        for side, names in ((blocks.QUERY, self.query_blocks),
                            (blocks.CANDIDATE, self.candidate_blocks)):
            if not names:
                raise ValueError(f"a family needs at least one {side} block")
            wrong = [name for name in names if blocks.get(name).side != side]
            if wrong:
                raise ValueError(f"blocks {wrong} do not describe the {side} side")

    @property
    def block_names(self) -> Tuple[str, ...]:
        return self.query_blocks + self.candidate_blocks

    @property
    def uses_text(self) -> bool:
        return blocks.needs_text(self.block_names)


FAMILIES: Dict[str, Family] = {
    "cf": Family(
        "collaborative filtering: items are id embeddings with a bias; a user is the "
        "sum of their items' vectors, plus a Transformer over the recent ones where "
        "order matters, plus an item-item (EASE) term up to item_item_max_items items",
        query_blocks=("history_bag", "history_sequence", "item_item"),
        candidate_blocks=("item_id", "item_bias")),
    "content": Family(
        "content-based: items from their BERT text embedding and tags; a user is the "
        "sum of their items' content vectors plus their own fields",
        query_blocks=("history_bag", "user_features"),
        candidate_blocks=("item_text", "item_tags")),
    "hybrid": Family(
        "both: ids where training saw the item, content everywhere, user fields; "
        "ids dropped 20% of the time in training so unseen items score from content; "
        "the item-item (EASE) term as in cf",
        query_blocks=("history_bag", "history_sequence", "user_features", "item_item"),
        candidate_blocks=("item_id", "item_text", "item_tags", "item_bias"),
        id_dropout=0.2),
}


def get(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown algorithm family {name!r}; known: {sorted(FAMILIES)}") from None
