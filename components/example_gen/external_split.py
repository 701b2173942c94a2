"""A train/test split written by another tool, as two CSV files of interactions."""
import dataclasses
from typing import Tuple

import numpy as np
import pandas as pd

from data_contract import csv_files
from data_contract.contract import Dataset
from data_contract.errors import ContractError
from models import features


def load(dataset: Dataset, train_file: str, test_file: str) -> Tuple[Dataset, np.ndarray]:
    """The dataset with the files' interactions instead of its own, and which are test.

    The files hold the dataset's original ids (header user_id,item_id,rating,
    timestamp); item and user features still come from the dataset.
    """
    parts = []
    for path in (train_file, test_file):
        interactions = csv_files.load_csv({"interactions": {"path": path}}).interactions
        unknown = ~interactions[features.ITEM_ID].isin(dataset.items[features.ITEM_ID])
        if unknown.any():
            examples = interactions[features.ITEM_ID][unknown].unique()[:5].tolist()
            raise ContractError(f"{path}: {int(unknown.sum())} rows name items that dataset "
                                f"{dataset.name!r} does not have, e.g. {examples}")
        parts.append(interactions)
    if dataset.has_ratings:
        for path, part in zip((train_file, test_file), parts):
            if features.RATING not in part:
                raise ContractError(f"{path}: dataset {dataset.name!r} has ratings; "
                                    "expected a rating column")
    else:
        parts = [part.drop(columns=[features.RATING], errors="ignore") for part in parts]
    interactions = pd.concat(parts, ignore_index=True)
    eval_mask = np.zeros(len(interactions), dtype=bool)
    eval_mask[len(parts[0]):] = True
    return dataclasses.replace(dataset, interactions=interactions), eval_mask
