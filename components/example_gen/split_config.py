"""SplitConfig: how UnirecExampleGen divides interactions between train and eval.

No TensorFlow import: the pipeline config builds it from YAML.
"""
import dataclasses

SPLIT_METHODS = ("temporal", "random", "random_rows", "files")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How interactions are divided between train and eval.

    method: "temporal" sends each user's last `eval_fraction` of interactions (by
    time) to eval, "random" a seeded random `eval_fraction` of them; the count is
    floored and every user keeps at least one train interaction. "random_rows"
    sends a seeded random `eval_fraction` of all rows, whatever their user.
    "files" takes a split written by another tool: `train_file` and `test_file`,
    CSVs with header user_id,item_id,rating,timestamp and the dataset's ids.
    holdout_item_fraction: a seeded share of the catalogue kept out of train
    entirely; all interactions with these items go to eval.
    """
    method: str = "temporal"
    eval_fraction: float = 0.2
    seed: int = 0
    holdout_item_fraction: float = 0.0
    train_file: str = ""
    test_file: str = ""

    def __post_init__(self):
        if (self.method == "files") != bool(self.train_file and self.test_file):
            raise ValueError('split method "files" takes both train_file and test_file, '
                             "and only it takes them")
        if self.method not in SPLIT_METHODS:
            raise ValueError(f"split method must be one of {SPLIT_METHODS}, got {self.method!r}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if not 0.0 <= self.holdout_item_fraction < 1.0:
            raise ValueError(f"holdout_item_fraction must be in [0, 1), "
                             f"got {self.holdout_item_fraction}")
