"""The rules that ``autograder.checks._common.call`` enforces: each catches the realistic way of
breaking it, and leaves a correct solution alone."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks._common import call

MSE = ("torch.nn.functional.mse_loss",)
SOFTMAX = ("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax")


def own_mse(a, b):
    return ((a - b) ** 2).mean()


def test_forbid_passes_own_code():
    a, b = torch.randn(5), torch.randn(5)
    assert torch.allclose(call(own_mse, a, b, what="mse", forbid=MSE), F.mse_loss(a, b))


@pytest.mark.parametrize(
    "cheat",
    [
        lambda a, b: F.mse_loss(a, b),
        lambda a, b: nn.MSELoss()(a, b),
        lambda a, b: torch.nn.functional.mse_loss(b, a),
    ],
    ids=["function", "module", "full name"],
)
def test_forbid_catches_the_builtin(cheat):
    with pytest.raises(AssertionError, match="calls torch.nn.functional.mse_loss"):
        call(cheat, torch.randn(3), torch.randn(3), what="mse", forbid=MSE)


@pytest.mark.parametrize(
    "cheat",
    [lambda x: torch.softmax(x, -1), lambda x: x.softmax(-1), lambda x: nn.Softmax(-1)(x)],
    ids=["torch.softmax", "method", "module"],
)
def test_forbid_catches_c_functions_and_methods(cheat):
    with pytest.raises(AssertionError, match="which this exercise asks you to write yourself"):
        call(cheat, torch.randn(2, 3), what="softmax", forbid=SOFTMAX)


def test_forbid_catches_python_helpers_and_a_swallowed_error():
    def cheat(w):
        try:
            torch.nn.init.xavier_uniform_(w)
        finally:
            pass
        return w

    with pytest.raises(AssertionError, match="xavier_uniform_"):
        call(cheat, torch.empty(3, 4), what="init", forbid=("torch.nn.init.xavier_uniform_",))


def test_forbid_catches_an_alias_imported_before():
    from torch.nn.functional import mse_loss as m

    with pytest.raises(AssertionError, match="mse_loss"):
        call(lambda a, b: m(a, b), torch.randn(3), torch.randn(3), what="mse", forbid=MSE)


def test_forbid_catches_a_removed_profile_hook():
    import sys

    def cheat(a, b):
        sys.setprofile(None)
        return own_mse(a, b)

    with pytest.raises(AssertionError, match="profile hook"):
        call(cheat, torch.randn(3), torch.randn(3), what="mse", forbid=MSE)


def grad_by_hand(w, x, y):
    return 2 * (x * (w * x - y)).mean()


def grad_by_autograd(w, x, y):
    with torch.enable_grad():
        w = w.detach().clone().requires_grad_()
        ((w * x - y) ** 2).mean().backward()
        return w.grad


def grad_by_autograd_grad(w, x, y):
    with torch.enable_grad():
        w = w.detach().requires_grad_()
        return torch.autograd.grad(((w * x - y) ** 2).mean(), w)[0]


def test_by_hand_passes_own_gradient():
    w, x, y = torch.tensor(0.5), torch.randn(4), torch.randn(4)
    with torch.no_grad():
        call(grad_by_hand, w, x, y, what="grad", by_hand=True)


@pytest.mark.parametrize("cheat", [grad_by_autograd, grad_by_autograd_grad])
def test_by_hand_catches_autograd_under_enable_grad(cheat):
    w, x, y = torch.tensor(0.5), torch.randn(4), torch.randn(4)
    with torch.no_grad(), pytest.raises(AssertionError, match="by hand"):
        call(cheat, w, x, y, what="grad", by_hand=True)


def zeros_on_device(x):
    return x + torch.zeros(x.shape, device=x.device)


def zeros_forgotten(x):
    return x + torch.zeros(x.shape)


def arange_forgotten(x):
    return x * torch.arange(len(x))


def noise_from_cpu_generator(x, g):
    return x + torch.randn(x.shape, generator=g).to(x.device)


def test_probe_device_passes_placed_tensors_and_cpu_generators():
    x = torch.randn(3)
    call(zeros_on_device, x, what="add", probe_device=True)
    call(lambda x: x * torch.tensor(2.0), x, what="scale", probe_device=True)
    call(lambda x: torch.zeros_like(x) + x, x, what="like", probe_device=True)
    call(lambda x: x[torch.arange(2)], x, what="CPU indices are fine on a GPU", probe_device=True)
    g = torch.Generator().manual_seed(0)
    out = call(noise_from_cpu_generator, x, g, what="noise", probe_device=True)
    # the probe ran on a copy of the generator: the caller's generator moved once
    assert torch.equal(out, x + torch.randn(3, generator=torch.Generator().manual_seed(0)))


def sum_by_matmul_forgotten(x):
    return x @ torch.ones(x.shape[-1], 1)  # cpu @ meta silently gives a CPU tensor


@pytest.mark.parametrize("wrong", [zeros_forgotten, arange_forgotten, sum_by_matmul_forgotten])
def test_probe_device_catches_a_forgotten_device(wrong):
    with pytest.raises(AssertionError, match="without device="):
        call(wrong, torch.randn(3), what="add", probe_device=True)


def test_probe_device_leaves_the_arguments_alone():
    x = torch.randn(3)
    before = x.clone()

    def add_in_place(x):
        x += torch.ones(3, device=x.device)
        return x

    call(add_in_place, x, what="add", probe_device=True)
    assert torch.equal(x, before + 1)  # the real call's change only, not the probe's


def test_probe_device_runs_the_body_of_a_generator_function():
    def batches(x):
        for i in range(0, len(x), 2):
            yield x[i : i + 2] + torch.zeros(len(x[i : i + 2]))

    with pytest.raises(AssertionError, match="without device="):
        call(batches, torch.randn(4), what="batches", probe_device=True)


def descend_from_a_cpu_scalar(x, steps):
    w = torch.tensor(0.0)  # stays on the CPU when no step runs
    for _ in range(steps):
        w = w - 0.1 * (w - x.mean())
    return w


def test_probe_device_follows_cpu_scalars_to_the_result():
    x = torch.randn(3)
    call(descend_from_a_cpu_scalar, x, 2, what="two steps", probe_device=True)  # w joined x
    with pytest.raises(AssertionError, match="returned a tensor made without device="):
        call(descend_from_a_cpu_scalar, x, 0, what="no step", probe_device=True)
    with pytest.raises(AssertionError, match="returned a tensor made without device="):
        call(lambda x: torch.tensor(x.sum().item(), dtype=x.dtype), x, what="via a float",
             probe_device=True)
    call(lambda x: torch.tensor(x.sum().item()).to(x.device), x, what="moved", probe_device=True)


def test_watches_refuse_work_in_another_thread():
    from concurrent.futures import ThreadPoolExecutor

    def cheat(x):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(torch.softmax, x, -1).result()

    with pytest.raises(AssertionError, match="starts a thread"):
        call(cheat, torch.randn(2, 3), what="softmax", forbid=SOFTMAX)


@pytest.mark.parametrize(
    "cheat",
    [
        lambda x: torch.ops.aten._softmax(x, -1, False),
        lambda x: torch._C._nn.mse_loss(x, x, 1) + torch.softmax(x, -1),
    ],
    ids=["torch.ops.aten", "torch._C._nn"],
)
def test_forbid_catches_operators_reached_below_torch_functions(cheat):
    with pytest.raises(AssertionError, match="aten._softmax"):
        call(cheat, torch.randn(2, 3), what="softmax", forbid=("aten._softmax",))


def test_forbid_catches_a_method_under_disabled_torch_function():
    def cheat(x):
        with torch._C.DisableTorchFunction():
            return x.softmax(-1)

    with pytest.raises(AssertionError, match="aten._softmax"):
        call(cheat, torch.randn(2, 3), what="softmax", forbid=SOFTMAX + ("aten._softmax",))


def grad_by_forward_ad(w, x, y):
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        dual = fwAD.make_dual(w, torch.ones_like(w))
        return fwAD.unpack_dual(((dual * x - y) ** 2).mean()).tangent


def grad_by_engine(w, x, y):
    with torch._C.DisableTorchFunction(), torch.enable_grad():
        w = w.detach().requires_grad_()
        loss = ((w * x - y) ** 2).mean()
        return torch.autograd.Variable._execution_engine.run_backward(
            (loss,), (torch.ones_like(loss),), False, False, (w,), False, False
        )[0]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")  # forward_ad's import
@pytest.mark.parametrize("cheat", [grad_by_forward_ad, grad_by_engine])
def test_by_hand_catches_forward_ad_and_the_engine(cheat):
    w, x, y = torch.tensor(0.5), torch.randn(4), torch.randn(4)
    with pytest.raises(AssertionError, match="by hand"):
        call(cheat, w, x, y, what="grad", by_hand=True)
