"""`unirec forget`: the user's pseudonym goes on the erasure list beside the outputs, once."""
from data_contract import pseudonyms
from pipeline import cli


def test_forget_appends_the_pseudonym_once_and_never_prints_the_raw_id(tmp_path, capsys):
    output_dir = tmp_path / "out"
    assert cli.main(["forget", "--user", "u0003", "--user", "u0004", "--output-dir", str(output_dir)]) == 0
    assert cli.main(["forget", "--user", "u0003", "--output-dir", str(output_dir)]) == 0
    printed = capsys.readouterr().out
    assert "u0003" not in printed and "0 user(s) added" in printed and "(1 already on it)" in printed
    pseudonymiser = pseudonyms.Pseudonymiser(pseudonyms.resolve_key())
    erasure_list = tmp_path / "out-erased-users.txt"
    assert erasure_list.read_text() == f"{pseudonymiser('u0003')}\n{pseudonymiser('u0004')}\n"
    assert not output_dir.exists()  # beside the outputs, not in them


def test_a_malformed_erasure_list_is_a_clear_error(tmp_path, capsys):
    erasure_list = tmp_path / "erased.txt"
    erasure_list.write_text("u0003\n")
    assert cli.main(["forget", "--user", "u0004", "--set", f"privacy.erased_users_file={erasure_list}"]) == 2
    assert f"{erasure_list}, line 1: expected a pseudonym" in capsys.readouterr().err
