"""The retrieval model's examples: one per user, from the users split, through the Transform graph.

The users split is streamed from its TFRecord files through the Transform
graph (one row per user, so it is as large as the training interactions),
then reshuffled into batches every epoch through a shuffle buffer of
SHUFFLE_BUFFER users. A split of no more users than that is kept in memory
after its first pass (it costs no more than the buffer does); a larger one is
read anew on each pass. `carved` splits each user's history into a part to fit and a
validation part (models/retrieval/objectives.py:carve), the same for a user
whatever batch it is in, so model selection scores the same held-out items at
every epoch.
"""
from typing import Tuple

import tensorflow as tf

from models import blocks, features, trainer_lib
from models.retrieval import objectives
from models.transform import preprocessing

# Added to validation batches: each user's held-out items (vocabulary indices).
VALIDATION_ITEM_IDS = "validation_item_ids"
_READ_BATCH = 1024
SHUFFLE_BUFFER = 200_000  # users


def users(run: trainer_lib.TrainingRun) -> tf.data.Dataset:
    """Batches of the transformed users split, in file order: the user id, the history
    and what the query blocks read. Kept in memory up to SHUFFLE_BUFFER users."""
    raw_spec = run.raw_feature_spec
    names = list(dict.fromkeys([
        features.USER_ID, features.HISTORY_ITEM_IDS,
        *blocks.raw_features(blocks.on_side(run.block_names, blocks.QUERY), raw_spec)]))
    batches = trainer_lib.dataset(run.split_files(features.USERS_SPLIT), run.tft_output,
                                  names, _READ_BATCH)
    num_users = run.tft_output.vocabulary_size_by_name(preprocessing.USER_ID_VOCAB)
    return batches.cache() if num_users <= SHUFFLE_BUFFER else batches


def shuffled(users_batches: tf.data.Dataset, batch_size: int, seed: int) -> tf.data.Dataset:
    """The users in a new random order every epoch, `batch_size` at a time.

    Under a strategy of several replicas (call it in the strategy's scope), the last
    partial batch of each epoch is left out: split between the replicas, it could give
    one of them no user, and TensorFlow cannot hand out an empty sparse history.
    The order changes every epoch, so it leaves out different users each time."""
    several_replicas = tf.distribute.get_strategy().num_replicas_in_sync > 1
    return (users_batches.unbatch()
            .shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size, drop_remainder=several_replicas))


def sampled(users_batches: tf.data.Dataset, fraction: float, seed: int) -> tf.data.Dataset:
    """About `fraction` of the users, in the input's order: whether a user is in
    depends on the user and the seed alone, so every pass holds the same users.
    Kept in memory after the first pass, so that later passes (every epoch of the
    race, every score of the carve) do not sift through every user again."""
    def chosen(user):
        # Position -1, which no history has: independent of the carve's draws.
        return objectives.hash_uniform(user[features.USER_ID], tf.constant(-1, tf.int64),
                                       seed) < fraction

    return users_batches.unbatch().filter(chosen).batch(_READ_BATCH).cache()


def carved(users_batches: tf.data.Dataset, fraction: float, order_matters: bool, seed: int
           ) -> Tuple[tf.data.Dataset, tf.data.Dataset]:
    """(fit, validation): histories without their validation part; the same with the
    validation part under VALIDATION_ITEM_IDS, in the input's batches. The carve
    depends on the user and the seed alone, so every pass holds out the same items."""
    def split(batch):
        kept, held = objectives.carve(batch[features.HISTORY_ITEM_IDS],
                                      batch[features.USER_ID], fraction, order_matters, seed)
        return {**batch, features.HISTORY_ITEM_IDS: kept}, held

    parts = users_batches.map(split)
    return (parts.map(lambda kept, held: kept),
            parts.map(lambda kept, held: {**kept, VALIDATION_ITEM_IDS: held}))
