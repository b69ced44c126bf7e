"""Hidden checks for ch12_generalization: train_val_test_split and k_fold_indices."""

import math

import numpy as np
import torch

from autograder.checks._common import (
    call,
    global_rng_state,
    reseed_globally,
    same_global_rng_state,
    set_global_rng_state,
)

PARTS = ("idx_train", "idx_val", "idx_test")


# --------------------------------------------------------------------------------------------
# shared by both checks
# --------------------------------------------------------------------------------------------


def _raises_value_error(fn, args, what):
    """None when ``fn(*args)`` raises ValueError, else what it did instead."""

    def attempt():
        try:
            fn(*args)
        except ValueError:
            return None
        except NotImplementedError:
            raise  # call() says "not implemented yet"
        except Exception as err:  # noqa: BLE001 - reported with the case
            return f"raised {type(err).__name__}: {str(err)[:200]}"
        return "returned without complaint"

    return call(attempt, what=what)


def _indices(t, name, n, what) -> list[int]:
    """The values of one returned index tensor, checked to be a 1-D int64 tensor of indices
    into range(n)."""
    if not isinstance(t, torch.Tensor):
        raise AssertionError(
            f"{what}: {name} is a {type(t).__name__}; return index tensors (torch.Tensor of dtype "
            "int64), e.g. slices of torch.randperm(n, generator=generator) or of torch.arange(n)"
        )
    assert t.dim() == 1, f"{what}: {name} must be a 1-D tensor of indices, got shape {tuple(t.shape)}"
    if t.dtype != torch.int64:
        empty = " (torch.tensor([]) is float32: an empty part needs dtype=torch.long too)" if (
            t.numel() == 0 and t.dtype.is_floating_point) else ""  # fmt: skip
        raise AssertionError(
            f"{what}: {name} has dtype {t.dtype}; index tensors are int64 (torch.long), which is "
            "what torch.randperm and torch.arange return: don't convert them (.int(), .float(), "
            f"dtype=torch.int32){empty}"
        )
    values = t.cpu().tolist()
    outside = [v for v in values if not 0 <= v < n]
    assert not outside, (
        f"{what}: {name} holds indices outside 0..{n - 1} (e.g. {outside[0]}); the indices of n "
        "examples are 0, 1, ..., n - 1"
    )
    return values


def _unlikely_block(n, size) -> bool:
    """A random subset of ``size`` of ``n`` indices is one contiguous block with probability
    (n - size + 1) / C(n, size): below 1e-3, a block means that the split was not random."""
    return 1 < size < n and (n - size + 1) / math.comb(n, size) < 1e-3


def _contiguous(values) -> bool:
    return len(values) > 1 and sorted(values) == list(range(min(values), max(values) + 1))


# --------------------------------------------------------------------------------------------
# train_val_test_split
# --------------------------------------------------------------------------------------------


def _split(fn, n, fractions, seed, what):
    """The student's three parts for ``n`` examples as lists, and the tensors themselves."""
    result = call(fn, n, fractions, torch.Generator().manual_seed(seed), what=what)
    assert isinstance(result, tuple | list) and len(result) == 3, (
        f"{what}: return a tuple of three index tensors (idx_train, idx_val, idx_test), got "
        f"{type(result).__name__}" + (f" of length {len(result)}" if isinstance(result, tuple | list) else "")
    )
    parts = [_indices(t, name, n, what) for name, t in zip(PARTS, result, strict=True)]
    return parts, list(result)


def _diagnose_sizes(n, fractions, got, what):
    """Fail with the likely mistake when the three sizes are not the promised ones."""
    f_train, f_val, f_test = fractions
    n_val, n_test = round(n * f_val), round(n * f_test)
    expected = (n - n_val - n_test, n_val, n_test)
    if got == expected:
        return
    shown = (f"sizes (train, val, test) = {got}, expected {expected}: validation round(n * f_val) "
             f"= round({n * f_val:g}) = {n_val}, test round(n * f_test) = round({n * f_test:g}) = "
             f"{n_test}, and the training part takes the rest")  # fmt: skip
    if sorted(got) == sorted(expected):
        raise AssertionError(
            f"{what}: {shown}. The parts come back in the wrong order: return "
            "(idx_train, idx_val, idx_test)"
        )
    if sum(got) != n:
        raise AssertionError(
            f"{what}: {shown}. The parts hold {sum(got)} indices for {n} examples: every index "
            "must land in exactly one part (an off-by-one in the slices?)"
        )
    floors = [math.floor(n * f) for f in fractions]
    for j in range(n - sum(floors)):
        floors[j % 3] += 1
    if got == tuple(floors):
        raise AssertionError(
            f"{what}: {shown}. These are the sizes of random_split with fractions, which rounds "
            "every n * f down and hands the leftover examples out one by one from the first part; "
            "pass random_split the three sizes (round() for validation and test) instead"
        )
    if got[0] == round(n * f_train) and got[1] == n_val:
        raise AssertionError(
            f"{what}: {shown}. The training part holds round(n * f_train) = {got[0]} and the test "
            "part the rest; it is the other way round: round the validation and test sizes and "
            "give the training part the rest, n - n_val - n_test"
        )
    for i, (name, f) in enumerate((("val", f_val), ("test", f_test)), start=1):
        x = n * f
        if got[i] == expected[i]:
            continue
        if got[i] == int(x):
            raise AssertionError(
                f"{what}: {shown}. {name} holds int({x:g}) = {int(x)}: int() rounds down; use "
                f"Python's round(n * f) = {round(x)}"
            )
        if got[i] == math.floor(x + 0.5):
            raise AssertionError(
                f"{what}: {shown}. {name} holds {got[i]}, {x:g} rounded half up; Python's "
                f"round({x:g}) = {round(x)} rounds a half to the even neighbour: use round(n * f)"
            )
        if got[i] == math.ceil(x):
            raise AssertionError(
                f"{what}: {shown}. {name} holds math.ceil({x:g}) = {math.ceil(x)}; use Python's "
                f"round(n * f) = {round(x)}"
            )
    raise AssertionError(f"{what}: {shown}")


def _check_split(fn, n, fractions, seed):
    """One split: sizes, a partition of range(n), and random parts; returns the parts."""
    what = f"train_val_test_split({n}, {fractions}, generator)"
    parts, _ = _split(fn, n, fractions, seed, what)
    for name, part in zip(PARTS, parts, strict=True):
        if len(set(part)) < len(part):
            raise AssertionError(
                f"{what}: some indices appear twice in {name} (sampling with replacement, "
                "torch.randint?); cut one permutation, torch.randperm(n, generator=generator), "
                "into three slices"
            )
    for a in range(3):
        for b in range(a + 1, 3):
            common = set(parts[a]) & set(parts[b])
            if common:
                raise AssertionError(
                    f"{what}: {len(common)} indices are in both {PARTS[a]} and {PARTS[b]}. Draw "
                    "one permutation and cut it into three slices: the parts must not overlap"
                )
    _diagnose_sizes(n, fractions, tuple(len(p) for p in parts), what)
    covered = set().union(*map(set, parts))
    assert covered == set(range(n)), (
        f"{what}: the parts miss {n - len(covered)} of the {n} indices; together they must hold "
        "every index 0..n-1 exactly once"
    )
    telling = [p for p in parts[1:] if _unlikely_block(n, len(p))]
    if telling and all(_contiguous(p) or len(p) < 2 for p in parts):
        raise AssertionError(
            f"{what}: the parts are consecutive blocks of 0..n-1, the examples in their original "
            "order; the split must be random: shuffle all the indices with "
            "torch.randperm(n, generator=generator), then cut"
        )
    for name, part in zip(PARTS[1:], parts[1:], strict=True):
        if _unlikely_block(n, len(part)) and _contiguous(part):
            raise AssertionError(
                f"{what}: {name} is one contiguous block of indices; a random split picks "
                "examples from everywhere: shuffle all the indices (torch.randperm) and cut the "
                "permutation"
            )
    return parts


def _check_value_errors(fn):
    bad = [
        ((0.9, -0.1, 0.2), "a negative fraction"),
        ((1.2, -0.1, -0.1), "negative fractions (their sum is 1)"),
        ((-0.2, 0.6, 0.6), "a negative training fraction"),
        ((0.7, 0.2, 0.2), "fractions that sum to 1.1"),
        ((0.6, 0.2, 0.1), "fractions that sum to 0.9"),
        ((0.5, 0.25, 0.2), "fractions that sum to 0.95"),
    ]
    for fractions, why in bad:
        what = f"train_val_test_split(20, {fractions}, generator) ({why})"
        outcome = _raises_value_error(fn, (20, fractions, torch.Generator().manual_seed(0)), what)
        assert outcome is None, (
            f"{what} {outcome}; it must raise ValueError: check the fractions first, every one "
            ">= 0 and their sum 1 up to rounding (math.isclose(sum(fractions), 1)), and "
            "raise ValueError(...) otherwise (not assert)"
        )

    good = [
        ((0.7, 0.2, 0.1), "whose sum is 0.9999999999999999 in floating point: compare the sum with "
                          "1 up to rounding, math.isclose(sum(fractions), 1), not with =="),
        ([0.8, 0.1, 0.1], "given as a list"),
        ((0.8, 0.2, 0.0), "with a test fraction of 0: a fraction may be 0 (an empty part); only "
                          "negative fractions raise"),
        ((0.9, 0.0, 0.1), "with a validation fraction of 0: a fraction may be 0 (an empty part); "
                          "only negative fractions raise"),
    ]  # fmt: skip
    for fractions, why in good:
        what = f"train_val_test_split(40, {fractions}, generator)"

        def attempt(fractions=fractions):
            try:
                return fn(40, fractions, torch.Generator().manual_seed(1)), None
            except ValueError as err:
                return None, str(err)[:200]

        _, error = call(attempt, what=what)
        if error is not None:
            raise AssertionError(f"{what} raised ValueError ({error}), for valid fractions {why}")


def check_train_val_test_split(train_val_test_split):
    saved = global_rng_state()
    try:
        _check_train_val_test_split(train_val_test_split)
    finally:
        set_global_rng_state(saved)


def _check_train_val_test_split(fn):
    _check_value_errors(fn)

    cases = [
        (759, (0.7, 0.2, 0.1), 120),   # 151.8 and 75.9: round, not int
        (100, (0.8, 0.1, 0.1), 121),
        (37, [0.6, 0.3, 0.1], 122),     # 11.1: math.ceil would give 12
        (10, (0.5, 0.25, 0.25), 123),  # 2.5: Python's round gives 2, rounding half up 3
        (23, (0.34, 0.33, 0.33), 124),  # 7.59: round(n * f_train) = 8 would leave 7 for test
        (40, (0.8, 0.2, 0.0), 125),
        (50, (0.9, 0.0, 0.1), 126),
        (1000, (0.98, 0.01, 0.01), 127),
    ]  # fmt: skip
    for n, fractions, seed in cases:
        _check_split(fn, n, fractions, seed)

    # Random: validation and test examples come from everywhere, not from one region.
    _, val, test = _check_split(fn, 1000, (0.6, 0.2, 0.2), 128)
    for name, part in (("idx_val", val), ("idx_test", test)):
        share = sum(i < 500 for i in part) / len(part)
        assert 0.35 < share < 0.65, (
            f"train_val_test_split(1000, (0.6, 0.2, 0.2)): {share:.0%} of {name} comes from the "
            "first half of the examples; a random split takes examples from everywhere "
            "(torch.randperm(n, generator=generator))"
        )
        gaps = np.diff(sorted(part))  # 200 random indices of 1000 have gaps from 1 to about 30
        assert gaps.max() - gaps.min() > 2, (
            f"train_val_test_split(1000, (0.6, 0.2, 0.2)): {name} is evenly spaced (gaps of "
            f"{gaps.min()} to {gaps.max()}), every k-th example: a systematic sample, not a random "
            "one. Shuffle all the indices (torch.randperm(n, generator=generator)) and cut the "
            "permutation"
        )

    # Reproducible with the generator, whatever the global random state.
    what = "train_val_test_split(100, (0.7, 0.2, 0.1)) with generators of the same seed"
    reseed_globally(1)
    _, first = _split(fn, 100, (0.7, 0.2, 0.1), 129, what)
    reseed_globally(2)
    _, second = _split(fn, 100, (0.7, 0.2, 0.1), 129, what)
    if not all(torch.equal(a, b) for a, b in zip(first, second, strict=True)):
        raise AssertionError(
            f"{what} (and another global random state) returned different splits, so the split "
            "does not follow the generator passed in. Draw the permutation from it: "
            "torch.randperm(n, generator=generator), not the global torch.randperm(n), "
            "random.shuffle or np.random"
        )
    # ... drawn from the generator alone: the global random state is neither reseeded nor used.
    reseed_globally(3)
    before = global_rng_state()
    _split(fn, 100, (0.7, 0.2, 0.1), 129, "train_val_test_split(100, (0.7, 0.2, 0.1))")
    if not same_global_rng_state(before, global_rng_state()):
        raise AssertionError(
            "train_val_test_split changed the global random state (torch.manual_seed, random.seed "
            "or np.random.seed inside, or a draw from the global generators). Draw the "
            "permutation from the generator passed in, torch.randperm(n, generator=generator), "
            "and leave the global state alone"
        )
    # ... and different for generators of different seeds.
    vals = {
        frozenset(_split(fn, 100, (0.7, 0.2, 0.1), seed, "train_val_test_split")[0][1])
        for seed in (130, 131, 132)
    }
    assert len(vals) == 3, (
        "train_val_test_split with generators of different seeds returned the same split: the "
        "split must come from the generator passed in (no fixed seed inside the function)"
    )


# --------------------------------------------------------------------------------------------
# k_fold_indices
# --------------------------------------------------------------------------------------------


def _fold_bounds(n, k):
    """(start, stop) of each fold: the first n % k folds hold n // k + 1 examples."""
    bounds, start = [], 0
    for j in range(k):
        size = n // k + (j < n % k)
        bounds.append((start, start + size))
        start += size
    return bounds


def _fold(fn, n, k, i):
    what = f"k_fold_indices({n}, {k}, {i})"
    result = call(fn, n, k, i, what=what)
    assert isinstance(result, tuple | list) and len(result) == 2, (
        f"{what}: return a pair of index tensors (idx_train, idx_val), got {type(result).__name__}"
    )
    names = ("idx_train", "idx_val")
    return tuple(_indices(t, name, n, what) for name, t in zip(names, result, strict=True))


def _diagnose_fold_sizes(n, k, sizes, what):
    expected = [b - a for a, b in _fold_bounds(n, k)]
    if sizes == expected:
        return
    q, r = divmod(n, k)
    shown = (f"fold sizes {sizes}, expected {expected}: {n} = {k} x {q} + {r}, so the first "
             f"n % k = {r} folds hold {q + 1} examples and the others {q}, as in scikit-learn's "
             "KFold")  # fmt: skip
    if sizes == [n - e for e in expected]:
        raise AssertionError(
            f"{what}: {shown}. idx_train and idx_val are swapped: return (idx_train, idx_val), "
            "the validation fold second"
        )
    if sizes == [q] * k:
        raise AssertionError(
            f"{what}: {shown}. Every fold holds n // k = {q}, so the last {r} examples are never "
            "validated (D2L's get_k_fold_data drops the remainder this way): hand the remainder "
            "out one by one to the first folds"
        )
    if sizes == [q] * (k - 1) + [q + r]:
        raise AssertionError(
            f"{what}: {shown}. The last fold takes the whole remainder and holds {q + r}; sizes "
            "must differ by at most one: give one extra example to each of the first n % k folds"
        )
    if sizes == expected[::-1]:
        raise AssertionError(
            f"{what}: {shown}. The larger folds come last; the first n % k folds are the larger "
            "ones"
        )
    c = math.ceil(n / k)
    if sizes[0] == c and sizes != expected:
        raise AssertionError(
            f"{what}: {shown}. Folds of math.ceil(n / k) = {c} leave the last fold(s) short (or "
            "empty); sizes must differ by at most one"
        )
    if sum(sizes) != n:
        raise AssertionError(
            f"{what}: {shown}. The validation folds hold {sum(sizes)} examples in all; every "
            f"example must be validated exactly once, so they must hold all {n} (an off-by-one "
            "in the fold boundaries?)"
        )
    raise AssertionError(f"{what}: {shown}")


def _check_folds(fn, n, k):
    """All k folds of range(n): sizes, contiguous and in order, train = the rest."""
    what = f"k_fold_indices({n}, {k}, i) for i = 0..{k - 1}"
    folds = [_fold(fn, n, k, i) for i in range(k)]
    for i, (train, val) in enumerate(folds):
        where = f"k_fold_indices({n}, {k}, {i})"
        if len(set(val)) < len(val) or len(set(train)) < len(train):
            raise AssertionError(f"{where}: some indices appear twice in a part")
        common = set(train) & set(val)
        if common:
            raise AssertionError(
                f"{where}: {len(common)} indices are in both idx_train and idx_val; the training "
                "part is every example outside the validation fold"
            )
    _diagnose_fold_sizes(n, k, [len(val) for _, val in folds], what)
    bounds = _fold_bounds(n, k)
    vals = [val for _, val in folds]
    if all(sorted(v) == sorted(range(a, b)) for v, (a, b) in zip(vals[::-1], bounds, strict=True)) and k > 2:
        raise AssertionError(f"{what}: the folds come in reverse order; fold 0 holds the first examples")
    for i, ((train, val), (start, stop)) in enumerate(zip(folds, bounds, strict=True)):
        where = f"k_fold_indices({n}, {k}, {i})"
        if sorted(val) == list(range(start, stop)):
            missing = set(range(n)) - set(train) - set(val)
            if len(train) + len(val) != n or missing:
                raise AssertionError(
                    f"{where}: idx_train misses {len(missing) or n - len(train) - len(val)} "
                    f"example(s) (e.g. {sorted(missing)[:3]}); the training part is every example "
                    "outside the validation fold, the other k - 1 folds together"
                )
            continue
        if len(val) > 1 and not _contiguous(val):
            strided = sorted(val) == list(range(i, n, k))
            raise AssertionError(
                f"{where}: the validation fold is not one contiguous block"
                + (" (every k-th example)" if strided else " (shuffled?)")
                + f"; fold {i} is examples {start}..{stop - 1}, in order: folds are contiguous "
                "slices of 0..n-1, and shuffling is the caller's job"
            )
        nxt = bounds[i + 1] if i + 1 < k else None
        if nxt is not None and sorted(val) == list(range(*nxt)):
            raise AssertionError(
                f"{where}: returned fold {i + 1}'s block ({nxt[0]}..{nxt[1] - 1}); fold i counts "
                f"from 0: fold {i} is examples {start}..{stop - 1}"
            )
        raise AssertionError(
            f"{where}: the validation fold holds examples {min(val)}..{max(val)}; fold {i} is "
            f"examples {start}..{stop - 1} (the folds are contiguous, in order, the first n % k "
            "one larger)"
        )
    validated = sorted(j for v in vals for j in v)
    assert validated == list(range(n)), f"{what}: every example must be validated exactly once"


def check_k_fold_indices(k_fold_indices):
    saved = global_rng_state()
    try:
        _check_k_fold_indices(k_fold_indices)
    finally:
        set_global_rng_state(saved)


def _check_k_fold_indices(fn):
    for n, k, i, why in [
        (20, 1, 0, "k = 1: one fold leaves nothing to train on"),
        (20, 0, 0, "k = 0"),
        (20, -3, 0, "a negative k"),
        (20, 5, -1, "i = -1: folds count 0..k-1 (negative indexing must not wrap around)"),
        (20, 5, 5, "i = k: folds count 0..k-1"),
        (20, 5, 8, "i > k"),
    ]:
        what = f"k_fold_indices({n}, {k}, {i}) ({why})"
        outcome = _raises_value_error(fn, (n, k, i), what)
        assert outcome is None, (
            f"{what} {outcome}; it must raise ValueError: check first that k >= 2 and "
            "0 <= i < k, and raise ValueError(...) otherwise (not assert)"
        )

    for n, k in [(12, 4), (23, 5), (10, 3), (7, 7), (5, 2), (759, 10), (2, 2), (101, 4)]:
        _check_folds(fn, n, k)

    # The folds depend on n, k and i alone: no randomness, global or otherwise.
    reseed_globally(4)
    first = _fold(fn, 50, 5, 2)
    reseed_globally(5)
    assert _fold(fn, 50, 5, 2) == first, (
        "k_fold_indices(50, 5, 2) differs between two calls: the folds are fixed slices of "
        "0..n-1; shuffling is the caller's job"
    )
