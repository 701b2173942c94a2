"""Hyperparameters of the retrieval model (no TensorFlow import: the config reads it)."""
import dataclasses
from typing import List


@dataclasses.dataclass
class Hyperparameters:
    # Feature blocks of each tower, see models/towers.py.
    query_features: List[str] = dataclasses.field(default_factory=lambda: ["user_id", "history"])
    candidate_features: List[str] = dataclasses.field(default_factory=lambda: ["item_id"])
    embedding_dim: int = 64
    epochs: int = 5
    batch_size: int = 1024
    learning_rate: float = 0.1
    temperature: float = 0.1
    top_k: int = 100
    seed: int = 0

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(Hyperparameters)}
