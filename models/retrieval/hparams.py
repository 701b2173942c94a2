"""Hyperparameters of the retrieval model (no TensorFlow import: the config reads them).

The defaults were chosen on validation carves of the training data (20% of
each user's training items: random for a random split, the most recent for a
temporal one) of MovieLens 100K and the synthetic catalogue, never on a test
split; the README's "Retrieval quality" section gives the runs.
"""
import dataclasses
from typing import List

from models import families
from models.retrieval import index, objectives

REFIT_CONTINUE, REFIT_SCRATCH, REFIT_NONE = "continue", "scratch", "none"
REFITS = (REFIT_CONTINUE, REFIT_SCRATCH, REFIT_NONE)


@dataclasses.dataclass
class RetrievalHparams:
    family: str = "cf"  # models/families.py
    embedding_dim: int = 200
    # L2 penalty on the item tables and the text projection (per weight, on the
    # mean loss per user).
    l2: float = 0.01
    learning_rate: float = 1e-3
    # Users per step, at most: smaller datasets use smaller batches so that an
    # epoch has at least `min_steps_per_epoch` steps.
    batch_size: int = 128
    min_steps_per_epoch: int = 8
    # What the model learns to predict (models/retrieval/objectives.py): "auto"
    # follows the split ("future" for a temporal one, "denoise" for a random one).
    objective: str = "auto"
    mask_rate: float = 0.5
    future_min: float = 0.05
    future_max: float = 0.5
    # history_sequence: the recent items its Transformer reads.
    sequence_length: int = 20
    sequence_heads: int = 2
    sequence_dropout: float = 0.1
    # Model selection: fit on all but a seeded `validation_fraction` of each
    # user's history, score the held-out part every `validation_every` epochs
    # (full-catalogue NDCG@10). When several recipes are tried (objective
    # "auto" on a temporal split), each trains `race_epochs`, then only the
    # leader goes on; it stops after `patience` scores without a better one or
    # after `epochs`. Above `race_max_users` users the race trains on a seeded
    # sample of about that many (0: all): it only has to tell the recipes apart,
    # and at ML-10M's 69,878 users its 2 x 15 full epochs took 14 minutes. The
    # refit then learns the carved items too: "continue" trains the chosen model
    # `refit_epochs` more on whole histories, "scratch" trains a new one on whole
    # histories for the best number of epochs, "none" keeps the selected model.
    epochs: int = 150
    validation_fraction: float = 0.2
    validation_every: int = 5
    patience: int = 3
    race_epochs: int = 15
    race_max_users: int = 20_000
    # The carve is scored on a seeded sample of about this many users when there
    # are more (0: all): each score ranks the whole catalogue for every user, 142 s
    # a pass at ML-25M's 162,541 users and 59,047 items.
    validation_max_users: int = 20_000
    refit: str = REFIT_CONTINUE
    refit_epochs: int = 5
    # A compute budget for model selection: the chosen recipe trains at most about
    # this many steps, its race included (0: no limit). It binds only on large
    # data: 150 epochs are 1,200 steps on ML-100K and 7,200 on ML-1M (where patience
    # stops the leader near epoch 50). At ML-10M (546 steps an epoch over 69,878
    # users, after a race of 15 x 158) it stops the leader at epoch 20. On that
    # carve the score had stopped rising there: 0.2305 at epoch 20, 0.2282 at 25;
    # an earlier run, 0.2268 at 20 and 0.2278 at 50, 21 minutes of training later.
    max_steps: int = 5200
    # Model selection scores, and the refit ends on, the moving average of the
    # weights over about this many epochs of steps (models/retrieval/averaging.py;
    # 0: the last step's weights). 2 was set before measuring; on the ML-100K
    # carves 1, 2, 4 and 8 all score above 0 and within 0.005 of each other.
    weight_average_epochs: float = 2.0
    # The softmax runs over the whole catalogue up to this many items; above,
    # over each step's targets plus `sampled_negatives` uniformly drawn items,
    # and a step reads and updates only those and the history's rows
    # (models/retrieval/model.py, models/row_adam.py).
    full_softmax_max_items: int = 50_000
    sampled_negatives: int = 8192
    # The item-item block (models/retrieval/item_item.py): EASE's L2, the
    # scales the validation carve chooses from (0 leaves the term out) and the
    # history decays (the item at recency rank r weighs decay^r; 1: all alike;
    # tried only where order matters, a random split takes 1). Its
    # matrix holds items² floats (1.7K items: 2.9M floats, 11 MB; 10K: 100M,
    # 400 MB, in training and in the exported model): above
    # `item_item_max_items` the block is left out, with a log line.
    item_item_l2: float = 400.0
    item_item_scales: List[float] = dataclasses.field(
        default_factory=lambda: [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
    item_item_decays: List[float] = dataclasses.field(
        default_factory=lambda: [1.0, 0.99, 0.97, 0.95, 0.9, 0.8])
    # The weights of the forward co-occurrence added to EASE's matrix (what users
    # take after an item), chosen on the carve where order matters (0: EASE alone).
    item_item_sequence_weights: List[float] = dataclasses.field(
        default_factory=lambda: [0.0, 0.5, 1.0, 2.0])
    item_item_max_items: int = 5000
    top_k: int = 100
    # The exported top-k index (models/retrieval/index.py): "brute_force" (exact;
    # stock TF Serving runs it), "scann" (approximate, needs ScaNN's ops where the
    # model is served) or "auto" (ScaNN from `scann_min_items` catalogue items on;
    # at 100K items it returned 99% of the exact top 100, 4x faster per query; at
    # 500K, 94% and 15x: benchmarks/scann_index.py).
    index: str = "brute_force"
    scann_min_items: int = 100_000
    seed: int = 0
    text_batch_size: int = 256

    def __post_init__(self):
        families.get(self.family)
        objectives.resolve(self.objective, order_matters=True)
        index.check_kind(self.index)
        if self.embedding_dim % self.sequence_heads:
            raise ValueError(f"embedding_dim {self.embedding_dim} must divide by "
                             f"sequence_heads {self.sequence_heads}")
        if not self.item_item_scales or min(self.item_item_scales) < 0:
            raise ValueError(f"item_item_scales must be non-negative numbers, got "
                             f"{self.item_item_scales}")
        if not self.item_item_sequence_weights or min(self.item_item_sequence_weights) < 0:
            raise ValueError(f"item_item_sequence_weights must be non-negative numbers, got "
                             f"{self.item_item_sequence_weights}")
        if not self.item_item_decays or not all(0 < d <= 1 for d in self.item_item_decays):
            raise ValueError(f"item_item_decays must be numbers in (0, 1], got "
                             f"{self.item_item_decays}")
        if self.refit not in REFITS:
            raise ValueError(f"refit must be one of {REFITS}, got {self.refit!r}")
        if self.race_epochs < 1 or self.refit_epochs < 1:
            raise ValueError(f"race_epochs and refit_epochs must be at least 1, got "
                             f"{self.race_epochs} and {self.refit_epochs}")
        if self.weight_average_epochs < 0:
            raise ValueError(f"weight_average_epochs must be >= 0 (0: off), "
                             f"got {self.weight_average_epochs}")
        if self.validation_max_users < 0:
            raise ValueError(f"validation_max_users must be >= 0 (0: all users), "
                             f"got {self.validation_max_users}")
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0 (0: no limit), got {self.max_steps}")
        if self.race_max_users < 0:
            raise ValueError(f"race_max_users must be >= 0 (0: all users), "
                             f"got {self.race_max_users}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), "
                             f"got {self.validation_fraction}")

    @property
    def uses_text(self) -> bool:
        return families.get(self.family).uses_text

    def to_dict(self) -> dict:
        """The fields of the model (not those a subclass adds for the pipeline)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RetrievalHparams)}
