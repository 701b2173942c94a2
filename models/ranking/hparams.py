"""Hyperparameters of the ranking model (no TensorFlow import: the config reads them)."""
import dataclasses
from typing import List

from models import blocks as blocks_lib

TASKS = ("rating", "implicit")
CROSS_STRUCTURES = ("stacked", "parallel")


@dataclasses.dataclass
class RankingHparams:
    """Defaults tuned for ratings on MovieLens 100K (seeded random 80/20 of all rows: RMSE 0.90)."""
    # "rating": regress the rating (MSE); "implicit": tell interactions from
    # sampled negatives (binary cross-entropy).
    task: str = "rating"
    blocks: List[str] = dataclasses.field(default_factory=lambda: [
        "user_id", "user_features", "history", "item_id", "item_tags", "item_numeric"])
    embedding_dim: int = 32
    cross_layers: int = 2
    cross_structure: str = "parallel"  # cross beside deep, or (stacked) cross then deep
    cross_projection_dim: int = 0     # > 0: low-rank cross kernels
    deep_layers: List[int] = dataclasses.field(default_factory=lambda: [256, 128])
    dropout: float = 0.0          # after each deep layer
    feature_dropout: float = 0.6  # on the concatenated feature vectors (the DCN's input)
    l2: float = 0.0               # on the cross and deep kernels
    learning_rate: float = 3e-3
    epochs: int = 30
    batch_size: int = 1024
    # Implicit feedback: shuffled in-batch items paired with each user as negatives
    # in training; random catalogue items per example in the exported evaluation.
    negatives: int = 1
    eval_negatives: int = 4
    # > 0 adds an in-batch softmax retrieval task on the two sides' blocks; its
    # loss is a mean over the batch, so 1.0 weighs it like the ranking loss.
    retrieval_weight: float = 0.0
    id_dropout: float = 0.0
    seed: int = 0
    text_batch_size: int = 256

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"ranking task must be one of {TASKS}, got {self.task!r}")
        if self.cross_structure not in CROSS_STRUCTURES:
            raise ValueError(f"cross_structure must be one of {CROSS_STRUCTURES}, "
                             f"got {self.cross_structure!r}")
        unknown = [b for b in self.blocks if b not in blocks_lib.BLOCKS]
        if unknown:
            raise ValueError(f"unknown ranking feature block(s) {unknown}; "
                             f"known: {sorted(blocks_lib.BLOCKS)}")
        if not self.user_blocks or not self.item_blocks:
            known = list(blocks_lib.BLOCKS)
            raise ValueError(
                f"ranking blocks need at least one user block "
                f"{blocks_lib.on_side(known, blocks_lib.QUERY)} and one item block "
                f"{blocks_lib.on_side(known, blocks_lib.CANDIDATE)}, got {self.blocks}")

    @property
    def user_blocks(self) -> List[str]:
        return blocks_lib.on_side(self.blocks, blocks_lib.QUERY)

    @property
    def item_blocks(self) -> List[str]:
        return blocks_lib.on_side(self.blocks, blocks_lib.CANDIDATE)

    @property
    def uses_text(self) -> bool:
        return blocks_lib.needs_text(self.blocks)

    def to_dict(self) -> dict:
        """The fields of the model (not those a subclass adds for the pipeline)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RankingHparams)}
