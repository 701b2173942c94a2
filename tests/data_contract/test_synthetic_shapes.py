"""Named MovieLens shapes of the synthetic catalogue and their scalable sampler."""
import hashlib

import numpy as np
import pytest

from data_contract import adapters, synthetic

# sha256 of the default catalogue's three tables as CSV, as generated before the shapes
# existed: tests and the README's numbers rest on these data.
DEFAULT_DIGEST = "4860ae3cd95c5f35e9430fe5565b34a4e6b021c8f8aad20b854d6959608568fb"


def _digest(dataset) -> str:
    digest = hashlib.sha256()
    for frame in (dataset.interactions, dataset.items, dataset.users):
        digest.update(frame.to_csv(index=False).encode())
    return digest.hexdigest()


def test_the_default_catalogue_is_unchanged():
    assert _digest(synthetic.generate()) == DEFAULT_DIGEST


def test_full_shapes_are_the_movielens_releases():
    assert synthetic.shape_sizes("ml-1m") == synthetic.Shape(6_040, 3_706, 1_000_209)
    assert synthetic.shape_sizes("ml-10m") == synthetic.Shape(69_878, 10_677, 10_000_054)
    assert synthetic.shape_sizes("ml-25m") == synthetic.Shape(162_541, 59_047, 25_000_095)


@pytest.mark.parametrize("shape, scale", [("ml-1m", 0.05), ("ml-25m", 0.004)])
def test_a_scaled_shape_has_its_sizes_and_power_law_popularity(shape, scale):
    sizes = synthetic.shape_sizes(shape, scale)
    dataset = synthetic.generate(shape=shape, scale=scale)
    interactions = dataset.interactions
    assert (len(dataset.users), len(dataset.items), len(interactions)) == (
        sizes.num_users, sizes.num_items, sizes.num_interactions)
    assert sizes.num_interactions == round(synthetic.SHAPES[shape].num_interactions * scale)
    assert not interactions.duplicated(["user_id", "item_id"]).any()
    counts = interactions.item_id.value_counts().to_numpy()  # descending
    top_share = counts[:len(dataset.items) // 100].sum() / len(interactions)
    assert top_share > 0.04, f"the top 1% of items hold {top_share:.1%} of interactions"
    # Times still increase within each user.
    assert (interactions.groupby("user_id").timestamp.diff().dropna() >= 0).all()


def test_the_same_shape_and_seed_give_the_same_data():
    first = synthetic.generate(shape="ml-10m", scale=0.002, seed=4)
    assert _digest(first) == _digest(synthetic.generate(shape="ml-10m", scale=0.002, seed=4))
    assert _digest(first) != _digest(synthetic.generate(shape="ml-10m", scale=0.002, seed=5))


def _one_topic_picks(sampler, num_users=60, num_items=2000, per_user=30, seed=0):
    """Users and items of one topic each (100 items a topic, 30 picks a user): the share
    of the picks in the user's topic."""
    rng = np.random.default_rng(seed)
    num_topics = len(synthetic.TOPIC_NAMES)
    user_topic = rng.integers(num_topics, size=num_users)
    item_topic = rng.integers(num_topics, size=num_items)
    item_ids = np.array([f"i{i:04d}" for i in range(num_items)], dtype=object)
    user_ids = np.array([f"u{u:03d}" for u in range(num_users)], dtype=object)
    frame = sampler(rng, np.eye(num_topics)[user_topic], np.eye(num_topics)[item_topic],
                    rng.lognormal(size=num_items), np.full(num_users, per_user), user_ids, item_ids)
    user = frame.user_id.str[1:].astype(int).to_numpy()
    item = frame.item_id.str[1:].astype(int).to_numpy()
    assert not frame.duplicated(["user_id", "item_id"]).any()
    return np.mean(item_topic[item] == user_topic[user])


def test_the_scalable_sampler_follows_tastes_like_the_exact_one():
    scalable = _one_topic_picks(synthetic._interactions_scalable)
    exact = _one_topic_picks(synthetic._interactions)
    # 1 in 20 picks would be on the user's topic by chance; drift moves up to 30%.
    assert scalable > 0.6, (scalable, exact)
    assert abs(scalable - exact) < 0.1, (scalable, exact)


def test_heavy_users_of_a_small_catalogue_still_get_distinct_items():
    # Each user takes half the catalogue: far more than her topic's items.
    dataset = synthetic.generate(num_users=30, num_items=5000, num_interactions=30 * 2500)
    assert len(dataset.interactions) == 75_000
    assert not dataset.interactions.duplicated(["user_id", "item_id"]).any()


@pytest.mark.parametrize("spec, message", [
    ({"shape": "ml-2m"}, "shape 'ml-2m' is unknown; known shapes: ml-1m, ml-10m, ml-25m"),
    ({"shape": "ml-1m", "num_users": 10}, r"shape 'ml-1m' sets the sizes; drop \['num_users'\]"),
    ({"shape": "ml-1m", "scale": 0}, r"scale must be a number in \(0, 1\], got 0"),
    ({"scale": 0.5}, "scale applies to a named shape"),
])
def test_bad_shape_options_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        adapters.load_dataset({"name": "synthetic", **spec})
