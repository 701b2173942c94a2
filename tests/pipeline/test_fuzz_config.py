"""Fuzzing config files and --set values: a config loads with every value of its declared type, or the
CLI stops with a message naming the problem (exit 2), never a traceback.

Seeded (see tests/conftest.py) so a failing case replays; UNIREC_FUZZ_EXAMPLES raises the count.
"""
from __future__ import annotations

import dataclasses
import typing

import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from fuzz_support import hostile_text, no_hang
from pipeline import cli
from pipeline import config as config_lib

SECTIONS = {
    "examples": ["history_length", "split"],
    "retrieval": ["family", "embedding_dim", "epochs", "learning_rate", "logq_correction", "seed"],
    "ranking": ["enabled", "blocks", "deep_layers", "epochs", "max_rmse"],
    "evaluation": ["cutoffs", "metric", "report_baselines", "min_relative_improvement"],
    "text_encoder": ["checkpoint", "sequence_length"],
    "dataset": ["name", "data_dir", "num_users", "on_bad_row"],
    "trainer": ["strategy", "vertex_training_args", "vertex_region"],
}
TOP_LEVEL = ["pipeline_name", "output_dir", "enable_cache", "beam_pipeline_args", *SECTIONS]
yaml_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), hostile_text,
    st.sampled_from(["cf", "hybrid", "temporal", "synthetic", "csv", "ndcg@10", "popularity", "1e3", "~"]))
yaml_values = st.recursive(yaml_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(hostile_text, st.integers()), inner, max_size=4)),
    max_leaves=12)

# Values of the types the fields take, so that many documents load and their types get checked.
plausible = st.one_of(st.integers(0, 100), st.floats(0, 1), st.booleans(), st.lists(st.integers(1, 100), max_size=3),
                      st.sampled_from(["cf", "hybrid", "content", "synthetic", "ndcg@10", "recall@10"]),
                      st.lists(st.sampled_from(["user_id", "item_id", "ease"]), max_size=2))


@st.composite
def config_documents(draw):
    """Mostly the real sections with values of any type, sometimes unknown keys or raw text."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200)).decode("latin-1")
    if kind == 1:
        return draw(hostile_text)
    doc = {}
    for key in draw(st.lists(st.sampled_from(TOP_LEVEL + ["unknown"]), max_size=5, unique=True)):
        if key in SECTIONS and draw(st.booleans()):
            doc[key] = {name: draw(st.one_of(plausible, yaml_values)) for name in draw(
                st.lists(st.sampled_from(SECTIONS[key] + ["nope"]), max_size=3, unique=True))}
        else:
            doc[key] = draw(yaml_values)
    return yaml.safe_dump(doc, allow_unicode=True)


set_values = st.lists(st.one_of(
    st.builds(lambda section, key, value: f"{section}.{key}={value}",
              st.sampled_from(sorted(SECTIONS)), st.sampled_from(sum(SECTIONS.values(), [])),
              st.one_of(hostile_text, yaml_leaves.map(str))),
    st.builds(lambda key, value: f"{key}={value}", st.sampled_from(TOP_LEVEL), hostile_text),
    hostile_text), max_size=3)


def _check_leaf_types(instance, where: str = "config") -> None:
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if dataclasses.is_dataclass(value):
            _check_leaf_types(value, f"{where}.{field.name}")
        else:
            config_lib._check_type(value, typing.get_type_hints(type(instance))[field.name], f"{where}.{field.name}")


@given(document=config_documents(), assignments=set_values)
def test_config_loads_typed_or_names_the_problem(tmp_path, document, assignments):
    path = tmp_path / "config.yaml"
    path.write_text(document, encoding="utf-8", errors="surrogatepass")
    argv = ["run", "--config", str(path)] + [f"--set={value}" for value in assignments]
    args = cli.build_parser().parse_args(argv)
    try:
        with no_hang(10):
            config = cli.load_run_config(args)
    except ValueError as error:
        assert str(error)
        event("refused")
        return
    _check_leaf_types(config)
    event("loaded")


def test_cli_reports_a_bad_set_value_and_exits_2(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("retrieval: {epochs: 2}\n")
    assert cli.main(["run", "--config", str(path), "--set", "retrieval.epochs=[1,"]) == 2
    assert "retrieval.epochs" in capsys.readouterr().err
    assert cli.main(["run", "--config", str(path), "--set", "retrieval.epochs=many"]) == 2
    assert "config.yaml.retrieval.epochs: expected int, got 'many'" in capsys.readouterr().err
