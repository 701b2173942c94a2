"""Hyperparameters of the ranking model (no TensorFlow import: the config reads them)."""
import dataclasses
from typing import List

from models import blocks as blocks_lib

TASKS = ("rating", "implicit")
CROSS_STRUCTURES = ("stacked", "parallel")


@dataclasses.dataclass
class RankingHparams:
    """Defaults tuned for ratings on MovieLens 100K on a validation carve of the train
    split of benchmark protocol P2 (seeded random 80/20 of all rows). P2 RMSE: 0.882;
    0.900 without the neighbour pools and the weight average."""
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
    # > 0: the fitted model is the moving average of its weights over the steps
    # (models/ranking/averaging.py; 0.995: about the last 200 of a long run).
    ema_momentum: float = 0.995
    epochs: int = 20
    batch_size: int = 1024
    # Implicit feedback: shuffled in-batch items paired with each user as negatives
    # in training; random catalogue items per example in the exported evaluation.
    negatives: int = 1
    eval_negatives: int = 4
    # > 0 adds an in-batch softmax retrieval task on the two sides' blocks; its
    # loss is a mean over the batch, so 1.0 weighs it like the ranking loss.
    retrieval_weight: float = 0.0
    id_dropout: float = 0.0
    # More DCN inputs (models/ranking/neighbours.py): the pooled embeddings of the
    # user's rated items and of the item's raters in the train split, and of their
    # ratings when neighbour_ratings (rating task).
    user_neighbours: bool = True
    item_neighbours: bool = True
    neighbour_ratings: bool = True
    seed: int = 0
    text_batch_size: int = 256

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"ranking task must be one of {TASKS}, got {self.task!r}")
        if self.cross_structure not in CROSS_STRUCTURES:
            raise ValueError(f"cross_structure must be one of {CROSS_STRUCTURES}, "
                             f"got {self.cross_structure!r}")
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ValueError(f"ema_momentum must be in [0, 1), got {self.ema_momentum}")
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
