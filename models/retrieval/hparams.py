"""Hyperparameters of the retrieval model (no TensorFlow import: the config reads them)."""
import dataclasses

from models import families

OPTIMIZERS = ("adam", "adagrad")


@dataclasses.dataclass
class RetrievalHparams:
    family: str = "cf"  # models/families.py
    embedding_dim: int = 64
    epochs: int = 5
    batch_size: int = 1024
    optimizer: str = "adam"  # "adam" or "adagrad"
    learning_rate: float = 0.01
    temperature: float = 0.1
    # Sampling-bias (log-Q) correction of the in-batch softmax. In-batch
    # negatives are drawn by popularity; without it popular items are pushed
    # down (on ML-100K P1, NDCG@10 falls from about 0.2 to 0.06).
    logq_correction: bool = True
    top_k: int = 100
    seed: int = 0
    text_batch_size: int = 256

    def __post_init__(self):
        families.get(self.family)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")

    @property
    def uses_text(self) -> bool:
        return families.get(self.family).uses_text

    def to_dict(self) -> dict:
        """The fields of the model (not those a subclass adds for the pipeline)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RetrievalHparams)}
