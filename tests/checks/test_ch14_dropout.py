"""The ch14 hidden checks pass the reference solutions and fail realistic mistakes."""

import math

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks.ch14_dropout import check_dropout_layer, check_DropoutMLP
from tests.notebooks import nbgrader_meta, solution_namespace, source_notebook

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# dropout without rescaling the survivors. Only dropout_layer_hidden fails: DropoutMLP is graded
# with a correct dropout in place of the student's.
WRONG_SUBMISSION = {
    "dropout_layer": """def dropout_layer(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return X
    mask = torch.rand(X.shape, device=X.device, generator=generator) >= p
    return X * mask
"""
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch14_dropout")


def test_reference_passes(reference):
    check_dropout_layer(reference["dropout_layer"])
    check_DropoutMLP(reference["DropoutMLP"])


def test_wrong_submission_fails_its_check_only():
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(WRONG_SUBMISSION["dropout_layer"], namespace)
    wrong = namespace["dropout_layer"]
    with pytest.raises(AssertionError, match="not rescaled"):
        check_dropout_layer(wrong)
    # The reference DropoutMLP, defined beside the wrong dropout_layer, passes: its check swaps in
    # a correct dropout while it runs, and puts the student's back afterwards.
    nb = nbformat.read(source_notebook("ch14_dropout"), as_version=4)
    exec(next(c.source for c in nb.cells if nbgrader_meta(c).get("grade_id") == "DropoutMLP"), namespace)
    check_DropoutMLP(namespace["DropoutMLP"])
    assert namespace["dropout_layer"] is wrong


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


# ---------------------------------------------------------------------------------- dropout_layer


def dropout(X, p, training=True, generator=None, *, check_p="value_error", check_first=True,
            special_cases=True, keep="ge", scale="inverted", mask_shape="full", use_generator=True,
            device=True, inplace=False, honour_training=True, float_mask=False, detach=False):
    """A dropout_layer with switches for typical mistakes."""
    if check_first and check_p == "value_error" and not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if check_p == "assert":
        assert 0 <= p <= 1
    if honour_training and not training:
        return X
    if not check_first and check_p == "value_error" and not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if special_cases:
        if p == 0:
            return X
        if p == 1:
            return torch.zeros_like(X)
    shape = {"full": X.shape, "row": X.shape[-1:], "per_row": (*X.shape[:-1], 1)}[mask_shape]
    kwargs = {"device": X.device} if device else {}
    if use_generator:
        kwargs["generator"] = generator
    u = torch.rand(shape, **kwargs)
    mask = u >= p if keep == "ge" else u < p
    if float_mask:
        mask = mask.float()
    factor = {"inverted": 1 / (1 - p) if p < 1 else math.inf, "none": 1.0, "p": p,
              "inv_p": 1 / p if p > 0 else math.inf, "1-p": 1 - p}[scale]
    if inplace:
        X.mul_(mask).mul_(factor)
        return X
    out = X * mask * factor if scale != "inverted" else X * mask / (1 - p)
    return out.detach() if detach else out


def variant(**switches):
    def wrong(X, p, training=True, generator=None):
        return dropout(X, p, training, generator, **switches)

    return wrong


def dropout_d2l(X, p, training=True, generator=None):
    """D2L's dropout_layer (0.17), with the signature of the exercise."""
    assert 0 <= p <= 1
    if p == 1:
        return torch.zeros_like(X)
    if p == 0:
        return X
    mask = (torch.rand(X.shape) > p).float()
    return mask * X / (1.0 - p)


def dropout_reseeds_global(X, p, training=True, generator=None):
    if generator is not None:
        torch.manual_seed(generator.initial_seed())  # "reproducible", but resets the global state
    return dropout(X, p, training, None)


def dropout_fixed_seed(X, p, training=True, generator=None):
    if generator is None:
        torch.manual_seed(0)  # "reproducible": the same mask every call
    return dropout(X, p, training, generator)


def dropout_fresh_generator(X, p, training=True, generator=None):
    return dropout(X, p, training, generator or torch.Generator(device=X.device))


def dropout_masked_fill(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    drop = torch.rand(X.shape, device=X.device, generator=generator) < p
    X[drop] = 0
    return X / (1 - p)


def dropout_F(X, p, training=True, generator=None):  # noqa: N802
    return F.dropout(X, p, training)


def dropout_module(X, p, training=True, generator=None):
    layer = nn.Dropout(p)
    layer.train(training)
    return layer(X)


def dropout_torch(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    return torch.dropout(X, p, training)


def dropout_aten(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    if p == 1 and training:
        return torch.zeros_like(X)
    return torch.ops.aten.dropout(X, p, training)


def dropout_bernoulli(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    mask = torch.bernoulli(torch.full_like(X, 1 - p), generator=generator)
    return X * mask / (1 - p)


def dropout_bernoulli_(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    return X * torch.empty_like(X).bernoulli_(1 - p, generator=generator) / (1 - p)


def dropout_distribution(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    return X * torch.distributions.Bernoulli(probs=torch.full_like(X, 1 - p)).sample() / (1 - p)


def dropout_numpy(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    mask = torch.from_numpy(np.random.rand(*X.shape) >= p).to(X.device)
    return X * mask / (1 - p)


def dropout_on_cpu(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    mask = torch.rand(X.shape, device=X.device, generator=generator) >= p
    return (X.cpu() * mask.cpu() / (1 - p)).to(X.device)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (variant(scale="none"), "not rescaled"),
        (variant(scale="p"), "multiplied by p"),
        (variant(scale="inv_p"), "divided by p"),
        (variant(scale="1-p"), "multiplied by 1 - p"),
        (variant(keep="lt"), "keeps each element with probability p instead of dropping"),
        (variant(mask_shape="row"), "every row has the same mask"),
        (variant(mask_shape="per_row"), "dropped or kept as a whole"),
        (variant(use_generator=False), "generators seeded alike gave different masks"),
        (dropout_reseeds_global, "global random state changed"),
        (dropout_fixed_seed, "two calls in a row dropped the same elements"),
        (dropout_fresh_generator, "two calls in a row dropped the same elements"),
        (variant(special_cases=False), "0 / 0 at p = 1"),
        (variant(honour_training=False), "with training=False dropout does nothing"),
        (variant(check_p="none"), "must raise ValueError"),
        (variant(check_first=False), "Check p first"),
        (variant(check_p="assert"), "assert statement"),
        (dropout_d2l, "assert statement"),
        (variant(device=False), "without device="),
        (variant(float_mask=True), "dtype torch.float32 but the input was torch.bfloat16"),
        (variant(inplace=True), "modified X in place"),
        (dropout_masked_fill, "modified X in place"),
        (variant(detach=True), "detached"),
        (dropout_F, "calls torch.nn.functional.dropout.*write yourself"),
        (dropout_module, "calls torch.nn.functional.dropout.*write yourself"),
        (dropout_torch, "calls torch.dropout.*write yourself"),
        (dropout_aten, r"calls aten\.bernoulli_.*write yourself"),
        (dropout_bernoulli, "calls torch.bernoulli.*write yourself"),
        (dropout_bernoulli_, r"calls torch\.Tensor\.bernoulli_.*write yourself"),
        (dropout_distribution, "calls torch.bernoulli.*write yourself"),
        (dropout_numpy, "calls torch.from_numpy.*write yourself"),
        (not_implemented, "not implemented"),
    ],
)
def test_dropout_layer_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_dropout_layer(wrong)


def dropout_strict(X, p, training=True, generator=None):
    """D2L's comparison (rand > p) and no special case for p = 0."""
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training:
        return X
    if p == 1:
        return torch.zeros_like(X)
    mask = torch.rand(X.shape, device=X.device, generator=generator) > p
    return mask * X / (1.0 - p)


def dropout_where(X, p, training=True, generator=None):
    """torch.where and a mask of uniform numbers below 1 - p, the survivors multiplied by 1 / (1 - p)."""
    if not 0 <= p <= 1:
        raise ValueError("p")
    if not training or p == 0:
        return X.clone()
    if p == 1:
        return X * 0
    keep = torch.rand(X.shape, device=X.device, dtype=X.dtype, generator=generator) < 1 - p
    return torch.where(keep, X * (1 / (1 - p)), torch.zeros_like(X))


@pytest.mark.parametrize("good", [dropout_strict, dropout_where])
def test_dropout_layer_written_otherwise_passes(good):
    check_dropout_layer(good)


def test_dropout_layer_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_dropout_layer(dropout_on_cpu)


# ------------------------------------------------------------------------------------- DropoutMLP

# The classes below call this module's dropout_layer, as a student's class calls the notebook's;
# the check swaps it for its own recording dropout while it runs.
dropout_layer = variant()
dropout1, dropout2 = 0.2, 0.5  # D2L's globals


class GoodMLP(nn.Module):
    """The reference model; subclasses break it."""

    def __init__(self, num_inputs=784, num_outputs=10, num_hiddens=(256, 256), dropouts=(0.2, 0.5)):
        super().__init__()
        sizes = [num_inputs, *num_hiddens]
        self.hiddens = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.output = nn.Linear(sizes[-1], num_outputs)
        self.dropouts = tuple(dropouts)
        self.num_inputs = num_inputs

    def hidden(self, i, H):
        return dropout_layer(F.relu(self.hiddens[i](H)), self.dropouts[i], self.training)

    def forward(self, X):
        H = X.reshape(len(X), -1)
        for i in range(len(self.hiddens)):
            H = self.hidden(i, H)
        return self.output(H)


class D2LNet(GoodMLP):
    """D2L's Net: dropout1 and dropout2 are globals, and dropping is decided by self.training."""

    def hidden(self, i, H):
        H = F.relu(self.hiddens[i](H))
        if self.training:
            H = dropout_layer(H, (dropout1, dropout2)[i])
        return H


class SequentialMLP(nn.Module):
    """Accepted: an nn.Sequential of Linear and ReLU, with dropout_layer between its pieces."""

    def __init__(self, num_inputs=784, num_outputs=10, num_hiddens=(256, 256), dropouts=(0.2, 0.5)):
        super().__init__()
        sizes = [num_inputs, *num_hiddens, num_outputs]
        self.net = nn.Sequential(*(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)))
        self.dropouts = list(dropouts)

    def forward(self, X):
        H = torch.flatten(X, start_dim=1)
        for layer, p in zip(self.net[:-1], self.dropouts, strict=True):
            H = layer(H).relu()
            if self.training:
                H = dropout_layer(H, p)
        return self.net[-1](H)


class AlwaysDrops(GoodMLP):
    def hidden(self, i, H):
        return dropout_layer(F.relu(self.hiddens[i](H)), self.dropouts[i])


class OwnFlag(GoodMLP):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_training = True

    def hidden(self, i, H):
        return dropout_layer(F.relu(self.hiddens[i](H)), self.dropouts[i], self.is_training)


class DropsOutput(GoodMLP):
    def forward(self, X):
        return dropout_layer(super().forward(X), 0.5, self.training)


class DropsBeforeRelu(GoodMLP):
    def hidden(self, i, H):
        return F.relu(dropout_layer(self.hiddens[i](H), self.dropouts[i], self.training))


class DropsInput(GoodMLP):
    def forward(self, X):
        H = dropout_layer(X.reshape(len(X), -1), self.dropouts[0], self.training)
        for layer, p in zip(self.hiddens, self.dropouts[1:] + (0.0,), strict=True):
            H = dropout_layer(F.relu(layer(H)), p, self.training)
        return self.output(H)


class TorchDropout(GoodMLP):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drops = nn.ModuleList(nn.Dropout(p) for p in self.dropouts)

    def hidden(self, i, H):
        return self.drops[i](F.relu(self.hiddens[i](H)))


class Swapped(GoodMLP):
    def hidden(self, i, H):
        return dropout_layer(F.relu(self.hiddens[i](H)), self.dropouts[::-1][i], self.training)


class HardCoded(GoodMLP):
    def __init__(self, num_inputs=784, num_outputs=10, num_hiddens=(256, 256), dropouts=(0.2, 0.5)):
        super().__init__()


class NoFlatten(GoodMLP):
    def forward(self, X):
        H = X
        for i in range(len(self.hiddens)):
            H = self.hidden(i, H)
        return self.output(H)


class ReluOnOutput(GoodMLP):
    def forward(self, X):
        return F.relu(super().forward(X))


class PlainList(GoodMLP):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        layers = list(self.hiddens)
        del self.hiddens
        self.hiddens = layers


class ClassicDropout(GoodMLP):
    """The original dropout at test time: scales by 1 - p in evaluation mode."""

    def hidden(self, i, H):
        H = dropout_layer(F.relu(self.hiddens[i](H)), self.dropouts[i], self.training)
        return H if self.training else H * (1 - self.dropouts[i])


class FirstLayerOnly(GoodMLP):
    def hidden(self, i, H):
        H = F.relu(self.hiddens[i](H))
        return dropout_layer(H, self.dropouts[i], self.training) if i == 0 else H


class InlineMask(GoodMLP):
    def hidden(self, i, H):
        H = F.relu(self.hiddens[i](H))
        if self.training:
            p = self.dropouts[i]
            H = H * (torch.rand(H.shape, device=H.device) >= p) / (1 - p)
        return H


class NotImplementedMLP(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (D2LNet, "use the dropouts argument"),
        (AlwaysDrops, "still called with training=True"),
        (OwnFlag, "still called with training=True"),
        (DropsOutput, "after the output layer"),
        (DropsBeforeRelu, "dropped before its ReLU"),
        (DropsInput, "applied to the input X"),
        (TorchDropout, "calls torch.nn.functional.dropout.*not nn.Dropout"),
        (Swapped, "wrong order"),
        (HardCoded, r"expected nn\.Linear\(20, 16\)"),
        (NoFlatten, "Flatten X"),
        (ReluOnOutput, "ReLU is applied to the output"),
        (PlainList, "plain Python list"),
        (ClassicDropout, "needs no rescaling at test time"),
        (FirstLayerOnly, r"called 1 time\(s\), expected 2"),
        (InlineMask, "dropout_layer was never called"),
        (NotImplementedMLP, "not implemented"),
    ],
)
def test_DropoutMLP_mistakes_fail(wrong, message):  # noqa: N802
    with pytest.raises(AssertionError, match=message):
        check_DropoutMLP(wrong)


@pytest.mark.parametrize("good", [GoodMLP, SequentialMLP])
def test_DropoutMLP_written_otherwise_passes(good):  # noqa: N802
    check_DropoutMLP(good)


def test_DropoutMLP_is_graded_with_its_own_dropout_and_the_students_comes_back():  # noqa: N802
    global dropout_layer
    broken = variant(scale="none")
    saved, dropout_layer = dropout_layer, broken
    try:
        check_DropoutMLP(GoodMLP)
        assert dropout_layer is broken
    finally:
        dropout_layer = saved


def test_checks_leave_the_global_random_state_alone(reference):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_dropout_layer(reference["dropout_layer"])
    check_DropoutMLP(reference["DropoutMLP"])
    assert torch.equal(torch.rand(3), expected)
