"""Shared test set-up: TensorFlow flags before any import, the shared data folder."""
import os
import pathlib
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
MOVIELENS_100K = REPO_ROOT.parent / "shared" / "data" / "ml-100k"


@pytest.fixture(scope="session")
def movielens_dir() -> pathlib.Path:
    if not (MOVIELENS_100K / "u.data").exists():
        pytest.skip(f"MovieLens 100K not found at {MOVIELENS_100K}")
    return MOVIELENS_100K
