"""Hidden checks for ch08_multi_input: DiabetesDataset and split_dataset."""

import gzip
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from autograder.checks._common import (
    call,
    global_rng_state,
    reseed_globally,
    same_global_rng_state,
    set_global_rng_state,
)

NUM_ROWS, NUM_FEATURES = 759, 8


# --------------------------------------------------------------------------------------------
# DiabetesDataset
# --------------------------------------------------------------------------------------------


def _diabetes_file() -> Path:
    from dlcourse.tabular import dataset_file

    return dataset_file("diabetes", "diabetes.csv.gz", download=False)


def _construct(DiabetesDataset, path, what, hint=""):
    """The student's dataset for ``path``; a crash becomes an AssertionError naming the case."""

    def construct():
        try:
            return DiabetesDataset(path), None
        except NotImplementedError:
            raise  # call() says "not implemented yet"
        except Exception as err:  # noqa: BLE001 - reported below with the case
            return None, f"{type(err).__name__}: {str(err)[:200]}"

    dataset, error = call(construct, what=what)
    if error is not None:
        raise AssertionError(f"{what}: raised {error}. {hint}".strip())
    assert isinstance(dataset, Dataset), (
        f"{what}: DiabetesDataset must subclass torch.utils.data.Dataset "
        "(class DiabetesDataset(Dataset): ...)"
    )
    return dataset


def _without_the_file(fn, what):
    """``fn()`` through ``call``; an OSError (the file is gone, a gzip error...) becomes an
    AssertionError saying that indexing must not read the file."""

    def run():
        try:
            return fn(), None
        except OSError as err:  # FileNotFoundError, gzip errors...
            return None, f"{type(err).__name__}: {str(err)[:200]}"

    result, error = call(run, what=what)
    if error is not None:
        raise AssertionError(
            f"{what}: len() or indexing touched the file, which is gone after construction "
            f"({error}). Read the whole file once in __init__ and keep the tensors: __getitem__ "
            "and __len__ only index them"
        )
    return result


def _check_item(item, i, what):
    assert isinstance(item, tuple | list) and len(item) == 2, (
        f"{what}: item {i} must be a pair (features, label), got {type(item).__name__}"
        + (f" of length {len(item)}" if isinstance(item, tuple | list) else "")
    )
    features, label = item
    for name, t in (("features", features), ("label", label)):
        if isinstance(t, np.ndarray):
            raise AssertionError(
                f"{what}: item {i}'s {name} is a NumPy array; return tensors (torch.from_numpy)"
            )
        assert isinstance(t, torch.Tensor), (
            f"{what}: item {i}'s {name} must be a torch.Tensor, got {type(t).__name__}"
        )
    if features.shape == (NUM_FEATURES + 1,):
        raise AssertionError(
            f"{what}: the features of item {i} have shape (9,): they include the label column. "
            "The features are the first 8 columns (xy[:, :-1]), the label the last"
        )
    assert features.shape == (NUM_FEATURES,), (
        f"{what}: the features of item {i} must have shape (8,), got {tuple(features.shape)}"
    )
    if label.shape == ():
        raise AssertionError(
            f"{what}: the label of item {i} has shape (), expected (1,). Keep the label column "
            "2-D (xy[:, [-1]] or xy[:, -1:]), so that a batch of labels has shape (batch, 1) "
            "like the network's output"
        )
    assert label.shape == (1,), (
        f"{what}: the label of item {i} must have shape (1,), got {tuple(label.shape)}"
    )
    for name, t in (("features", features), ("label", label)):
        if t.dtype == torch.float64:
            raise AssertionError(
                f"{what}: item {i}'s {name} are float64. np.loadtxt reads float64 unless told "
                "otherwise: pass dtype=np.float32 (the network's weights are float32)"
            )
        assert t.dtype == torch.float32, (
            f"{what}: item {i}'s {name} must be float32 (BCELoss needs float labels too), "
            f"got {t.dtype}"
        )


def _check_rows(dataset, rows: np.ndarray, what):
    """Every item equals the matching row of the file: 8 features, then the label."""
    n = _without_the_file(lambda: len(dataset), what)
    if n == len(rows) - 1:
        raise AssertionError(
            f"{what}: {n} items for a file of {len(rows)} rows: the first row was skipped as if "
            "it were a header (skiprows=1, or pandas' default header=0). The file has no header: "
            "its first row is an example"
        )
    assert isinstance(n, int) and n == len(rows), (
        f"{what}: expected {len(rows)} items, one per row of the file, got len() = {n}. "
        "Read the file given as path, and take the length from the data you read"
    )
    items = _without_the_file(lambda: [dataset[i] for i in range(n)], what)
    for i, item in enumerate(items):
        _check_item(item, i, what)
    features = torch.stack([f.cpu() for f, _ in items]).numpy()  # kept on a GPU is fine
    labels = torch.stack([y.cpu() for _, y in items]).numpy()
    if not np.array_equal(labels, rows[:, -1:]):
        if np.array_equal(labels, rows[:, :1]):
            raise AssertionError(
                f"{what}: the label is taken from the first column; it is the last one "
                "(xy[:, [-1]])"
            )
        bad = int(np.flatnonzero((labels != rows[:, -1:]).any(axis=1))[0])
        raise AssertionError(
            f"{what}: the label of item {bad} is {labels[bad].tolist()}, but row {bad} of the file "
            f"ends in {rows[bad, -1]:g}. Item i is row i: the label is the last column"
        )
    if not np.array_equal(features, rows[:, :-1]):
        if np.array_equal(features, rows[:, 1:]):
            raise AssertionError(
                f"{what}: the features are the last 8 columns, which include the label; they are "
                "the first 8 (xy[:, :-1])"
            )
        bad = int(np.flatnonzero((features != rows[:, :-1]).any(axis=1))[0])
        raise AssertionError(
            f"{what}: the features of item {bad} differ from the first 8 values of row {bad} of "
            "the file. Item i is row i of the file, unchanged (no shuffling, no scaling)"
        )


def _small_file(folder: Path) -> tuple[Path, np.ndarray]:
    """A plain CSV of 5 rows, each saying who it is: features 10 i + j, label i % 2."""
    rows = np.array(
        [[10 * i + j for j in range(NUM_FEATURES)] + [i % 2] for i in range(5)], dtype=np.float32
    )
    path = folder / "five_rows.csv"
    path.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in rows) + "\n")
    return path, rows


def check_DiabetesDataset(DiabetesDataset):
    source = _diabetes_file()
    rows = np.loadtxt(source, delimiter=",", dtype=np.float32)
    assert rows.shape == (NUM_ROWS, NUM_FEATURES + 1)  # the course's file, as SOURCE.md says
    with tempfile.TemporaryDirectory(prefix="ch08-") as tmp:
        folder = Path(tmp)
        gz = folder / "diabetes.csv.gz"
        shutil.copyfile(source, gz)
        what = "DiabetesDataset(path) of the gzip'd diabetes file"
        dataset = _construct(DiabetesDataset, str(gz), what)
        gz.unlink()  # from now on only what __init__ kept in memory can answer
        _check_rows(dataset, rows, what + " (deleted after construction)")

        plain = folder / "diabetes.csv"
        plain.write_bytes(gzip.decompress(source.read_bytes()))
        what = "DiabetesDataset(path) of the plain, not gzip'd, diabetes.csv (a pathlib.Path)"
        dataset = _construct(
            DiabetesDataset, plain, what,
            hint="np.loadtxt reads plain and .gz files alike (gzip.open reads only .gz); accept a "
            "str or a pathlib.Path",
        )  # fmt: skip
        _check_rows(dataset, rows, what)

        small, small_rows = _small_file(folder)
        what = "DiabetesDataset(path) of a plain CSV with 5 rows in the same format"
        _check_rows(_construct(DiabetesDataset, str(small), what), small_rows, what)

        missing = folder / "no_such_file.csv.gz"

        def construct_missing():
            try:
                DiabetesDataset(str(missing))
            except FileNotFoundError:
                return None
            except Exception as err:  # noqa: BLE001
                return f"raised {type(err).__name__}: {str(err)[:200]}"
            return "returned a dataset without complaint"

        outcome = call(construct_missing, what="DiabetesDataset of a file that does not exist")
        assert outcome is None, (
            f"DiabetesDataset of a file that does not exist {outcome}; it must raise "
            "FileNotFoundError (np.loadtxt does: don't catch it, and don't return an empty dataset)"
        )


# --------------------------------------------------------------------------------------------
# split_dataset
# --------------------------------------------------------------------------------------------


class _Numbered(Dataset):
    """A dataset of ``n`` examples that say who they are: features (i, -i), label i % 2. It has no
    attributes to reach into: a split may use only ``len(dataset)`` and ``dataset[i]``."""

    def __init__(self, n):
        self._n = n

    def __len__(self):
        return self._n

    def __getitem__(self, index):
        i = int(index)
        if not 0 <= i < self._n:
            raise IndexError(f"index {i} out of range for {self._n} examples")
        return torch.tensor([float(i), -float(i)]), torch.tensor([float(i % 2)])


def _split(split_dataset, n, fraction, seed, what):
    """The ids of the student's (train, val) for ``_Numbered(n)``, checked to be datasets of the
    dataset's own items."""
    dataset = _Numbered(n)
    result = call(split_dataset, dataset, fraction, torch.Generator().manual_seed(seed), what=what)
    assert isinstance(result, tuple | list) and len(result) == 2, (
        f"{what}: return a pair (train, val), got {type(result).__name__}"
    )
    ids = []
    for name, part in zip(("train", "val"), result, strict=True):
        if isinstance(part, torch.Tensor | list | range | np.ndarray):
            raise AssertionError(
                f"{what}: {name} is a {type(part).__name__}; return datasets, e.g. "
                "Subset(dataset, indices), not the indices"
            )
        assert isinstance(part, Dataset), (
            f"{what}: {name} must be a torch.utils.data.Dataset (e.g. Subset(dataset, indices)), "
            f"got {type(part).__name__}"
        )

        def read(part=part):
            return [part[j] for j in range(len(part))]

        items = call(read, what=f"{what}, reading {name}")
        part_ids = []
        for item in items:
            ok = isinstance(item, tuple | list) and len(item) == 2
            features = item[0] if ok else None
            assert ok and isinstance(features, torch.Tensor) and features.shape == (2,), (
                f"{what}: the items of {name} must be the dataset's own items (features, label); "
                "build the parts with Subset(dataset, indices)"
            )
            i = int(features[0])
            assert torch.equal(features, dataset[i][0]) and torch.equal(item[1], dataset[i][1]), (
                f"{what}: an item of {name} is not an item of the dataset"
            )
            part_ids.append(i)
        ids.append(part_ids)
    return ids


def _check_partition(split_dataset, n, fraction, seed):
    what = f"split_dataset of {n} examples with val_fraction={fraction}"
    train, val = _split(split_dataset, n, fraction, seed, what)
    n_val = round(n * fraction)
    if len(val) != n_val:
        if len(train) == n_val and len(val) == n - n_val:
            raise AssertionError(
                f"{what}: train and val are swapped: val must hold round(n * val_fraction) = "
                f"{n_val} examples and train the other {n - n_val}; return (train, val)"
            )
        if len(val) == int(n * fraction):
            raise AssertionError(
                f"{what}: val holds {len(val)} examples, int(n * val_fraction), which rounds down; "
                f"use round(n * val_fraction) = {n_val}"
            )
        raise AssertionError(
            f"{what}: val holds {len(val)} examples; it must hold round(n * val_fraction) = {n_val}"
        )
    both = train + val
    if len(set(train) & set(val)):
        raise AssertionError(
            f"{what}: {len(set(train) & set(val))} examples are in both train and val. Draw one "
            "permutation and cut it in two: the parts must not overlap"
        )
    if len(set(both)) < len(both):
        raise AssertionError(
            f"{what}: some examples appear twice in a part (sampling with replacement?); use a "
            "permutation, torch.randperm(n, generator=generator)"
        )
    assert len(both) == n and set(both) == set(range(n)), (
        f"{what}: train and val hold {len(both)} of the {n} examples; together they must hold every "
        "example exactly once"
    )
    if sorted(val) in (list(range(n_val)), list(range(n - n_val, n))):
        raise AssertionError(
            f"{what}: val is the {'first' if 0 in val else 'last'} {n_val} examples in their "
            "original order; the split must be random: shuffle the indices with "
            "torch.randperm(n, generator=generator) before cutting"
        )
    low, high = min(val), max(val)
    contiguous = sorted(val) == list(range(low, high + 1))
    wrapped = sorted(train) == list(range(min(train), max(train) + 1))
    if contiguous or wrapped:
        raise AssertionError(
            f"{what}: val is one contiguous block of indices; a random split picks examples from "
            "everywhere: shuffle all the indices (torch.randperm) and cut the permutation"
        )
    return set(val)


def check_split_dataset(split_dataset):
    saved = global_rng_state()
    try:
        _check_split_dataset(split_dataset)
    finally:
        set_global_rng_state(saved)


def _check_split_dataset(split_dataset):
    for fraction in (0.0, 1.0, -0.2, 1.5):
        what = f"split_dataset with val_fraction={fraction}"

        def attempt(fraction=fraction):
            try:
                split_dataset(_Numbered(10), fraction, torch.Generator().manual_seed(0))
            except ValueError:
                return None
            except NotImplementedError:
                raise  # call() says "not implemented yet"
            except Exception as err:  # noqa: BLE001
                return f"raised {type(err).__name__}: {str(err)[:200]}"
            return "returned a split"

        outcome = call(attempt, what=what)
        assert outcome is None, (
            f"{what} {outcome}; it must raise ValueError: val_fraction must lie strictly between "
            "0 and 1 (check it first: if not 0 < val_fraction < 1: raise ValueError(...))"
        )

    for n, fraction, seed in ((759, 0.2, 80), (23, 0.3, 81), (30, 0.21, 82), (40, 0.45, 83)):
        _check_partition(split_dataset, n, fraction, seed)

    # Random: the validation examples come from everywhere, not from one region.
    val = _check_partition(split_dataset, 1000, 0.2, 84)
    share = sum(i < 500 for i in val) / len(val)
    assert 0.35 < share < 0.65, (
        f"split_dataset of 1000 examples: {share:.0%} of val comes from the first half; a random "
        "split takes examples from everywhere (torch.randperm)"
    )
    gaps = np.diff(sorted(val))  # a random sample of 200 of 1000 has gaps from 1 to about 30
    assert gaps.max() - gaps.min() > 2, (
        f"split_dataset of 1000 examples: val is evenly spaced (gaps of {gaps.min()} to "
        f"{gaps.max()}), every k-th example from some start: a systematic sample, not a random "
        "one. Shuffle all the indices (torch.randperm(n, generator=generator)) and cut the "
        "permutation"
    )

    # Reproducible with the generator, whatever the global random state.
    what = "split_dataset called twice with generators of the same seed"
    reseed_globally(1)
    first = _split(split_dataset, 100, 0.2, 85, what)
    reseed_globally(2)
    second = _split(split_dataset, 100, 0.2, 85, what)
    if set(first[1]) != set(second[1]):
        raise AssertionError(
            f"{what} (and another global random state): the splits differ, so the split does not "
            "follow the generator passed in. Draw the permutation from it: "
            "torch.randperm(n, generator=generator), not the global torch.randperm(n), "
            "random.shuffle or np.random"
        )
    # ... drawn from the generator alone: the global random state is neither reseeded nor used.
    reseed_globally(3)
    before = global_rng_state()
    _split(split_dataset, 100, 0.2, 85, "split_dataset")
    after = global_rng_state()
    if not same_global_rng_state(before, after):
        raise AssertionError(
            "split_dataset changed the global random state (torch.manual_seed, random.seed or "
            "np.random.seed inside, or a draw from the global generators). Draw the permutation "
            "from the generator passed in, torch.randperm(n, generator=generator), and leave the "
            "global state alone"
        )
    # ... and different for generators of different seeds.
    vals = [frozenset(_split(split_dataset, 100, 0.2, seed, "split_dataset")[1]) for seed in (86, 87, 88)]
    assert len(set(vals)) == 3, (
        "split_dataset with generators of different seeds returned the same split: the split "
        "must come from the generator passed in (no fixed seed inside the function)"
    )
