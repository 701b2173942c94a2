"""Pseudonyms: a keyed hash of the user id, the key from the environment, a file or this machine."""
import logging
import os
import stat

import pytest

from data_contract import pseudonyms


def test_a_pseudonym_is_keyed_stable_and_shaped():
    first, second = pseudonyms.Pseudonymiser(b"k" * 16), pseudonyms.Pseudonymiser(b"j" * 16)
    assert first("u0001") == first("u0001") != first("u0002")
    assert first("u0001") != second("u0001") and first.key_id != second.key_id
    assert pseudonyms.is_pseudonym(first("u0001")) and len(first("u0001")) == 17
    assert first.key_id not in (b"k" * 16).decode()


def test_the_key_comes_from_the_environment_then_the_key_file_then_this_machine(tmp_path, monkeypatch, caplog):
    key_file = tmp_path / "key.txt"
    key_file.write_text("a key from the key file\n")
    monkeypatch.setenv(pseudonyms.KEY_ENV, "a key from the environment")
    assert pseudonyms.resolve_key(str(key_file)) == b"a key from the environment"
    monkeypatch.delenv(pseudonyms.KEY_ENV)
    assert pseudonyms.resolve_key(str(key_file)) == b"a key from the key file"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with pytest.raises(pseudonyms.PseudonymKeyError, match="no pseudonym key"):
        pseudonyms.resolve_key(create=False)
    with caplog.at_level(logging.WARNING):
        generated = pseudonyms.resolve_key()
    path = tmp_path / "config" / "tfx-unirec" / "pseudonym.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert generated.decode() not in caplog.text
    assert pseudonyms.resolve_key() == generated == pseudonyms.resolve_key(create=False)


def test_a_short_or_unreadable_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(pseudonyms.KEY_ENV, "short")
    with pytest.raises(pseudonyms.PseudonymKeyError, match=f"{pseudonyms.KEY_ENV}: .* at least 16"):
        pseudonyms.resolve_key()
    monkeypatch.delenv(pseudonyms.KEY_ENV)
    with pytest.raises(pseudonyms.PseudonymKeyError, match="cannot read the pseudonym key file"):
        pseudonyms.resolve_key(str(tmp_path / "missing.key"))
