"""The ch08 hidden checks pass the reference solutions and fail realistic mistakes."""

import gzip
import math
import random

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import Dataset, Subset, random_split

from autograder.checks.ch08_multi_input import check_DiabetesDataset, check_split_dataset
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# the split of the first k examples, unshuffled.
WRONG_SUBMISSION = {
    "split_dataset": '''from torch.utils.data import Subset


def split_dataset(dataset, val_fraction, generator):
    if not 0 < val_fraction < 1:
        raise ValueError("val_fraction must lie in (0, 1)")
    n_val = round(len(dataset) * val_fraction)
    return Subset(dataset, range(n_val, len(dataset))), Subset(dataset, range(n_val))
'''
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch08_multi_input")


def test_reference_passes(reference):
    check_DiabetesDataset(reference["DiabetesDataset"])
    check_split_dataset(reference["split_dataset"])


def test_the_wrong_submission_is_wrong():
    namespace = {}
    exec(WRONG_SUBMISSION["split_dataset"], namespace)
    with pytest.raises(AssertionError, match="original order"):
        check_split_dataset(namespace["split_dataset"])


# -- DiabetesDataset -----------------------------------------------------------------------


class Good(Dataset):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",", dtype=np.float32)
        self.x, self.y = torch.from_numpy(xy[:, :-1]), torch.from_numpy(xy[:, [-1]])

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __len__(self):
        return len(self.x)


class Float64(Good):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",")  # NumPy's default dtype: float64
        self.x, self.y = torch.from_numpy(xy[:, :-1]), torch.from_numpy(xy[:, [-1]])


class FlatLabel(Good):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",", dtype=np.float32)
        self.x, self.y = torch.from_numpy(xy[:, :-1]), torch.from_numpy(xy[:, -1])  # shape ()


class ReadsInGetitem(Dataset):
    def __init__(self, path):
        self.path = path
        self.n = len(np.loadtxt(path, delimiter=",", dtype=np.float32))

    def __getitem__(self, i):
        xy = np.loadtxt(self.path, delimiter=",", dtype=np.float32)
        return torch.from_numpy(xy[i, :-1]), torch.from_numpy(xy[i, -1:])

    def __len__(self):
        return self.n


class ReadsLazily(Good):
    def __init__(self, path):
        self.path, self.x = path, None

    def __getitem__(self, i):
        if self.x is None:
            super().__init__(self.path)
        return super().__getitem__(i)

    def __len__(self):
        if self.x is None:
            super().__init__(self.path)
        return super().__len__()


class SkipsHeader(Good):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",", dtype=np.float32, skiprows=1)
        self.x, self.y = torch.from_numpy(xy[:, :-1]), torch.from_numpy(xy[:, [-1]])


class PandasDefaultHeader(Good):
    def __init__(self, path):
        xy = pd.read_csv(path).to_numpy(dtype=np.float32)  # header=0: the first row is lost
        self.x, self.y = torch.from_numpy(xy[:, :-1]), torch.from_numpy(xy[:, [-1]])


class FirstColumnLabel(Good):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",", dtype=np.float32)
        self.x, self.y = torch.from_numpy(xy[:, 1:]), torch.from_numpy(xy[:, [0]])


class LabelInFeatures(Good):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",", dtype=np.float32)
        self.x, self.y = torch.from_numpy(xy), torch.from_numpy(xy[:, [-1]])


class LastEightFeatures(Good):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",", dtype=np.float32)
        self.x, self.y = torch.from_numpy(xy[:, 1:]), torch.from_numpy(xy[:, [-1]])


class HardCodedPath(Good):
    def __init__(self, path):
        from dlcourse.tabular import dataset_file

        super().__init__(dataset_file("diabetes", "diabetes.csv.gz"))


class HardCodedLength(Good):
    def __len__(self):
        return 759


class GzipOnly(Good):
    def __init__(self, path):
        with gzip.open(path, "rt") as file:
            xy = np.loadtxt(file, delimiter=",", dtype=np.float32)
        self.x, self.y = torch.from_numpy(xy[:, :-1]), torch.from_numpy(xy[:, [-1]])


class StrPathOnly(Good):
    def __init__(self, path):
        if not path.endswith(".gz"):  # a pathlib.Path has no endswith
            raise ValueError("not a .gz file")
        super().__init__(path)


class SwallowsMissingFile(Good):
    def __init__(self, path):
        try:
            super().__init__(path)
        except OSError:
            self.x, self.y = torch.empty(0, 8), torch.empty(0, 1)


class RaisesValueErrorForMissingFile(Good):
    def __init__(self, path):
        try:
            super().__init__(path)
        except FileNotFoundError:
            raise ValueError(f"no file {path}") from None


class NumpyItems(Good):
    def __getitem__(self, i):
        return self.x[i].numpy(), self.y[i].numpy()


class IntegerLabels(Good):
    def __getitem__(self, i):
        return self.x[i], self.y[i].long()


class FeaturesOnly(Good):
    def __getitem__(self, i):
        return self.x[i]


class NotADataset:  # Good's methods without the Dataset base class
    __init__, __getitem__, __len__ = Good.__init__, Good.__getitem__, Good.__len__


class ShufflesRows(Good):
    def __init__(self, path):
        super().__init__(path)
        order = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(0))
        self.x, self.y = self.x[order], self.y[order]


class Standardises(Good):
    def __init__(self, path):
        super().__init__(path)
        self.x = (self.x - self.x.mean(0)) / self.x.std(0)


class NotImplementedDataset(Dataset):
    def __init__(self, path):
        raise NotImplementedError()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (Float64, "float64.*dtype=np.float32"),
        (FlatLabel, r"shape \(\), expected \(1,\).*xy\[:, \[-1\]\]"),
        (ReadsInGetitem, "touched the file.*once in __init__"),
        (ReadsLazily, "touched the file.*once in __init__"),
        (SkipsHeader, "skipped as if it were a header"),
        (PandasDefaultHeader, "skipped as if it were a header"),
        (FirstColumnLabel, "label is taken from the first column"),
        (LabelInFeatures, r"shape \(9,\).*include the label"),
        (LastEightFeatures, "last 8 columns"),
        (HardCodedPath, "expected 5 items.*Read the file given as path"),
        (HardCodedLength, "expected 5 items"),
        (GzipOnly, "plain, not gzip'd.*raised BadGzipFile.*np.loadtxt reads plain and .gz"),
        (StrPathOnly, "pathlib.Path.*raised"),
        (SwallowsMissingFile, "does not exist returned a dataset.*FileNotFoundError"),
        (RaisesValueErrorForMissingFile, "does not exist raised ValueError.*FileNotFoundError"),
        (NumpyItems, "NumPy array.*torch.from_numpy"),
        (IntegerLabels, "label must be float32.*torch.int64"),
        (FeaturesOnly, r"must be a pair \(features, label\)"),
        (NotADataset, "subclass torch.utils.data.Dataset"),
        (ShufflesRows, "Item i is row i"),
        (Standardises, "no scaling"),
        (NotImplementedDataset, "not implemented yet"),
    ],
)
def test_diabetes_dataset_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_DiabetesDataset(wrong)


class PandasNoHeader(Dataset):
    def __init__(self, path):
        frame = pd.read_csv(path, header=None, dtype=np.float32)
        self.rows = [(torch.tensor(r[:-1]), torch.tensor(r[-1:])) for r in frame.to_numpy()]

    def __getitem__(self, i):
        return self.rows[i]

    def __len__(self):
        return len(self.rows)


class CopiesWithTorchTensor(Good):
    def __init__(self, path):
        xy = np.loadtxt(path, delimiter=",", dtype=np.float32)
        self.x = torch.tensor(xy[:, :8])
        self.y = torch.tensor(xy[:, 8:9])

    def __getitem__(self, i):
        return self.x[i].clone(), self.y[i].clone()


class KeptOnTheDevice(Good):
    """Tensors moved to the GPU in __init__ (when there is one): a correct choice."""

    def __init__(self, path):
        super().__init__(path)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.x, self.y = self.x.to(device), self.y.to(device)


@pytest.mark.parametrize(
    "correct", [Good, PandasNoHeader, CopiesWithTorchTensor, KeptOnTheDevice]
)
def test_diabetes_dataset_correct_variants_pass(correct):
    check_DiabetesDataset(correct)


# -- split_dataset -------------------------------------------------------------------------


def _check_fraction(val_fraction):
    if not 0 < val_fraction < 1:
        raise ValueError("val_fraction must lie in (0, 1)")


def split_unshuffled(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    return Subset(dataset, range(k, n)), Subset(dataset, range(k))


def split_last_k(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    return Subset(dataset, range(n - k)), Subset(dataset, range(n - k, n))


def split_overlapping(dataset, val_fraction, generator):
    """Two independent draws: the parts overlap."""
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    train = torch.randperm(n, generator=generator)[: n - k].tolist()
    val = torch.randperm(n, generator=generator)[:k].tolist()
    return Subset(dataset, train), Subset(dataset, val)


def split_with_replacement(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randint(0, n, (n,), generator=generator).tolist()
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_truncating(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), int(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator).tolist()
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_ceil(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), math.ceil(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator).tolist()
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_swapped(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator).tolist()
    return Subset(dataset, order[:k]), Subset(dataset, order[k:])


def split_off_by_one(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator).tolist()
    return Subset(dataset, order[k + 1 :]), Subset(dataset, order[:k])


def split_global_torch_rng(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n).tolist()  # the generator is ignored
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_python_random(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = list(range(n))
    random.shuffle(order)
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_numpy_random(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = np.random.permutation(n).tolist()
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_fixed_seed(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(42)).tolist()
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_random_block(dataset, val_fraction, generator):
    """A contiguous block at a random offset: random, but not a random sample."""
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    start = int(torch.randint(0, n - k + 1, (1,), generator=generator))
    return (Subset(dataset, list(range(start)) + list(range(start + k, n))),
            Subset(dataset, range(start, start + k)))


def split_without_check(dataset, val_fraction, generator):
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator).tolist()
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_assert_instead(dataset, val_fraction, generator):
    assert 0 < val_fraction < 1
    return split_without_check(dataset, val_fraction, generator)


def split_returning_indices(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator)
    return order[k:], order[:k]


def split_returning_lists_of_items(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator).tolist()
    return [dataset[i] for i in order[k:]], [dataset[i] for i in order[:k]]


def split_reaching_into_attributes(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    return split_without_check(dataset.x_data, val_fraction, generator)


def split_random_split_with_fractions(dataset, val_fraction, generator):
    """random_split with fractions floors the sizes and hands the remainder out round-robin,
    starting with the first part: not round(n * val_fraction) in general."""
    _check_fraction(val_fraction)
    train, val = random_split(dataset, [1 - val_fraction, val_fraction], generator=generator)
    return train, val


def split_evenly_spaced(dataset, val_fraction, generator):
    """Every k-th example from a random start: random-looking, but a systematic sample."""
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    start = float(torch.rand(1, generator=generator)) * n / k
    val = [int(start + i * n / k) for i in range(k)]
    return Subset(dataset, sorted(set(range(n)) - set(val))), Subset(dataset, val)


def split_reseeding_globally(dataset, val_fraction, generator):
    """Follows the generator's seed, but through the global generator, which it reseeds."""
    _check_fraction(val_fraction)
    torch.manual_seed(generator.initial_seed())
    return split_global_torch_rng(dataset, val_fraction, generator)


def split_python_random_seeded(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    random.seed(generator.initial_seed())
    return split_python_random(dataset, val_fraction, generator)


def not_implemented(*args):
    raise NotImplementedError()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (split_unshuffled, "first .* examples in their original order"),
        (split_last_k, "last .* examples in their original order"),
        (split_overlapping, "in both train and val"),
        (split_with_replacement, "in both train and val|appear twice"),
        (split_truncating, r"int\(n \* val_fraction\).*round"),
        (split_ceil, r"must hold round\(n \* val_fraction\)"),
        (split_swapped, "swapped"),
        (split_off_by_one, "every example exactly once"),
        (split_global_torch_rng, "does not follow the generator"),
        (split_python_random, "does not follow the generator"),
        (split_numpy_random, "does not follow the generator"),
        (split_fixed_seed, "different seeds returned the same split"),
        (split_random_block, "contiguous block"),
        (split_without_check, "must raise ValueError"),
        (split_assert_instead, "raised AssertionError.*must raise ValueError"),
        (split_returning_indices, "return datasets.*not the indices"),
        (split_returning_lists_of_items, "return datasets"),
        (split_reaching_into_attributes, "raised AttributeError"),
        (split_random_split_with_fractions, r"round\(n \* val_fraction\)"),
        (split_evenly_spaced, "evenly spaced"),
        (split_reseeding_globally, "changed the global random state"),
        (split_python_random_seeded, "changed the global random state"),
        (not_implemented, "not implemented"),
    ],
)
def test_split_dataset_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_split_dataset(wrong)


def split_random_split_with_sizes(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    k = round(len(dataset) * val_fraction)
    return random_split(dataset, [len(dataset) - k, k], generator=generator)


def split_val_at_the_end(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = torch.randperm(n, generator=generator)
    return Subset(dataset, order[: n - k]), Subset(dataset, order[n - k :])


def split_own_generator_from_the_seed(dataset, val_fraction, generator):
    """NumPy's own Generator seeded from the generator's seed: reproducible, no global state."""
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    order = np.random.default_rng(generator.initial_seed()).permutation(n)
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


def split_by_mask(dataset, val_fraction, generator):
    _check_fraction(val_fraction)
    n, k = len(dataset), round(len(dataset) * val_fraction)
    in_val = torch.zeros(n, dtype=torch.bool)
    in_val[torch.randperm(n, generator=generator)[:k]] = True
    return (Subset(dataset, torch.nonzero(~in_val).flatten().tolist()),
            Subset(dataset, torch.nonzero(in_val).flatten().tolist()))


@pytest.mark.parametrize(
    "correct",
    [split_random_split_with_sizes, split_val_at_the_end, split_by_mask,
     split_own_generator_from_the_seed],
)
def test_split_dataset_correct_variants_pass(correct):
    check_split_dataset(correct)


def test_split_check_leaves_the_global_random_state_alone(reference):
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    check_split_dataset(reference["split_dataset"])
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]
