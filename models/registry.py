"""Algorithm families: a name -> which feature blocks each tower is built from.

Adding an algorithm is one entry here (and a block in models/towers.py if it
needs a new kind of feature). No TensorFlow import: the config validates names.
"""
import dataclasses
from typing import Dict, Tuple


@dataclasses.dataclass(frozen=True)
class Family:
    description: str
    query_blocks: Tuple[str, ...]
    candidate_blocks: Tuple[str, ...]
    # Share of training examples whose item id is replaced by the OOV id.
    id_dropout: float = 0.0

    @property
    def uses_text(self) -> bool:
        return any(block.endswith("_text") for block in self.query_blocks + self.candidate_blocks)


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
