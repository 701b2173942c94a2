"""What the example generator records about its split, beside the Examples splits.

`order_matters` says whether the eval interactions come after each user's
training ones in time (a temporal split, or any split that looks like one):
then the order of a user's history predicts what is held out, so the retrieval
trainer learns to predict the future and uses order-aware blocks; in a random
split it learns to fill in a history's missing items instead.
"""
import dataclasses
import json
import os
from typing import List

import numpy as np

SPLIT_INFO_FILE = "split_info.json"
# Share of eval users whose eval interactions all come at or after their last
# training one, above which a split written by another tool counts as temporal.
TEMPORAL_SHARE = 0.9


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    order_matters: bool
    holdout_item_ids: List[str] = dataclasses.field(default_factory=list)


def write(examples_uri: str, info: SplitInfo) -> None:
    with open(os.path.join(examples_uri, SPLIT_INFO_FILE), "w") as f:
        json.dump(dataclasses.asdict(info), f, indent=1)


def read(examples_uri: str) -> SplitInfo:
    """The split's description; an artifact without one counts as temporal, no holdout."""
    path = os.path.join(examples_uri, SPLIT_INFO_FILE)
    if not os.path.exists(path):
        return SplitInfo(order_matters=True)
    with open(path) as f:
        return SplitInfo(**json.load(f))


def looks_temporal(user_codes: np.ndarray, timestamps: np.ndarray, is_eval: np.ndarray) -> bool:
    """Whether, for nearly every user with eval interactions, they all come at or after
    the user's last training interaction."""
    if not is_eval.any() or is_eval.all():
        return True
    num_users = int(user_codes.max()) + 1
    last_train = np.full(num_users, np.iinfo(np.int64).min)
    np.maximum.at(last_train, user_codes[~is_eval], timestamps[~is_eval])
    first_eval = np.full(num_users, np.iinfo(np.int64).max)
    np.minimum.at(first_eval, user_codes[is_eval], timestamps[is_eval])
    evaluated = np.unique(user_codes[is_eval])
    return bool(np.mean(first_eval[evaluated] >= last_train[evaluated]) >= TEMPORAL_SHARE)
