"""The one place that names features and their roles.

Every dataset adapter produces the same data contract; the example generator
flattens it into tf.Examples with these feature names. Everything downstream
(Transform, towers, evaluation, serving) refers to features only through this
module.
"""

USER_ID = "user_id"
ITEM_ID = "item_id"
RATING = "rating"
TIMESTAMP = "timestamp"

# Item content: all text fields joined into one string, all tag fields merged
# into one multi-valued feature. Other item features are numeric: item_<field>.
ITEM_TEXT = "item_text"
ITEM_TAGS = "item_tags"
ITEM_PREFIX = "item_"

# Not in the examples: the item's sentence embedding from the text encoder,
# added by the trainer (training) or computed from item_text (serving).
ITEM_TEXT_EMBEDDING = "item_text_embedding"
# Not in the examples: the retrieval model's vector of every vocabulary item
# (and of the OOV bucket, last), `[items + 1, dim]`, given to the query tower so
# that it can represent a user by their items.
ITEM_VECTORS = "item_vectors"
# Not in the examples: when ITEM_VECTORS holds only some items (a sampled
# softmax's step), the row of each vocabulary item in it, `[items + 1]`; without
# it an item's row is its vocabulary index.
ITEM_VECTOR_ROWS = "item_vector_rows"
# Not in the examples: while training on a history with items dropped, the
# factor that gives the dropped history's bag the scale of the whole one
# (inverted dropout, as Mult-DAE applies it), `[users]`.
HISTORY_BAG_SCALE = "history_bag_scale"

# User features: user_<field>; strings are categorical, numbers are numeric.
USER_PREFIX = "user_"

# The user's training interactions, most recent first: in an interaction row,
# the previous ones strictly before it in time (examples.history_length of them);
# in a row of the users split, all of them (up to examples.max_history).
HISTORY_ITEM_IDS = "history_item_ids"

# Names of the Examples splits written by the example generator.
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
CANDIDATES_SPLIT = "candidates"
# One row per user with training interactions: user_id, the user's fields and
# their whole training history, i.e. the query a model answers after training.
USERS_SPLIT = "users"
# Every split, in the order ExampleGen writes them.
EXAMPLE_SPLITS = (TRAIN_SPLIT, EVAL_SPLIT, CANDIDATES_SPLIT, USERS_SPLIT)
# Splits that are not interactions: statistics, schema and validation skip them.
NON_INTERACTION_SPLITS = (CANDIDATES_SPLIT, USERS_SPLIT)

_RESERVED = {USER_ID, ITEM_ID, RATING, TIMESTAMP, ITEM_TEXT, ITEM_TAGS, HISTORY_ITEM_IDS}


def user_feature_name(field: str) -> str:
    return USER_PREFIX + field


def item_numeric_feature_name(field: str) -> str:
    return ITEM_PREFIX + field


def is_user_feature(name: str) -> bool:
    return name.startswith(USER_PREFIX) and name not in _RESERVED


def is_item_numeric_feature(name: str) -> bool:
    return name.startswith(ITEM_PREFIX) and name not in _RESERVED


def is_item_feature(name: str) -> bool:
    """Whether `name` is a feature of the item (text, tags, numeric): in the candidates
    split only, joined to interactions by item id."""
    return name in (ITEM_TEXT, ITEM_TAGS) or is_item_numeric_feature(name)
