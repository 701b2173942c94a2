"""--recs-out: the evaluator's rankings name users by pseudonym; the file written for an
external scorer names them by the raw ids of its split files."""
import pytest

from data_contract import adapters, pseudonyms
from models import features
from pipeline import config as config_lib
from pipeline.benchmark import command


def test_recs_out_maps_pseudonyms_back_to_the_split_files_raw_ids(tmp_path):
    dataset = {"name": "synthetic", "num_users": 30, "num_items": 40, "num_interactions": 600, "seed": 2}
    interactions = adapters.load_dataset(dataset).interactions
    split_dir = tmp_path / "split"
    split_dir.mkdir()
    for name, part in (("train", interactions.iloc[:500]), ("test", interactions.iloc[500:])):
        part.assign(rating=1.0)[[features.USER_ID, features.ITEM_ID, "rating", features.TIMESTAMP]] \
            .to_csv(split_dir / f"{name}.csv", index=False)
    config = config_lib.load_config(None, {
        "dataset": dataset, "output_dir": str(tmp_path / "out"),
        "examples.split": command.external_protocol(str(split_dir)).split})
    pseudonymiser = pseudonyms.Pseudonymiser(pseudonyms.resolve_key())
    test_users = sorted(set(interactions.iloc[500:][features.USER_ID]))
    recommendations = tmp_path / "recommendations.csv"
    recommendations.write_text("".join(f"{pseudonymiser(user)},i001 i002 i003\n" for user in test_users))

    command.write_top_k(str(recommendations), str(tmp_path / "recs.csv"), 2, command.pseudonym_to_raw(config))
    assert (tmp_path / "recs.csv").read_text() == "".join(f"{user},i001 i002\n" for user in test_users)

    recommendations.write_text("pffffffffffffffff,i001\n")
    with pytest.raises(ValueError, match="line 1: user 'pffffffffffffffff' is the pseudonym of no user"):
        command.write_top_k(str(recommendations), str(tmp_path / "recs.csv"), 2, command.pseudonym_to_raw(config))
