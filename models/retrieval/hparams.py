"""Hyperparameters of the retrieval model (no TensorFlow import: the config reads it)."""
import dataclasses

from models import registry


@dataclasses.dataclass
class Hyperparameters:
    family: str = "cf"  # see models/registry.py
    embedding_dim: int = 64
    epochs: int = 5
    batch_size: int = 1024
    learning_rate: float = 0.1
    temperature: float = 0.1
    top_k: int = 100
    seed: int = 0
    text_batch_size: int = 256

    def __post_init__(self):
        registry.get(self.family)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(Hyperparameters)}
