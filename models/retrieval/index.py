"""The exported retrieval model's top-k index: exact BruteForce, or ScaNN for big catalogues.

BruteForce is one matrix product over every item vector: exact, and stock TF
Serving runs it. ScaNN (scann==1.3.2, the release built against TF 2.16)
partitions the item vectors into leaves, searches the nearest leaves with
quantised scores and rescores the best candidates exactly: far less work per
query on a big catalogue, at a small loss of recall. Its SavedModel holds ScaNN's
custom ops, so whatever loads it must register them first (`register_ops`): our
server does; stock TF Serving cannot, use the `google/tf-serving-scann` build.

TensorFlow is imported where an index is built: the config validates `index`
with this module.
"""
import math

BRUTE_FORCE = "brute_force"
SCANN = "scann"
AUTO = "auto"
KINDS = (BRUTE_FORCE, SCANN, AUTO)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"retrieval.index must be one of {', '.join(KINDS)}, got {kind!r}")


def resolve(kind: str, num_items: int, scann_min_items: int) -> str:
    """BRUTE_FORCE or SCANN: `auto` picks ScaNN from `scann_min_items` items on."""
    check_kind(kind)
    if kind == AUTO:
        return SCANN if num_items >= scann_min_items else BRUTE_FORCE
    return kind


def scann_leaves(num_items: int) -> tuple:
    """(num_leaves, num_leaves_to_search): about sqrt(n) leaves of about sqrt(n)
    items each, a third of them searched (at least 8, or all when there are fewer)."""
    leaves = max(1, min(num_items, round(math.sqrt(num_items))))
    return leaves, min(leaves, max(8, leaves // 3))


def build(kind: str, k: int, vectors, identifiers):
    """A TFRS top-k layer of `kind` (BRUTE_FORCE or SCANN) indexing the `[n, dim]`
    tensor `vectors` by the `[n]` `identifiers`; called on query vectors it returns
    (scores, identifiers)."""
    import tensorflow_recommenders as tfrs

    num_items = int(vectors.shape[0])
    k = min(k, num_items)
    if kind == BRUTE_FORCE:
        layer = tfrs.layers.factorized_top_k.BruteForce(k=k)
    elif kind == SCANN:
        register_ops()
        leaves, searched = scann_leaves(num_items)
        layer = tfrs.layers.factorized_top_k.ScaNN(
            k=k, num_leaves=leaves, num_leaves_to_search=searched,
            # Exact rescoring of this many quantised candidates is what keeps recall high.
            num_reordering_candidates=min(num_items, max(10 * k, 1000)))
    else:
        raise ValueError(f"not an index kind to build: {kind!r}")
    layer.index(vectors, identifiers)
    return layer


def register_ops() -> bool:
    """Registers ScaNN's TensorFlow ops in this process, so SavedModels that use them
    load. False (and nothing registered) when scann is not installed."""
    try:
        from scann.scann_ops.py import scann_ops  # noqa: F401  (importing loads the ops)
    except ImportError:
        return False
    return True
