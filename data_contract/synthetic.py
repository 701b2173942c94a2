"""A deterministic synthetic catalogue with planted structure, the offline default.

Twenty topics each own twelve English words. An item mixes one to three topics
(mostly one or two); its title and description are drawn from its topics'
words, its tags are its main topics. A user likes a few topics and drifts
slowly toward another one over 2020. Users pick items without replacement with
probability proportional to popularity^POPULARITY_EXPONENT *
exp(AFFINITY_WEIGHT * taste . topics), so a model that learns tastes clearly
beats recommending the most popular items.
"""
import datetime
from typing import Tuple

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
START = int(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
YEAR_SECONDS = 366 * 24 * 3600

_TOPIC_WORDS = np.array([TOPICS[name] for name in TOPIC_NAMES], dtype=object)
_FILLER = np.array(FILLER_WORDS, dtype=object)


def generate(num_users: int = 1000, num_items: int = 2000, num_interactions: int = 100_000,
             seed: int = 0) -> Dataset:
    """The synthetic dataset; the same arguments always give the same data."""
    per_user_cap = max(1, num_items // 2)
    if not num_users <= num_interactions <= num_users * per_user_cap:
        raise ValueError(f"num_interactions must lie between num_users ({num_users}) and "
                         f"num_users * num_items // 2 ({num_users * per_user_cap}), "
                         f"got {num_interactions}")
    rng = np.random.default_rng(seed)
    item_topics = _sparse_mixtures(rng, num_items, topic_count_probs=(0.6, 0.35, 0.05))
    popularity = rng.lognormal(0.0, 1.0, size=num_items)
    user_tastes = _sparse_mixtures(rng, num_users, topic_count_probs=(0.4, 0.4, 0.2))
    item_ids = _ids("i", num_items, min_width=5)
    user_ids = _ids("u", num_users, min_width=4)
    counts = _interaction_counts(rng, num_users, num_interactions, per_user_cap)
    interactions = _interactions(rng, user_tastes, item_topics, popularity, counts,
                                 user_ids, item_ids)
    return Dataset(name=NAME, interactions=interactions,
                   items=_items(rng, item_topics, item_ids),
                   users=_users(rng, user_tastes, user_ids),
                   item_text_fields=("title", "description"), item_tag_fields=("topics",),
                   item_numeric_fields=("year",),
                   user_categorical_fields=("gender", "occupation"),
                   user_numeric_fields=("age",))


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
    affinity = np.concatenate(affinities)
    ratings = np.clip(np.rint(1 + 4 * affinity + rng.normal(0.0, RATING_NOISE, size=len(items))),
                      1, 5)
    return contract.interactions_frame(np.repeat(user_ids, counts), item_ids[items],
                                       _timestamps(rng, counts), ratings)


def _chunk_sizes(count: int) -> np.ndarray:
    return np.diff(np.linspace(0, count, DRIFT_STEPS + 1).round().astype(int))


def _timestamps(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Increasing times per user, within a personal active window of 2020."""
    starts = rng.uniform(0.0, 0.3, size=len(counts)) * YEAR_SECONDS
    ends = rng.uniform(0.7, 1.0, size=len(counts)) * YEAR_SECONDS
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = starts[owner] + rng.random(len(owner)) * (ends - starts)[owner]
    # Sorting by (user, offset) keeps users in order and their times increasing.
    offsets = offsets[np.lexsort((offsets, owner))]
    return START + offsets.astype(np.int64)
