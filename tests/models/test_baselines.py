"""Baselines on a planted two-block interaction matrix, plus EASE, tuning and split checks."""
import numpy as np
import pytest
import scipy.sparse as sp

from models import baselines
from models.baselines import als, ease, factory, itemknn

NUM_USERS, NUM_ITEMS = 60, 40
BLOCK_A, BLOCK_B = np.arange(0, 20), np.arange(20, 40)
COLLABORATIVE = ["itemknn", "ease", "als", "bpr"]


def planted_blocks(seed: int = 0) -> sp.csr_matrix:
    """The first half of the users interact only with block A, the second only with block B."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((NUM_USERS, NUM_ITEMS))
    half = NUM_USERS // 2
    dense[:half, BLOCK_A] = rng.random((half, len(BLOCK_A))) < 0.5
    dense[half:, BLOCK_B] = rng.random((half, len(BLOCK_B))) < 0.5
    return sp.csr_matrix(dense)


def block_tags() -> np.ndarray:
    """Tags "a"/"b" follow the blocks; "x" is noise on every third item."""
    tags = [["a" if item in BLOCK_A else "b"] + (["x"] if item % 3 == 0 else [])
            for item in range(NUM_ITEMS)]
    return baselines.multi_hot(tags)[0]


def own_block(user: int) -> np.ndarray:
    return BLOCK_A if user < NUM_USERS // 2 else BLOCK_B


def best_unseen(scores: np.ndarray, train: sp.csr_matrix) -> np.ndarray:
    scores = scores.copy()
    scores[train.nonzero()] = -np.inf
    return scores.argmax(axis=1)


@pytest.mark.parametrize("name", COLLABORATIVE + ["tags_linear"])
def test_ranks_the_users_own_block_first(name):
    train = planted_blocks()
    users = np.arange(NUM_USERS)
    scores = baselines.make_baseline(name).fit(train, block_tags()).score(users)
    assert scores.shape == (NUM_USERS, NUM_ITEMS)
    best = best_unseen(scores, train)
    assert all(best[user] in own_block(user) for user in users)


def test_popularity_ranks_by_training_count():
    train = planted_blocks().tolil()
    train[:, 7] = 1.0  # Everybody interacted with item 7.
    scores = baselines.make_baseline("popularity").fit(train.tocsr()).score([0, 45])
    assert scores.shape == (2, NUM_ITEMS)
    assert (scores.argmax(axis=1) == 7).all()


def test_ratings_and_repeats_count_once():
    ratings = planted_blocks().multiply(4.0)
    repeated = sp.vstack([planted_blocks(), planted_blocks()]).tocsr()
    for matrix in (ratings, repeated):
        assert set(baselines.binarize(matrix).data) == {1.0}


@pytest.mark.parametrize("name", sorted(factory.BASELINES))
def test_fit_is_deterministic_for_a_seed(name):
    train = planted_blocks()
    first = baselines.make_baseline(name, seed=3).fit(train, block_tags()).score([1, 50])
    second = baselines.make_baseline(name, seed=3).fit(train, block_tags()).score([1, 50])
    np.testing.assert_array_equal(first, second)


def test_random_scores_change_with_the_seed_not_the_batch():
    train = planted_blocks()
    one = baselines.make_baseline("random", seed=1).fit(train)
    other = baselines.make_baseline("random", seed=2).fit(train)
    assert not np.array_equal(one.score([0]), other.score([0]))
    np.testing.assert_array_equal(one.score([0, 5])[1], one.score([5])[0])


def test_ease_closed_form_matches_column_wise_ridge():
    # EASE solves, for each item j, ridge regression of column j on all other columns.
    x = planted_blocks()[:12, :6].toarray() + np.eye(12, 6)
    x = (x > 0).astype(np.float64)
    l2 = 3.0
    expected = np.zeros((6, 6))
    for j in range(6):
        others = np.delete(np.arange(6), j)
        x_others = x[:, others]
        expected[others, j] = np.linalg.solve(
            x_others.T @ x_others + l2 * np.eye(5), x_others.T @ x[:, j])
    np.testing.assert_allclose(ease.ease_weights(sp.csr_matrix(x), l2), expected, atol=1e-10)


def test_ease_picks_its_l2_from_the_grid():
    fitted = baselines.make_baseline("ease").fit(planted_blocks())
    assert fitted.best_params["l2"] in ease.L2_GRID
    assert len(fitted.validation_ndcg) == len(ease.L2_GRID)
    refit = baselines.EASE(fitted.best_params["l2"]).fit(planted_blocks())
    np.testing.assert_allclose(fitted.score([0]), refit.score([0]))


def test_tags_linear_scores_an_item_nobody_interacted_with():
    train = planted_blocks().tolil()
    cold_a, cold_b = 4, 25  # Tagged "a" and "b" only.
    train[:, [cold_a, cold_b]] = 0
    fitted = baselines.make_baseline("tags_linear").fit(train.tocsr(), block_tags())
    scores = fitted.score(np.arange(NUM_USERS))
    half = NUM_USERS // 2
    assert (scores[:half, cold_a] > scores[:half, cold_b]).all()
    assert (scores[half:, cold_b] > scores[half:, cold_a]).all()
    # Items outside the catalogue, in the fitted tag columns (a, b, x).
    new_items = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(fitted.score_items(np.arange(NUM_USERS), new_items),
                               scores[:, [cold_a, cold_b]])


def test_tags_linear_requires_item_features():
    with pytest.raises(ValueError, match="item_features"):
        baselines.make_baseline("tags_linear").fit(planted_blocks())


def test_unknown_baseline_is_named():
    with pytest.raises(ValueError, match="unknown baseline 'svd'"):
        baselines.make_baseline("svd")


def test_holdout_per_user_splits_each_user_and_is_seeded():
    matrix = planted_blocks()
    kept, held = baselines.holdout_per_user(matrix, 0.25, seed=0)
    np.testing.assert_array_equal((kept + held).toarray(), matrix.toarray())
    assert kept.multiply(held).nnz == 0
    counts = np.diff(matrix.indptr)
    np.testing.assert_array_equal(np.diff(held.indptr),
                                  np.minimum(np.floor(0.25 * counts + 0.5), counts - 1))
    again, _ = baselines.holdout_per_user(matrix, 0.25, seed=0)
    other, _ = baselines.holdout_per_user(matrix, 0.25, seed=1)
    assert (again != kept).nnz == 0 and (other != kept).nnz > 0


def test_evaluate_ranks_only_the_given_items():
    train = planted_blocks()
    test = sp.csr_matrix((np.ones(2), ([0, 40], [3, 30])), shape=train.shape)
    train = train.tolil()
    train[[0, 40], [3, 30]] = 0
    fitted = baselines.make_baseline("tags_linear").fit(train.tocsr(), block_tags())
    metrics = baselines.evaluate(fitted, train.tocsr(), test, [1], items=np.array([3, 30]))
    assert metrics["recall@1"] == 1.0


@pytest.mark.parametrize("block_cells", [1 << 24, NUM_ITEMS * 7])  # one block; blocks of 7
def test_itemknn_top_k_similarity_matches_the_dense_formula(monkeypatch, block_cells):
    monkeypatch.setattr(itemknn, "_BLOCK_CELLS", block_cells)
    train = baselines.binarize(planted_blocks() + sp.random(NUM_USERS, NUM_ITEMS, 0.05,
                                                            random_state=1))
    co_counts = (train.T @ train).toarray()
    norms = np.sqrt(np.diag(co_counts))
    dense = co_counts / (np.outer(norms, norms) + 10.0 + 1e-12)
    np.fill_diagonal(dense, 0.0)
    for k in (1, 3, NUM_ITEMS):
        similarity = itemknn.top_k_similarity(train, 10.0, k)
        assert sp.issparse(similarity)
        order = np.argsort(-dense, axis=0, kind="stable")[:k]  # ties: the lower row first
        expected = np.zeros_like(dense)
        expected[order, np.arange(NUM_ITEMS)] = dense[order, np.arange(NUM_ITEMS)]
        np.testing.assert_array_equal(similarity.toarray(), expected)


def test_itemknn_keeps_the_lower_rows_of_ties_at_the_cut():
    values = np.array([[0.5, 0.0], [0.2, 0.3], [0.2, 0.0], [0.9, 0.3], [0.2, 0.3]])
    kept = itemknn._top_k_per_column(values, 3)
    np.testing.assert_array_equal(kept, [[True, False], [True, True], [False, False],
                                         [True, True], [False, True]])
    # No more than the positive entries: column 1 has three.
    assert itemknn._top_k_per_column(values, 4)[:, 1].sum() == 3


def test_ease_inverse_in_place_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.random((1100, 1030))  # more items than one mirrored block
    gram = x.T @ x + 3.0 * np.eye(1030)
    expected = np.linalg.inv(gram)
    inverse = ease.positive_definite_inverse(gram.copy())
    np.testing.assert_allclose(inverse, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        ease.positive_definite_inverse(-np.eye(3))


@pytest.mark.parametrize("name", ["itemknn", "ease", "als"])
def test_tuning_scores_validation_users_in_batches_with_the_same_result(name):
    train = planted_blocks()
    whole = baselines.make_baseline(name, seed=2).fit(train)
    batched = baselines.make_baseline(name, seed=2, batch_size=7).fit(train)
    assert batched.batch_size == 7
    np.testing.assert_allclose(batched.validation_ndcg, whole.validation_ndcg, rtol=1e-12)
    assert batched.best_params == whole.best_params


def test_evaluate_in_batches_matches_one_batch():
    train, test = baselines.holdout_per_user(planted_blocks(), 0.3, seed=0)
    fitted = baselines.make_baseline("itemknn").fit(train)
    one = baselines.evaluate(fitted, train, test, [5, 10])
    for batch_size in (1, 13):
        assert baselines.evaluate(fitted, train, test, [5, 10], batch_size=batch_size) == \
            pytest.approx(one, rel=1e-12)


def test_evaluate_on_a_user_sample_scores_exactly_those_users():
    train, test = baselines.holdout_per_user(planted_blocks(seed=4), 0.3, seed=0)
    fitted = baselines.make_baseline("itemknn").fit(train)
    sampled = baselines.evaluate(fitted, train, test, [5], max_users=9, seed=1)
    assert baselines.evaluate(fitted, train, test, [5], max_users=9, seed=1) == sampled
    chosen = np.sort(np.random.default_rng(1).choice(NUM_USERS, 9, replace=False))
    only_chosen = sp.csr_matrix(test.multiply(np.isin(np.arange(NUM_USERS), chosen)[:, None]))
    assert sampled == pytest.approx(baselines.evaluate(fitted, train, only_chosen, [5]),
                                    rel=1e-12)
    assert sampled != pytest.approx(baselines.evaluate(fitted, train, test, [5]), rel=1e-6)
    assert baselines.evaluate(fitted, train, test, [5], max_users=NUM_USERS) == \
        pytest.approx(baselines.evaluate(fitted, train, test, [5]), rel=1e-12)


def test_tuning_scores_its_validation_on_at_most_validation_max_users():
    train = planted_blocks()
    search = baselines.make_baseline("itemknn", seed=2, validation_max_users=10).fit(train)
    assert search.validation_max_users == 10
    whole = baselines.make_baseline("itemknn", seed=2).fit(train)
    assert search.validation_ndcg != pytest.approx(whole.validation_ndcg, rel=1e-6)


def test_itemknn_grid_from_one_similarity_equals_fitting_each_point():
    # Binary data: many similarities tie, so the cut's tie rule is exercised too.
    train = baselines.binarize(planted_blocks() + sp.random(NUM_USERS, NUM_ITEMS, 0.05,
                                                            random_state=3))
    grid = [{"neighbours": k} for k in (1, 2, 5, NUM_ITEMS)] + [{"neighbours": 3,
                                                                 "shrinkage": 0.0}]
    for params, model in zip(grid, itemknn.ItemKNN.fit_grid(grid, train)):
        alone = itemknn.ItemKNN(**params).fit(train)
        np.testing.assert_array_equal(model.similarity.toarray(), alone.similarity.toarray())
        np.testing.assert_array_equal(model.score([0, 5]), alone.score([0, 5]))


def test_ease_grid_from_one_gram_matrix_equals_fitting_each_point():
    train = planted_blocks() + sp.random(NUM_USERS, NUM_ITEMS, 0.05, random_state=5)
    grid = [{"l2": l2} for l2 in (1.0, 50.0, 500.0)]
    models = list(ease.EASE.fit_grid(grid, train))
    for params, model in zip(grid, models):
        alone = ease.EASE(**params).fit(train)
        np.testing.assert_array_equal(model.weights, alone.weights)
        np.testing.assert_array_equal(model.score([0, 5]), alone.score([0, 5]))
    assert not np.allclose(models[0].weights, models[-1].weights)


def test_als_factors_do_not_depend_on_the_number_of_threads():
    rng = np.random.default_rng(4)
    train = sp.random(3000, 500, density=0.02, format="csr", random_state=rng)
    one, two = (als.ALS(factors=16, iterations=5, num_threads=n).fit(train) for n in (1, 2))
    assert train.nnz > 20_000
    np.testing.assert_array_equal(one.user_factors, two.user_factors)
    np.testing.assert_array_equal(one.item_factors, two.item_factors)
