"""The README's promises: every file, module, config key and command it names exists and parses, and its
Python snippet runs on the model the end-to-end run pushed.

Running the commands is the other tests' work (the e2e run is `unirec run`; the served-model tests are
`unirec serve` and `unirec query`); this one keeps the README from pointing at what is not there.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import os
import re
import shlex
from pathlib import Path

import pytest

from pipeline import cli
from pipeline import config as config_lib

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()
# The checkout's entries, less what .gitignore keeps out of the repository (output/
# exists once `make run` has run).
_IGNORED = {line.strip("/") for line in (REPO_ROOT / ".gitignore").read_text().splitlines()
            if line.startswith("/")}
TOP_LEVEL = {path.name for path in REPO_ROOT.iterdir()} - _IGNORED
PACKAGES = ("models", "pipeline", "serving", "components", "data_contract")
SECTIONS = tuple(field.name for field in dataclasses.fields(config_lib.PipelineConfig)
                 if dataclasses.is_dataclass(getattr(config_lib.PipelineConfig(), field.name)))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _inline_code() -> list[str]:
    prose = FENCE.sub("", README)
    return [" ".join(token.split()) for token in re.findall(r"`([^`]+)`", prose)]


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang == language]


def _is_repo_path(token: str) -> bool:
    """A path into this repository: its first part is a top-level entry (not output/, an image name, ...)."""
    return "/" in token and not re.search(r"[<>{}*\s]", token) and token.split("/")[0] in TOP_LEVEL


def _commands() -> list[list[str]]:
    """The shell commands of the README's sh blocks, continuation lines joined, comments and VAR= dropped."""
    commands = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words:
                commands.append(words)
    return commands


def test_files_it_names_exist():
    named = {token for token in _inline_code() if _is_repo_path(token)}
    named |= {value.split("=", 1)[-1] for words in _commands() for value in words
              if _is_repo_path(value.split("=", 1)[-1])}
    assert named, "no repository path found in the README"
    assert sorted(path for path in named if not (REPO_ROOT / path).exists()) == []


def test_layout_lists_what_is_there():
    layout = next(block for block in _blocks("") if block.startswith("pipeline/"))
    missing, folder = [], ""
    for line in layout.splitlines():
        if top := re.match(r"^(\S+/)\s{2,}", line):
            folder = top.group(1)
            names = [folder]
        elif entry := re.match(r"^  (\S+(?:, \S+)*)\s{2,}", line):
            names = [folder + name for name in entry.group(1).split(", ")]
        else:
            continue
        missing += [name for name in names if not (REPO_ROOT / name).exists()]
    assert missing == []


def _importable(dotted: str) -> bool:
    """A module, or an attribute of one."""
    module, _, attribute = dotted.rpartition(".")
    for name, wanted in ((dotted, None), (module, attribute)):
        try:
            imported = importlib.import_module(name)
        except ImportError:
            continue
        return wanted is None or hasattr(imported, wanted)
    return False


def test_modules_and_config_keys_it_names_exist():
    problems = []
    for token in _inline_code():
        if not re.fullmatch(r"\w+(\.\w+)+", token):
            continue
        head, *rest = token.split(".")
        if head in PACKAGES and not _importable(token):
            problems.append(token)
        elif head in SECTIONS:
            node = getattr(config_lib.PipelineConfig(), head)
            for part in rest:
                if not hasattr(node, part):
                    problems.append(token)
                    break
                node = getattr(node, part)
    assert problems == []


def _check_command(words: list[str]) -> None:
    """Parses a command with the parser of the program it names; argparse exits 2 on anything unknown."""
    program, args = os.path.basename(words[0]), words[1:]
    if program == "make":
        assert all(re.search(rf"^{re.escape(target)}:", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
                   for target in args), words
    elif program == "unirec" and args[0] in ("serve", "query", "soak"):
        from serving import cli as serving_cli, query_cli, soak

        parser = {"serve": serving_cli, "query": query_cli, "soak": soak}[args[0]].build_parser()
        parser.parse_args(args[1:])
    elif program == "unirec":
        parsed = cli.build_parser().parse_args(args)
        if parsed.command == "run":  # the overrides name config keys that exist (the file may be the reader's)
            config_lib.load_config(None, cli.config_overrides(parsed))
    elif program == "python" and args[0] == "-m":
        assert importlib.util.find_spec(args[1]) is not None, words
    elif program == "python":
        assert (REPO_ROOT / args[0]).is_file(), words


def test_commands_it_shows_parse():
    commands = _commands()
    assert any(os.path.basename(words[0]) == "unirec" for words in commands)
    for words in commands:
        if os.path.basename(words[0]) in ("make", "unirec", "python"):
            _check_command(words)
    subcommands = next(action.choices for action in cli.build_parser()._actions
                       if isinstance(action, argparse._SubParsersAction))
    for token in _inline_code():  # `unirec <command> ...` in the prose (not the list `run | benchmark | ...`)
        words = token.split()
        if words[0] == "unirec" and "|" not in words:
            assert words[1] in subcommands, token
            if "--help" not in words and any(word.startswith("--") for word in words):
                _check_command(words)


def test_python_snippet_runs_on_the_pushed_model(finished_run):
    snippet = next(block for block in _blocks("python") if "tf.saved_model.load" in block)
    base_path = Path(finished_run.serving_root) / "retrieval"
    version_dir = base_path / max(os.listdir(base_path), key=int)
    namespace: dict = {}
    exec(snippet.replace('"output/serving/retrieval/<version>"', repr(str(version_dir))), namespace)
    out = namespace["out"]
    assert out["item_ids"].shape[0] == 1 and out["item_ids"].shape == out["scores"].shape


@pytest.mark.parametrize("token, repo_path", [("tests/models/test_text_encoder.py", True), ("output/serving", False),
                                              ("tensorflow/serving", False), ("models/<type>/x.py", False)])
def test_repo_paths_are_told_from_other_slashes(token, repo_path):
    assert _is_repo_path(token) == repo_path
