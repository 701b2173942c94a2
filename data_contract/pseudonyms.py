"""Pseudonymous users: every user id is replaced by a keyed hash before anything is written.

pseudonym = "p" + the first 16 hex digits (64 bits) of HMAC-SHA256(key, raw user id).
Without the key a pseudonym cannot be traced back to the raw id, nor recomputed
from it. The key comes from configuration and never enters an artifact:

1. the environment variable UNIREC_PSEUDONYM_KEY, else
2. the file `privacy.key_file` of the config, else
3. a per-machine key generated once at $XDG_CONFIG_HOME/tfx-unirec/pseudonym.key
   (default ~/.config/...), readable by its owner only.

What may be stored is the key's id (a keyed hash of a constant), so that a run
with another key does not reuse cached artifacts.

Forgetting a user: their pseudonym goes into the erasure list (one pseudonym a
line); ingestion drops their interactions and their row of the users table.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import re
import secrets
from typing import FrozenSet, Tuple

import numpy as np
import pandas as pd

from data_contract.contract import Dataset
from data_contract.errors import ContractError
from models import features

KEY_ENV = "UNIREC_PSEUDONYM_KEY"
PREFIX = "p"
HEX_DIGITS = 16
PATTERN = re.compile(rf"^{PREFIX}[0-9a-f]{{{HEX_DIGITS}}}$")
MIN_KEY_CHARS = 16
_KEY_ID_MESSAGE = b"tfx-unirec pseudonym key id"
_ERASED_DIGEST_MESSAGE = b"tfx-unirec erased users: "

log = logging.getLogger(__name__)


class PseudonymKeyError(ValueError):
    """A pseudonym key that is missing, unreadable or too short."""


def default_key_path() -> str:
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config_home, "tfx-unirec", "pseudonym.key")


def _key_from_text(text: str, where: str) -> bytes:
    key = text.strip()
    if len(key) < MIN_KEY_CHARS:
        raise PseudonymKeyError(f"{where}: a pseudonym key needs at least {MIN_KEY_CHARS} characters, "
                        f"got {len(key)}")
    return key.encode("utf-8")


def _read_key_file(path: str) -> bytes:
    try:
        with open(path, encoding="utf-8") as f:
            return _key_from_text(f.read(), f"pseudonym key file {path}")
    except OSError as e:
        raise PseudonymKeyError(f"cannot read the pseudonym key file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise PseudonymKeyError(f"pseudonym key file {path}: expected text (e.g. 64 hex digits)") from None


def _generated_key(path: str) -> bytes:
    """The key at `path`, created (owner-only) on first use."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(descriptor, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
    log.warning("Generated this machine's pseudonym key at %s (keep it: a new key means "
                "new pseudonyms and a retrain)", path)
    return _read_key_file(path)


def resolve_key(key_file: str = "", create: bool = True) -> bytes:
    """The key from the environment, else from `key_file`, else this machine's own
    (generated on first use when `create`)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return _key_from_text(from_env, f"environment variable {KEY_ENV}")
    if key_file:
        return _read_key_file(key_file)
    path = default_key_path()
    if not create and not os.path.exists(path):
        raise PseudonymKeyError(
            f"no pseudonym key: set {KEY_ENV}, name a key file, or copy the pipeline "
            f"machine's key to {path}")
    return _generated_key(path)


class Pseudonymiser:
    """Raw user id -> pseudonym under one key."""

    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, raw_user_id: str) -> str:
        digest = hmac.new(self._key, raw_user_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:HEX_DIGITS]

    @property
    def key_id(self) -> str:
        """Names the key without revealing it: stored so that a new key invalidates caches."""
        return hmac.new(self._key, _KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:HEX_DIGITS]

    def digest(self, content: bytes) -> str:
        """A keyed digest of `content` (the erasure list): changes with it, reveals nothing."""
        return hmac.new(self._key, _ERASED_DIGEST_MESSAGE + content, hashlib.sha256).hexdigest()

    def apply(self, dataset: Dataset, erased: FrozenSet[str] = frozenset()
              ) -> Tuple[Dataset, np.ndarray]:
        """The dataset with pseudonyms for user ids, without the `erased` pseudonyms' users,
        and which of its interactions were kept."""
        interactions, users = dataset.interactions, dataset.users
        mapping = self._mapping(interactions[features.USER_ID], users[features.USER_ID])
        interactions = _with_user_ids(interactions, mapping)
        users = _with_user_ids(users, mapping)
        kept = ~interactions[features.USER_ID].isin(erased).to_numpy()
        if not kept.any():
            raise ContractError(f"Dataset {dataset.name!r}: every user with interactions is on "
                                "the erasure list; nothing is left to train on")
        if not kept.all():
            interactions = interactions[kept].reset_index(drop=True)
        users = users[~users[features.USER_ID].isin(erased)].reset_index(drop=True)
        return dataclasses.replace(dataset, interactions=interactions, users=users), kept

    def _mapping(self, *id_columns) -> dict:
        raw_ids = sorted(set().union(*(set(column) for column in id_columns)))
        mapping = {raw: self(raw) for raw in raw_ids}
        if len(set(mapping.values())) != len(mapping):
            # 64 bits: about one chance in 10^9 for a million users. Raw ids are not printed.
            raise ContractError(
                f"two of the {len(mapping)} user ids have the same pseudonym under this key; "
                f"set another key ({KEY_ENV} or privacy.key_file) and rerun")
        return mapping


def _with_user_ids(frame: pd.DataFrame, mapping: dict) -> pd.DataFrame:
    """The frame with its user ids mapped; its other columns shared, not copied (at
    ML-10M's 10M interactions a copy of the frame was 0.3 GB more at ExampleGen's peak)."""
    mapped = frame.copy(deep=False)
    mapped[features.USER_ID] = frame[features.USER_ID].map(mapping)
    return mapped


def read_erased(path: str) -> Tuple[FrozenSet[str], bytes]:
    """The pseudonyms on the erasure list at `path` (none if it does not exist) and the
    file's content."""
    if not path or not os.path.exists(path):
        return frozenset(), b""
    with open(path, "rb") as f:
        content = f.read()
    erased = set()
    for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not PATTERN.match(line):
            raise ContractError(f"{path}, line {number}: expected a pseudonym "
                                f"({PREFIX} + {HEX_DIGITS} hex digits), got a line of "
                                f"{len(line)} characters")
        erased.add(line)
    return frozenset(erased), content


def erased_digest(pseudonymiser: Pseudonymiser, path: str) -> str:
    """What the pipeline stores of the erasure list: a keyed digest of its content."""
    return pseudonymiser.digest(read_erased(path)[1])


def forget(pseudonymiser: Pseudonymiser, raw_user_id: str, path: str) -> Tuple[str, bool]:
    """Adds the user's pseudonym to the erasure list at `path`; returns it and whether it
    was new."""
    pseudonym = pseudonymiser(raw_user_id)
    erased, content = read_erased(path)
    if pseudonym in erased:
        return pseudonym, False
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "ab") as f:
        if content and not content.endswith(b"\n"):
            f.write(b"\n")
        f.write(pseudonym.encode() + b"\n")
    return pseudonym, True


def is_pseudonym(value: str) -> bool:
    return bool(PATTERN.match(value))
