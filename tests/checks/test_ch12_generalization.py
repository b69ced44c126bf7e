"""The ch12 hidden checks pass the reference solutions and fail realistic mistakes."""

import math
import random
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import random_split

from autograder.checks.ch12_generalization import check_k_fold_indices, check_train_val_test_split
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# sizes rounded down with int(), and D2L's folds of n // k examples, which drop the remainder.
WRONG_SUBMISSION = {
    "train_val_test_split": '''def train_val_test_split(n, fractions, generator):
    f_train, f_val, f_test = fractions
    if min(fractions) < 0 or not math.isclose(sum(fractions), 1):
        raise ValueError("bad fractions")
    n_val, n_test = int(n * f_val), int(n * f_test)
    n_train = n - n_val - n_test
    order = torch.randperm(n, generator=generator)
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
''',
    "k_fold_indices": '''def k_fold_indices(n, k, i):
    if k < 2 or not 0 <= i < k:
        raise ValueError("bad k or i")
    fold_size = n // k
    folds = [torch.arange(j * fold_size, (j + 1) * fold_size) for j in range(k)]
    return torch.cat([f for j, f in enumerate(folds) if j != i]), folds[i]
''',
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch12_generalization")


def test_reference_passes(reference):
    check_train_val_test_split(reference["train_val_test_split"])
    check_k_fold_indices(reference["k_fold_indices"])


def test_the_wrong_submission_is_wrong():
    namespace = {"torch": torch, "math": math}
    for source in WRONG_SUBMISSION.values():
        exec(source, namespace)
    with pytest.raises(AssertionError, match=r"int\(\) rounds down"):
        check_train_val_test_split(namespace["train_val_test_split"])
    with pytest.raises(AssertionError, match="D2L's get_k_fold_data drops the remainder"):
        check_k_fold_indices(namespace["k_fold_indices"])


# -- train_val_test_split ------------------------------------------------------------------


def _check(fractions):
    if min(fractions) < 0 or not math.isclose(sum(fractions), 1):
        raise ValueError(f"bad fractions {fractions}")


def _sizes(n, fractions):
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    return n - n_val - n_test, n_val, n_test


def _cut(order, sizes):
    a, b, _ = sizes
    return order[:a], order[a : a + b], order[a + b :]


def good_split(n, fractions, generator):
    _check(fractions)
    return _cut(torch.randperm(n, generator=generator), _sizes(n, fractions))


def split_truncating(n, fractions, generator):
    _check(fractions)
    n_val, n_test = int(n * fractions[1]), int(n * fractions[2])
    return _cut(torch.randperm(n, generator=generator), (n - n_val - n_test, n_val, n_test))


def split_ceil(n, fractions, generator):
    _check(fractions)
    n_val, n_test = math.ceil(n * fractions[1]), math.ceil(n * fractions[2])
    return _cut(torch.randperm(n, generator=generator), (n - n_val - n_test, n_val, n_test))


def split_half_up(n, fractions, generator):
    _check(fractions)
    n_val, n_test = math.floor(n * fractions[1] + 0.5), math.floor(n * fractions[2] + 0.5)
    return _cut(torch.randperm(n, generator=generator), (n - n_val - n_test, n_val, n_test))


def split_rounding_train(n, fractions, generator):
    """Rounds the training and validation sizes and leaves the rest to the test part."""
    _check(fractions)
    n_train, n_val = round(n * fractions[0]), round(n * fractions[1])
    return _cut(torch.randperm(n, generator=generator), (n_train, n_val, n - n_train - n_val))


def split_random_split_fractions(n, fractions, generator):
    """random_split with fractions: sizes floored, the remainder handed out round-robin."""
    _check(fractions)
    with warnings.catch_warnings():  # "Length of split at index 2 is 0" for a fraction of 0
        warnings.simplefilter("ignore", UserWarning)
        parts = random_split(range(n), list(fractions), generator=generator)
    return tuple(torch.tensor(p.indices, dtype=torch.long) for p in parts)


def split_random_split_sizes(n, fractions, generator):
    _check(fractions)
    parts = random_split(range(n), list(_sizes(n, fractions)), generator=generator)
    return tuple(torch.tensor(p.indices, dtype=torch.long) for p in parts)


def split_unshuffled(n, fractions, generator):
    _check(fractions)
    return _cut(torch.arange(n), _sizes(n, fractions))


def split_reversed(n, fractions, generator):
    _check(fractions)
    return _cut(torch.arange(n - 1, -1, -1), _sizes(n, fractions))


def split_random_block(n, fractions, generator):
    """Rotates 0..n-1 by a random offset: random, but each part is one block (mod n)."""
    _check(fractions)
    shift = int(torch.randint(0, n, (1,), generator=generator))
    return _cut(torch.arange(n).roll(shift), _sizes(n, fractions))


def split_evenly_spaced(n, fractions, generator):
    """Every k-th example into validation from a random start: a systematic sample."""
    _check(fractions)
    n_train, n_val, n_test = _sizes(n, fractions)
    start = float(torch.rand(1, generator=generator)) * n / max(n_val, 1)
    val = [int(start + j * n / n_val) for j in range(n_val)]
    rest = torch.tensor(sorted(set(range(n)) - set(val)), dtype=torch.long)
    rest = rest[torch.randperm(len(rest), generator=generator)]
    return rest[n_test:], torch.tensor(val, dtype=torch.long), rest[:n_test]


def split_overlapping(n, fractions, generator):
    """A fresh permutation for each part: the parts overlap."""
    _check(fractions)
    n_train, n_val, n_test = _sizes(n, fractions)
    return (torch.randperm(n, generator=generator)[:n_train],
            torch.randperm(n, generator=generator)[:n_val],
            torch.randperm(n, generator=generator)[:n_test])  # fmt: skip


def split_with_replacement(n, fractions, generator):
    _check(fractions)
    return _cut(torch.randint(0, n, (n,), generator=generator), _sizes(n, fractions))


def split_off_by_one(n, fractions, generator):
    _check(fractions)
    order = torch.randperm(n, generator=generator)
    a, b, _ = _sizes(n, fractions)
    return order[:a], order[a : a + b], order[a + b + 1 :]


def split_swapped(n, fractions, generator):
    train, val, test = good_split(n, fractions, generator)
    return val, test, train


def split_global_rng(n, fractions, generator):
    _check(fractions)
    return _cut(torch.randperm(n), _sizes(n, fractions))


def split_python_random(n, fractions, generator):
    _check(fractions)
    order = list(range(n))
    random.shuffle(order)
    return _cut(torch.tensor(order), _sizes(n, fractions))


def split_numpy(n, fractions, generator):
    _check(fractions)
    return _cut(torch.from_numpy(np.random.permutation(n)), _sizes(n, fractions))


def split_reseeding_globally(n, fractions, generator):
    torch.manual_seed(generator.initial_seed())
    return split_global_rng(n, fractions, generator)


def split_fixed_seed(n, fractions, generator):
    return good_split(n, fractions, torch.Generator().manual_seed(42))


def split_int32(n, fractions, generator):
    return tuple(p.int() for p in good_split(n, fractions, generator))


def split_float(n, fractions, generator):
    return tuple(p.float() for p in good_split(n, fractions, generator))


def split_lists(n, fractions, generator):
    return tuple(p.tolist() for p in good_split(n, fractions, generator))


def split_numpy_arrays(n, fractions, generator):
    return tuple(p.numpy() for p in good_split(n, fractions, generator))


def split_empty_as_float(n, fractions, generator):
    """Builds each part with torch.tensor(list): an empty part comes out float32."""
    return tuple(torch.tensor(p.tolist()) for p in good_split(n, fractions, generator))


def split_pair(n, fractions, generator):
    train, val, test = good_split(n, fractions, generator)
    return torch.cat([train, test]), val


def split_exact_sum(n, fractions, generator):
    if min(fractions) < 0 or sum(fractions) != 1:
        raise ValueError("fractions must sum to 1")
    return good_split(n, fractions, generator)


def split_rejecting_zero(n, fractions, generator):
    if min(fractions) <= 0:
        raise ValueError("fractions must be positive")
    return good_split(n, fractions, generator)


def split_without_sum_check(n, fractions, generator):
    if min(fractions) < 0:
        raise ValueError("negative fraction")
    return _cut(torch.randperm(n, generator=generator), _sizes(n, fractions))


def split_without_sign_check(n, fractions, generator):
    if not math.isclose(sum(fractions), 1):
        raise ValueError("fractions must sum to 1")
    return _cut(torch.randperm(n, generator=generator), _sizes(n, fractions))


def split_assert_instead(n, fractions, generator):
    assert min(fractions) >= 0 and math.isclose(sum(fractions), 1)
    return _cut(torch.randperm(n, generator=generator), _sizes(n, fractions))


def not_implemented(*args):
    raise NotImplementedError()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (split_truncating, r"int\(\) rounds down"),
        (split_ceil, r"math.ceil.*use Python's round"),
        (split_half_up, "rounded half up.*even neighbour"),
        (split_rounding_train, r"training part holds round\(n \* f_train\).*the other way round"),
        (split_random_split_fractions, "sizes of random_split with fractions"),
        (split_unshuffled, "consecutive blocks.*original order"),
        (split_reversed, "consecutive blocks.*original order"),
        (split_random_block, "contiguous block|original order"),
        (split_evenly_spaced, "evenly spaced"),
        (split_overlapping, "in both idx_train and idx_val"),
        (split_with_replacement, "appear twice.*with replacement"),
        (split_off_by_one, "every index must land in exactly one part.*off-by-one"),
        (split_swapped, "wrong order"),
        (split_global_rng, "does not follow the generator"),
        (split_python_random, "does not follow the generator"),
        (split_numpy, "does not follow the generator"),
        (split_reseeding_globally, "changed the global random state"),
        (split_fixed_seed, "different seeds returned the same split"),
        (split_int32, "dtype torch.int32.*int64"),
        (split_float, "dtype torch.float32.*int64"),
        (split_lists, "is a list; return index tensors"),
        (split_numpy_arrays, "is a ndarray; return index tensors"),
        (split_empty_as_float, r"torch.tensor\(\[\]\) is float32"),
        (split_pair, "tuple of three index tensors"),
        (split_exact_sum, r"raised ValueError.*0.9999999999999999.*math.isclose"),
        (split_rejecting_zero, "a fraction may be 0"),
        (split_without_sum_check, "sum to 1.1.*must raise ValueError"),
        (split_without_sign_check, "negative.*must raise ValueError"),
        (split_assert_instead, "(?s)raised AssertionError.*must raise ValueError"),
        (not_implemented, "not implemented"),
    ],
)
def test_train_val_test_split_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_train_val_test_split(wrong)


def split_sorted_parts(n, fractions, generator):
    return tuple(p.sort().values for p in good_split(n, fractions, generator))


def split_test_first(n, fractions, generator):
    """Cuts the permutation test | validation | train: another, equally random split."""
    _check(fractions)
    order = torch.randperm(n, generator=generator)
    n_train, n_val, n_test = _sizes(n, fractions)
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def split_by_argsort(n, fractions, generator):
    _check(fractions)
    return _cut(torch.rand(n, generator=generator).argsort(), _sizes(n, fractions))


@pytest.mark.parametrize(
    "correct", [good_split, split_random_split_sizes, split_sorted_parts, split_test_first, split_by_argsort]
)
def test_train_val_test_split_correct_variants_pass(correct):
    check_train_val_test_split(correct)


def test_split_check_leaves_the_global_random_state_alone(reference):
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    check_train_val_test_split(reference["train_val_test_split"])
    check_k_fold_indices(reference["k_fold_indices"])
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]


# -- k_fold_indices ------------------------------------------------------------------------


def _check_k(k, i):
    if k < 2 or not 0 <= i < k:
        raise ValueError(f"bad k={k} or i={i}")


def _from_bounds(n, start, stop):
    indices = torch.arange(n)
    return torch.cat([indices[:start], indices[stop:]]), indices[start:stop]


def good_folds(n, k, i):
    _check_k(k, i)
    q, r = divmod(n, k)
    start = i * q + min(i, r)
    return _from_bounds(n, start, start + q + (i < r))


def folds_tensor_split(n, k, i):
    _check_k(k, i)
    folds = torch.tensor_split(torch.arange(n), k)
    return torch.cat([f for j, f in enumerate(folds) if j != i]), folds[i]


def folds_array_split(n, k, i):
    _check_k(k, i)
    folds = [torch.from_numpy(f) for f in np.array_split(np.arange(n), k)]
    return torch.cat([f for j, f in enumerate(folds) if j != i]), folds[i]


def folds_by_mask(n, k, i):
    _check_k(k, i)
    q, r = divmod(n, k)
    fold_of = torch.tensor([j for j in range(k) for _ in range(q + (j < r))])
    return torch.nonzero(fold_of != i).flatten(), torch.nonzero(fold_of == i).flatten()


def folds_d2l(n, k, i):
    """D2L's get_k_fold_data as indices: folds of n // k, the remainder in no part."""
    _check_k(k, i)
    size = n // k
    folds = [torch.arange(j * size, (j + 1) * size) for j in range(k)]
    return torch.cat([f for j, f in enumerate(folds) if j != i]), folds[i]


def folds_d2l_remainder_in_train(n, k, i):
    """Folds of n // k; the leftover examples are trained on but never validated."""
    _check_k(k, i)
    size = n // k
    return _from_bounds(n, i * size, (i + 1) * size)


def folds_last_takes_remainder(n, k, i):
    _check_k(k, i)
    size = n // k
    start = i * size
    return _from_bounds(n, start, n if i == k - 1 else start + size)


def folds_remainder_at_the_end(n, k, i):
    """The last n % k folds one larger."""
    _check_k(k, i)
    q, r = divmod(n, k)
    small = k - r
    start = i * q + max(0, i - small)
    return _from_bounds(n, start, start + q + (i >= small))


def folds_ceil(n, k, i):
    _check_k(k, i)
    size = math.ceil(n / k)
    return _from_bounds(n, min(i * size, n), min((i + 1) * size, n))


def folds_shuffled(n, k, i):
    _check_k(k, i)
    order = torch.randperm(n)
    train, val = good_folds(n, k, i)
    return order[train], order[val]


def folds_strided(n, k, i):
    _check_k(k, i)
    val = torch.arange(i, n, k)
    mask = torch.ones(n, dtype=torch.bool)
    mask[val] = False
    return torch.arange(n)[mask], val


def folds_overlapping(n, k, i):
    _, val = good_folds(n, k, i)
    return torch.arange(n), val


def folds_off_by_one(n, k, i):
    """The training part skips the example just after the fold."""
    _check_k(k, i)
    train, val = good_folds(n, k, i)
    stop = int(val[-1]) + 1
    return train[train != stop], val


def folds_val_one_too_long(n, k, i):
    _check_k(k, i)
    q, r = divmod(n, k)
    start = i * q + min(i, r)
    return _from_bounds(n, start, min(n, start + q + (i < r) + 1))


def folds_one_based(n, k, i):
    if k < 2 or not 1 <= i <= k:
        raise ValueError("i counts 1..k")
    return good_folds(n, k, i - 1)


def folds_next_fold(n, k, i):
    """Returns fold i + 1 (wrapping around): i counted from 1 without checking."""
    _check_k(k, i)
    return good_folds(n, k, (i + 1) % k)


def folds_reverse_order(n, k, i):
    _check_k(k, i)
    return good_folds(n, k, k - 1 - i)


def folds_swapped(n, k, i):
    train, val = good_folds(n, k, i)
    return val, train


def folds_negative_i_wraps(n, k, i):
    if k < 2 or i >= k:
        raise ValueError("bad k or i")
    return good_folds(n, k, i % k)


def folds_without_k_check(n, k, i):
    if not 0 <= i < k:
        raise ValueError("bad i")
    q, r = divmod(n, k)
    start = i * q + min(i, r)
    return _from_bounds(n, start, start + q + (i < r))


def folds_assert_instead(n, k, i):
    assert k >= 2 and 0 <= i < k
    return good_folds(n, k, i)


def folds_int32(n, k, i):
    return tuple(t.int() for t in good_folds(n, k, i))


def folds_lists(n, k, i):
    return tuple(t.tolist() for t in good_folds(n, k, i))


def folds_ranges(n, k, i):
    _check_k(k, i)
    q, r = divmod(n, k)
    start = i * q + min(i, r)
    stop = start + q + (i < r)
    return list(range(start)) + list(range(stop, n)), range(start, stop)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (folds_d2l, "D2L's get_k_fold_data drops the remainder"),
        (folds_d2l_remainder_in_train, "never validated.*D2L"),
        (folds_last_takes_remainder, "last fold takes the whole remainder"),
        (folds_remainder_at_the_end, "larger folds come last"),
        (folds_ceil, r"math.ceil\(n / k\)"),
        (folds_shuffled, r"not one contiguous block \(shuffled\?\).*shuffling is the caller's job"),
        (folds_strided, r"every k-th example"),
        (folds_overlapping, "in both idx_train and idx_val"),
        (folds_off_by_one, "idx_train misses 1 example"),
        (folds_val_one_too_long, "off-by-one in the fold boundaries"),
        (folds_one_based, "i = k: folds count 0..k-1.*must raise ValueError"),
        (folds_next_fold, "fold i counts from 0"),
        (folds_reverse_order, "reverse order"),
        (folds_swapped, "swapped"),
        (folds_negative_i_wraps, "i = -1.*must raise ValueError"),
        (folds_without_k_check, "k = 1.*must raise ValueError"),
        (folds_assert_instead, "(?s)raised AssertionError.*must raise ValueError"),
        (folds_int32, "dtype torch.int32.*int64"),
        (folds_lists, "is a list; return index tensors"),
        (folds_ranges, "is a list; return index tensors"),
        (not_implemented, "not implemented"),
    ],
)
def test_k_fold_indices_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_k_fold_indices(wrong)


@pytest.mark.parametrize("correct", [good_folds, folds_tensor_split, folds_array_split, folds_by_mask])
def test_k_fold_indices_correct_variants_pass(correct):
    check_k_fold_indices(correct)
