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
      query_blocks: QUERY-side entries of blocks.BLOCKS, concatenated into the query tower.
      candidate_blocks: CANDIDATE-side entries, concatenated into the candidate tower.
      id_dropout: share of training examples whose item id is replaced by the OOV
        id, so that the content blocks learn to score items never seen in training.

    Example:

    ```python
    FAMILIES["cf_tags"] = Family("ids plus tags", query_blocks=("user_id", "history"),
                                 candidate_blocks=("item_id", "item_tags"))
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
        "collaborative filtering: user and item id embeddings (the TFRS tutorial model) "
        "plus the pooled ids of the user's recent items",
        query_blocks=("user_id", "history"),
        candidate_blocks=("item_id",)),
    "content": Family(
        "content-based: items from their BERT text embedding and tags, users from the "
        "text of their recent items and their own features",
        query_blocks=("history_text", "user_features"),
        candidate_blocks=("item_text", "item_tags")),
    "hybrid": Family(
        "both: id embeddings where the data has them, content everywhere",
        query_blocks=("user_id", "history", "history_text", "user_features"),
        candidate_blocks=("item_id", "item_text", "item_tags"),
        id_dropout=0.2),
}


def get(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown algorithm family {name!r}; known: {sorted(FAMILIES)}") from None
