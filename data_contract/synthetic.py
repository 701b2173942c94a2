"""A deterministic synthetic catalogue with planted structure, the offline default.

Twenty topics each own twelve English words. An item mixes one to three topics
(mostly one or two); its title and description are drawn from its topics'
words, its tags are its main topics. A user likes a few topics and drifts
slowly toward another one over 2020. Users pick items without replacement with
probability proportional to popularity^POPULARITY_EXPONENT *
exp(AFFINITY_WEIGHT * taste . topics), so a model that learns tastes clearly
beats recommending the most popular items.

Two samplers draw the interactions:
- the exact one (explicit sizes up to EXACT_SAMPLER_MAX_CELLS users x items,
  the default among them): per user and drift chunk, a Gumbel top-k over the
  whole catalogue; cost O(users x items log items). The default data depend on
  it, so it is kept as it was.
- the scalable one (named shapes, and explicit sizes above that bound): per
  interaction, a topic drawn from the user's taste (and the topics' popularity),
  then an item of that topic by popularity;
  repeats of a (user, item) pair are drawn again. Cost O(interactions log items),
  memory a few arrays of the output's length. On items of one topic each it
  draws from the exact sampler's distribution; on mixed items it approximates it
  (a mixture over topics instead of a product). Redraws weigh tastes less each
  round, and the few users still short after REDRAW_ROUNDS get the exact sampler.

Named shapes (SHAPES: the MovieLens 1M, 10M and 25M releases' user, item and
rating counts) also give items a power-law (Zipf) popularity, as real
catalogues have, instead of the default's log-normal; there the most popular
items are a much stronger baseline (README, Scale).
"""
import dataclasses
import datetime
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd

from data_contract import contract
from data_contract.contract import Dataset
from models import features

NAME = "synthetic"

TOPICS = {
    "space": ("galaxy", "rocket", "orbit", "planet", "astronaut", "telescope", "comet",
              "nebula", "satellite", "asteroid", "lunar", "cosmos"),
    "cooking": ("recipe", "oven", "spice", "flavor", "kitchen", "bake", "sauce", "chef",
                "garlic", "roast", "dough", "simmer"),
    "music": ("guitar", "melody", "concert", "rhythm", "album", "drummer", "chorus", "piano",
              "orchestra", "lyrics", "singer", "tempo"),
    "sports": ("football", "stadium", "coach", "league", "goal", "champion", "athlete",
               "tournament", "referee", "score", "team", "playoff"),
    "gardening": ("garden", "soil", "seed", "flower", "compost", "tulip", "prune", "harvest",
                  "greenhouse", "vegetable", "bloom", "shovel"),
    "finance": ("investment", "stock", "dividend", "portfolio", "bank", "interest", "budget",
                "mortgage", "savings", "market", "loan", "tax"),
    "travel": ("passport", "airport", "luggage", "hotel", "journey", "beach", "tourist",
               "itinerary", "flight", "island", "backpack", "sightseeing"),
    "medicine": ("doctor", "hospital", "vaccine", "surgery", "patient", "nurse", "diagnosis",
                 "therapy", "clinic", "medicine", "symptom", "prescription"),
    "technology": ("computer", "software", "algorithm", "internet", "robot", "processor",
                   "database", "smartphone", "code", "network", "laptop", "server"),
    "history": ("empire", "ancient", "medieval", "castle", "king", "revolution", "dynasty",
                "archive", "battle", "pharaoh", "knight", "treaty"),
    "ocean": ("whale", "coral", "reef", "shark", "tide", "dolphin", "submarine", "wave",
              "sailor", "lighthouse", "harbor", "seaweed"),
    "fashion": ("dress", "fabric", "designer", "runway", "jacket", "silk", "boutique", "shoes",
                "style", "tailor", "denim", "jewelry"),
    "crime": ("detective", "murder", "police", "suspect", "evidence", "robbery", "prison",
              "witness", "alibi", "thief", "clue", "trial"),
    "romance": ("love", "wedding", "kiss", "romance", "heart", "couple", "date", "passion",
                "bride", "valentine", "flirt", "sweetheart"),
    "wildlife": ("forest", "wolf", "eagle", "bear", "jungle", "safari", "deer", "habitat",
                 "predator", "owl", "fox", "wilderness"),
    "art": ("painting", "canvas", "sculpture", "gallery", "portrait", "brush", "artist",
            "easel", "watercolor", "exhibition", "sketch", "mural"),
    "fitness": ("workout", "gym", "muscle", "yoga", "cardio", "stretch", "marathon", "protein",
                "treadmill", "sweat", "trainer", "strength"),
    "education": ("school", "teacher", "student", "classroom", "exam", "homework", "lecture",
                  "university", "textbook", "lesson", "diploma", "library"),
    "cars": ("engine", "car", "wheel", "driver", "highway", "tire", "garage", "motor", "speed",
             "race", "fuel", "brake"),
    "weather": ("storm", "rain", "thunder", "snow", "hurricane", "cloud", "forecast", "wind",
                "lightning", "tornado", "sunshine", "frost"),
}
TOPIC_NAMES = tuple(TOPICS)
FILLER_WORDS = ("the", "a", "story", "new", "great", "about", "guide", "with", "and", "of",
                "best", "life", "world", "day", "people", "time", "first", "complete", "for",
                "every", "little", "big", "your", "our")
# Each user whose main topic is listed here has OCCUPATION_MATCH_SHARE chance of this job.
OCCUPATION_BY_TOPIC = {
    "space": "scientist", "cooking": "chef", "music": "musician", "sports": "athlete",
    "gardening": "farmer", "finance": "banker", "travel": "pilot", "medicine": "doctor",
    "technology": "programmer", "history": "historian", "fashion": "designer",
    "crime": "lawyer", "art": "artist", "fitness": "athlete", "education": "teacher",
    "cars": "mechanic",
}
OCCUPATIONS = tuple(sorted(set(OCCUPATION_BY_TOPIC.values()) | {"student", "retired", "other"}))
OCCUPATION_MATCH_SHARE = 0.4

POPULARITY_EXPONENT = 1.0
AFFINITY_WEIGHT = 10.0
FILLER_SHARE = 0.25
RATING_NOISE = 0.8  # standard deviation, in stars
TAG_MIN_WEIGHT = 0.25  # topics with this share of an item become its tags
DRIFT_STEPS = 4  # a user's interactions come in this many chunks of growing drift
DRIFT_SHARE = 0.3  # taste share of the drift topic in the last chunk
MIN_INTERACTIONS_PER_USER = 5
# The item of popularity rank r (1 = most popular) has weight r^-ZIPF_EXPONENT in named shapes.
ZIPF_EXPONENT = 1.0
# Above this many users x items the exact sampler is too slow (about 4 s a million cells).
EXACT_SAMPLER_MAX_CELLS = 20_000_000
# The scalable sampler redraws repeated pairs this many rounds, then finishes the few
# users still short (heavy users of a small catalogue) with the exact sampler.
REDRAW_ROUNDS = 6
START = int(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
YEAR_SECONDS = 366 * 24 * 3600

_TOPIC_WORDS = np.array([TOPICS[name] for name in TOPIC_NAMES], dtype=object)
_FILLER = np.array(FILLER_WORDS, dtype=object)


@dataclasses.dataclass(frozen=True)
class Shape:
    num_users: int
    num_items: int
    num_interactions: int


# The public MovieLens releases' statistics.
SHAPES: Dict[str, Shape] = {
    "ml-1m": Shape(6_040, 3_706, 1_000_209),
    "ml-10m": Shape(69_878, 10_677, 10_000_054),
    "ml-25m": Shape(162_541, 59_047, 25_000_095),
}


def shape_sizes(shape: str, scale: float = 1.0) -> Shape:
    """A named shape's sizes; a `scale` below 1 gives a small version of it: users and
    interactions times scale (users keep their number of interactions), items times
    sqrt(scale), at least four times the mean interactions per user (the catalogue
    still holds the heavy users' histories)."""
    if shape not in SHAPES:
        raise ValueError(f"dataset shape {shape!r} is unknown; known shapes: {', '.join(SHAPES)}")
    if not (isinstance(scale, (int, float)) and 0 < scale <= 1):
        raise ValueError(f"dataset scale must be a number in (0, 1], got {scale!r}")
    full = SHAPES[shape]
    users = max(1, round(full.num_users * scale))
    interactions = max(users, round(full.num_interactions * scale))
    # The generator lets a user take at most half the catalogue.
    items = max(round(full.num_items * scale ** 0.5), 4 * -(-interactions // users))
    return Shape(users, min(items, full.num_items), interactions)


DEFAULT_NUM_INTERACTIONS = 100_000


def generate(num_users: int = 1000, num_items: int = 2000,
             num_interactions: int = DEFAULT_NUM_INTERACTIONS,
             seed: int = 0, shape: Optional[str] = None, scale: float = 1.0) -> Dataset:
    """The synthetic dataset; the same arguments always give the same data.

    `shape` names one of SHAPES (its sizes, times `scale`, replace the three sizes)."""
    if shape is not None:
        num_users, num_items, num_interactions = dataclasses.astuple(shape_sizes(shape, scale))
    elif scale != 1.0:
        raise ValueError("dataset scale applies to a named shape; give the shape too")
    per_user_cap = max(1, num_items // 2)
    if not num_users <= num_interactions <= num_users * per_user_cap:
        raise ValueError(f"num_interactions must lie between num_users ({num_users}) and "
                         f"num_users * num_items // 2 ({num_users * per_user_cap}), "
                         f"got {num_interactions}")
    rng = np.random.default_rng(seed)
    item_topics = _sparse_mixtures(rng, num_items, topic_count_probs=(0.6, 0.35, 0.05))
    popularity = (_zipf_popularity(rng, num_items) if shape is not None
                  else rng.lognormal(0.0, 1.0, size=num_items))
    user_tastes = _sparse_mixtures(rng, num_users, topic_count_probs=(0.4, 0.4, 0.2))
    item_ids = _ids("i", num_items, min_width=5)
    user_ids = _ids("u", num_users, min_width=4)
    counts = _interaction_counts(rng, num_users, num_interactions, per_user_cap)
    sample = (_interactions if shape is None and num_users * num_items <= EXACT_SAMPLER_MAX_CELLS
              else _interactions_scalable)
    interactions = sample(rng, user_tastes, item_topics, popularity, counts, user_ids, item_ids)
    return Dataset(name=NAME, interactions=interactions,
                   items=_items(rng, item_topics, item_ids),
                   users=_users(rng, user_tastes, user_ids),
                   item_text_fields=("title", "description"), item_tag_fields=("topics",),
                   item_numeric_fields=("year",),
                   user_categorical_fields=("gender", "occupation"),
                   user_numeric_fields=("age",))


def _zipf_popularity(rng: np.random.Generator, num_items: int) -> np.ndarray:
    """Power-law weights rank^-ZIPF_EXPONENT, ranks shuffled over the items."""
    return rng.permutation(np.arange(1, num_items + 1)) ** -ZIPF_EXPONENT


def _ids(prefix: str, count: int, min_width: int) -> np.ndarray:
    width = max(min_width, len(str(count - 1)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(count)], dtype=object)


def _sparse_mixtures(rng: np.random.Generator, rows: int,
                     topic_count_probs: Tuple[float, ...]) -> np.ndarray:
    """Rows of topic weights summing to 1, with 1..len(topic_count_probs) topics each."""
    num_topics = len(TOPIC_NAMES)
    topic_counts = rng.choice(np.arange(1, len(topic_count_probs) + 1), size=rows,
                              p=topic_count_probs)
    ranks = rng.random((rows, num_topics)).argsort(axis=1).argsort(axis=1)
    weights = rng.gamma(2.0, size=(rows, num_topics)) * (ranks < topic_counts[:, None])
    return weights / weights.sum(axis=1, keepdims=True)


def _items(rng: np.random.Generator, item_topics: np.ndarray,
           item_ids: np.ndarray) -> pd.DataFrame:
    num_items = len(item_ids)
    main_topic = item_topics.argmax(axis=1)
    title_lengths = rng.integers(2, 5, size=num_items)
    title_words = rng.random((num_items, _TOPIC_WORDS.shape[1])).argsort(axis=1)
    titles = [" ".join(word.capitalize() for word in _TOPIC_WORDS[topic, words[:length]])
              for topic, words, length in zip(main_topic, title_words, title_lengths)]

    lengths = rng.integers(15, 31, size=num_items)
    owner = np.repeat(np.arange(num_items), lengths)
    # Inverse-CDF sampling of each word's topic from its item's mixture.
    cumulative = np.cumsum(item_topics, axis=1)[owner]
    topic = np.minimum((rng.random(len(owner))[:, None] > cumulative).sum(axis=1),
                       len(TOPIC_NAMES) - 1)
    topic_word = _TOPIC_WORDS[topic, rng.integers(_TOPIC_WORDS.shape[1], size=len(owner))]
    filler_word = _FILLER[rng.integers(len(_FILLER), size=len(owner))]
    words = np.where(rng.random(len(owner)) < FILLER_SHARE, filler_word, topic_word)
    descriptions = [" ".join(chunk).capitalize() + "."
                    for chunk in np.split(words, np.cumsum(lengths)[:-1])]

    tags = [[TOPIC_NAMES[t] for t in np.argsort(-weights, kind="stable")
             if weights[t] >= TAG_MIN_WEIGHT] for weights in item_topics]
    return pd.DataFrame({
        features.ITEM_ID: item_ids,
        "title": titles,
        "description": descriptions,
        "topics": tags,
        "year": rng.integers(1980, 2021, size=num_items).astype(np.float64),
    })


def _users(rng: np.random.Generator, user_tastes: np.ndarray,
           user_ids: np.ndarray) -> pd.DataFrame:
    num_users = len(user_ids)
    matched = np.array([OCCUPATION_BY_TOPIC.get(TOPIC_NAMES[t], "other")
                        for t in user_tastes.argmax(axis=1)], dtype=object)
    random_job = np.array(OCCUPATIONS, dtype=object)[
        rng.integers(len(OCCUPATIONS), size=num_users)]
    is_match = rng.random(num_users) < OCCUPATION_MATCH_SHARE
    return pd.DataFrame({
        features.USER_ID: user_ids,
        "gender": np.array(["F", "M"], dtype=object)[rng.integers(2, size=num_users)],
        "occupation": np.where(is_match, matched, random_job),
        "age": rng.integers(16, 76, size=num_users).astype(np.float64),
    })


def _interaction_counts(rng: np.random.Generator, num_users: int, total: int,
                        cap: int) -> np.ndarray:
    """Heavy-tailed counts per user, each within [1, cap], summing to `total`."""
    floor = min(MIN_INTERACTIONS_PER_USER, total // num_users, cap)
    share = rng.lognormal(0.0, 1.0, size=num_users)
    counts = floor + rng.multinomial(total - floor * num_users, share / share.sum())
    while counts.max() > cap:
        excess = int(np.maximum(counts - cap, 0).sum())
        counts = np.minimum(counts, cap)
        room = cap - counts
        counts += rng.multinomial(excess, room / room.sum())
    return counts


def _interactions(rng: np.random.Generator, user_tastes: np.ndarray, item_topics: np.ndarray,
                  popularity: np.ndarray, counts: np.ndarray, user_ids: np.ndarray,
                  item_ids: np.ndarray) -> pd.DataFrame:
    num_topics = len(TOPIC_NAMES)
    popularity_logits = POPULARITY_EXPONENT * np.log(popularity)
    drift_tastes = np.eye(num_topics)[rng.integers(num_topics, size=len(user_ids))]
    chosen_items, affinities = [], []
    for user, count in enumerate(counts):
        taken = np.zeros(len(item_ids), dtype=bool)
        for step, size in enumerate(_chunk_sizes(count)):
            drift = DRIFT_SHARE * step / (DRIFT_STEPS - 1)
            taste = (1 - drift) * user_tastes[user] + drift * drift_tastes[user]
            affinity = item_topics @ taste
            # Gumbel top-k: a sample without replacement, in sampling order.
            keys = popularity_logits + AFFINITY_WEIGHT * affinity + rng.gumbel(size=len(item_ids))
            keys[taken] = -np.inf
            picked = np.argsort(-keys, kind="stable")[:size]
            taken[picked] = True
            chosen_items.append(picked)
            # Relative to the best match this taste allows: focused and broad users rate alike.
            affinities.append(affinity[picked] / taste.max())
    items = np.concatenate(chosen_items)
    ratings = _ratings(rng, np.concatenate(affinities))
    return contract.interactions_frame(np.repeat(user_ids, counts), item_ids[items],
                                       _timestamps(rng, counts), ratings)


def _ratings(rng: np.random.Generator, affinity: np.ndarray) -> np.ndarray:
    """clip(rint(1 + 4 * affinity + noise), 1, 5), computed in place."""
    ratings = 4 * affinity
    ratings += 1
    ratings += rng.normal(0.0, RATING_NOISE, size=len(affinity))
    return np.clip(np.rint(ratings, out=ratings), 1, 5, out=ratings)


_BLOCK_ROWS = 500_000  # rows x topics temporaries are built this many rows at a time


def _interactions_scalable(rng: np.random.Generator, user_tastes: np.ndarray,
                           item_topics: np.ndarray, popularity: np.ndarray, counts: np.ndarray,
                           user_ids: np.ndarray, item_ids: np.ndarray) -> pd.DataFrame:
    """The scalable sampler (see the module docstring). A segment is one user's drift
    chunk: segment = user * DRIFT_STEPS + step, which is also the rows' order."""
    num_users, (num_items, num_topics) = len(counts), item_topics.shape
    bounds = np.rint(counts[:, None] * np.arange(DRIFT_STEPS + 1) / DRIFT_STEPS).astype(np.int64)
    remaining = np.diff(bounds, axis=1).ravel()
    segment_user = np.repeat(np.arange(num_users), DRIFT_STEPS)
    drift = np.tile(DRIFT_SHARE * np.arange(DRIFT_STEPS) / (DRIFT_STEPS - 1), num_users)
    tastes = (1 - drift)[:, None] * user_tastes[segment_user]
    drift_topic = rng.integers(num_topics, size=num_users)[segment_user]
    tastes[np.arange(len(tastes)), drift_topic] += drift

    taken = np.empty(0, dtype=np.int64)  # sorted user * num_items + item
    picked_segments, picked_items = [], []
    for round_ in range(REDRAW_ROUNDS):
        active = np.flatnonzero(remaining)
        if not len(active):
            break
        # Redraws weigh tastes less each round: a heavy user who has taken her topics'
        # items goes on to popular items of other topics, as in the exact sampler.
        weight = AFFINITY_WEIGHT / 2 ** round_
        # Within topic t, item i weighs popularity * exp(weight * (share of t in i - 1));
        # topic t weighs its items' total times exp(weight * taste for t). On items of
        # one topic each this is the exact sampler's distribution.
        topic_weights = (popularity[:, None] ** POPULARITY_EXPONENT
                         * np.exp(weight * (item_topics - 1))).T
        topic_cdfs = np.cumsum(topic_weights, axis=1)
        taste_cdfs = np.cumsum(topic_cdfs[:, -1] * np.exp(weight * (tastes[active] - 1)), axis=1)
        taste_cdfs /= taste_cdfs[:, -1:]
        topic_cdfs /= topic_cdfs[:, -1:]
        # More draws than needed, as some repeat an item the user already has.
        draws = (remaining[active] * (1.25 if round_ == 0 else 2)).astype(np.int64) + 1
        # int32 where values allow: these arrays hold every draw (12.5M at ML-10M).
        segments = np.repeat(active.astype(np.int32), draws)
        rows = np.repeat(np.arange(len(active), dtype=np.int32), draws)
        items = _draw_items(rng, taste_cdfs, rows, topic_cdfs)
        del rows
        keys = segment_user[segments] * num_items + items
        _, first = np.unique(keys, return_index=True)
        first.sort()  # draw order, so segments stay sorted
        first = first[~np.isin(keys[first], taken, assume_unique=True)]
        segments = segments[first]
        rank = np.arange(len(segments)) - np.searchsorted(segments, segments)
        keep = first[rank < remaining[segments]]
        picked_segments.append(segments[rank < remaining[segments]])
        picked_items.append(items[keep])
        taken = np.union1d(taken, keys[keep])
        remaining -= np.bincount(picked_segments[-1], minlength=len(remaining))
    short = np.flatnonzero(remaining)
    for user in np.unique(segment_user[short]):
        lo, hi = np.searchsorted(taken, [user * num_items, (user + 1) * num_items])
        user_taken = np.zeros(num_items, dtype=bool)
        user_taken[taken[lo:hi] - user * num_items] = True
        for segment in short[segment_user[short] == user]:
            keys = (POPULARITY_EXPONENT * np.log(popularity) + rng.gumbel(size=num_items)
                    + AFFINITY_WEIGHT * (item_topics @ tastes[segment]))
            keys[user_taken] = -np.inf
            items = np.argsort(-keys, kind="stable")[:remaining[segment]]
            user_taken[items] = True
            picked_segments.append(np.full(len(items), segment, dtype=np.int32))
            picked_items.append(items.astype(np.int32))
    # Every array of one value per interaction is freed as soon as it is used: at
    # ML-10M each is 40-80 MB, and the peak of this function is ExampleGen's peak.
    del taken, keys
    segments = np.concatenate(picked_segments)
    order = np.argsort(segments, kind="stable")
    segments, items = segments[order], np.concatenate(picked_items)[order]
    del order, picked_segments, picked_items

    # Relative to the best match this taste allows, as in the exact sampler.
    affinity = np.empty(len(items))
    for start in range(0, len(items), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        taste = tastes[segments[block]]
        affinity[block] = (item_topics[items[block]] * taste).sum(axis=1) / taste.max(axis=1)
    del segments, tastes
    ratings = _ratings(rng, affinity)
    del affinity
    item_column = item_ids[items]
    del items
    return contract.interactions_frame(np.repeat(user_ids, counts), item_column,
                                       _timestamps(rng, counts), ratings)


def _draw_items(rng: np.random.Generator, taste_cdfs: np.ndarray, rows: np.ndarray,
                topic_cdfs: np.ndarray) -> np.ndarray:
    """One item per entry of `rows`: a topic from taste_cdfs[row], then an item from the
    topic's topic_cdfs."""
    num_topics, num_items = topic_cdfs.shape
    topics = np.empty(len(rows), dtype=np.int32)
    for start in range(0, len(rows), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        draws = rng.random(len(topics[block]))
        topics[block] = np.minimum((draws[:, None] > taste_cdfs[rows[block]]).sum(axis=1),
                                   num_topics - 1)
    items = np.empty(len(rows), dtype=np.int32)
    draws = rng.random(len(rows))
    for topic in range(num_topics):
        where = topics == topic
        items[where] = np.searchsorted(topic_cdfs[topic], draws[where], side="right")
    return np.minimum(items, num_items - 1, out=items)


def _chunk_sizes(count: int) -> np.ndarray:
    return np.diff(np.linspace(0, count, DRIFT_STEPS + 1).round().astype(int))


def _timestamps(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Increasing times per user, within a personal active window of 2020."""
    starts = rng.uniform(0.0, 0.3, size=len(counts)) * YEAR_SECONDS
    ends = rng.uniform(0.7, 1.0, size=len(counts)) * YEAR_SECONDS
    owner = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    offsets = rng.random(len(owner))  # in place: starts + draw * window, as one expression gives
    offsets *= (ends - starts)[owner]
    offsets += starts[owner]
    # Sorting by (user, offset) keeps users in order and their times increasing.
    offsets = offsets[np.lexsort((offsets, owner))]
    return START + offsets.astype(np.int64)
