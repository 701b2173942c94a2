"""Shared test set-up: quiet TensorFlow, Keras 2 before any test imports it, the shared data."""
import os
import pathlib
import warnings

import pytest
from hypothesis import HealthCheck, settings

import models  # noqa: F401  asks TensorFlow for Keras 2 before a test imports it

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A fixed pseudonym key, so that tests never create this machine's key under ~/.config.
os.environ.setdefault("UNIREC_PSEUDONYM_KEY", "tfx-unirec test pseudonym key")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

# Fuzz tests are seeded (derandomize) so a failure replays; UNIREC_FUZZ_EXAMPLES scales them up
# for a measurement run (e.g. 10000), CI keeps the small default.
settings.register_profile(
    "unirec", derandomize=True, database=None, deadline=None, print_blob=True,
    max_examples=int(os.environ.get("UNIREC_FUZZ_EXAMPLES", "200")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])
settings.load_profile("unirec")

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
MOVIELENS_100K = REPO_ROOT.parent / "shared" / "data" / "ml-100k"


@pytest.fixture(scope="session")
def movielens_dir() -> pathlib.Path:
    if not (MOVIELENS_100K / "u.data").exists():
        pytest.skip(f"MovieLens 100K not found at {MOVIELENS_100K}")
    return MOVIELENS_100K
