"""Shared test set-up: quiet TensorFlow, Keras 2 before any test imports it, the shared data."""
import os
import pathlib
import warnings

import pytest

import models  # noqa: F401  asks TensorFlow for Keras 2 before a test imports it

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
MOVIELENS_100K = REPO_ROOT.parent / "shared" / "data" / "ml-100k"


@pytest.fixture(scope="session")
def movielens_dir() -> pathlib.Path:
    if not (MOVIELENS_100K / "u.data").exists():
        pytest.skip(f"MovieLens 100K not found at {MOVIELENS_100K}")
    return MOVIELENS_100K
