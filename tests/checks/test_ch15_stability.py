"""The ch15 hidden checks pass the reference solutions and fail realistic mistakes."""

import math

import pytest
import torch
from torch import nn

from autograder.checks.ch15_stability import check_clip_grad_norm_, check_xavier_uniform_
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# every gradient is clipped by its own norm instead of the global one.
WRONG_SUBMISSION = {
    "clip_grad_norm_": '''def clip_grad_norm_(params, max_norm):
    """Clip the gradients of params to a total norm of at most max_norm."""
    params = list(params)
    norms = []
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            norm = p.grad.norm()
            norms.append(norm)
            if norm > max_norm:
                p.grad.mul_(max_norm / (norm + 1e-6))
    return torch.sqrt(sum(n**2 for n in norms))
'''
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch15_stability")


def test_reference_passes(reference):
    check_xavier_uniform_(reference["xavier_uniform_"])
    check_clip_grad_norm_(reference["clip_grad_norm_"])


def test_reference_matches_torch_on_a_conv_weight(reference):
    W = torch.empty(8, 3, 5, 5)
    torch.manual_seed(0)
    ours = reference["xavier_uniform_"](W.clone(), gain=2.0)
    torch.manual_seed(0)
    theirs = torch.nn.init.xavier_uniform_(W.clone(), gain=2.0)
    assert torch.allclose(ours, theirs)


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def _fans(W):
    receptive_field = math.prod(W.shape[2:])
    return W.shape[1] * receptive_field, W.shape[0] * receptive_field


def _xavier_bound(W, gain):
    fan_in, fan_out = _fans(W)
    return gain * math.sqrt(6 / (fan_in + fan_out))


def xavier_fan_in_only(W, gain=1.0):
    fan_in, _ = _fans(W)
    with torch.no_grad():
        return W.uniform_(-gain * math.sqrt(3 / fan_in), gain * math.sqrt(3 / fan_in))


def xavier_normal(W, gain=1.0):
    fan_in, fan_out = _fans(W)
    with torch.no_grad():
        return W.normal_(0, gain * math.sqrt(2 / (fan_in + fan_out)))


def xavier_std_as_bound(W, gain=1.0):
    fan_in, fan_out = _fans(W)
    a = gain * math.sqrt(2 / (fan_in + fan_out))
    with torch.no_grad():
        return W.uniform_(-a, a)


def xavier_not_in_place(W, gain=1.0):
    fan_in, fan_out = _fans(W)
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    return torch.empty_like(W).uniform_(-a, a)


def xavier_without_no_grad(W, gain=1.0):
    fan_in, fan_out = _fans(W)
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    return W.uniform_(-a, a)


def xavier_without_gain(W, gain=1.0):
    fan_in, fan_out = _fans(W)
    a = math.sqrt(6 / (fan_in + fan_out))
    with torch.no_grad():
        return W.uniform_(-a, a)


def xavier_unit_interval(W, gain=1.0):
    fan_in, fan_out = _fans(W)
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    with torch.no_grad():
        return W.uniform_(0, a)


def xavier_new_data(W, gain=1.0):
    fan_in, fan_out = _fans(W)
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    W.data = torch.empty(W.shape).uniform_(-a, a)  # float32 on the CPU, new storage
    return W


def xavier_fans_swapped_fan_in_only(W, gain=1.0):
    fan_in = W.shape[0]  # reads the output size as fan_in
    with torch.no_grad():
        return W.uniform_(-gain * math.sqrt(6 / fan_in), gain * math.sqrt(6 / fan_in))


def xavier_ignores_receptive_field(W, gain=1.0):
    a = gain * math.sqrt(6 / (W.shape[1] + W.shape[0]))
    with torch.no_grad():
        return W.uniform_(-a, a)


def xavier_reseeds(W, gain=1.0):
    torch.manual_seed(0)  # "for reproducibility": every call now draws the same numbers
    with torch.no_grad():
        return W.uniform_(-_xavier_bound(W, gain), _xavier_bound(W, gain))


def xavier_own_generator(W, gain=1.0):
    a = _xavier_bound(W, gain)
    g = torch.Generator(W.device)  # a fresh generator starts from the same default seed every call
    with torch.no_grad():
        return W.uniform_(-a, a, generator=g)


def xavier_unseeded_generator(W, gain=1.0):
    a = _xavier_bound(W, gain)
    g = torch.Generator(W.device)
    g.seed()  # a non-deterministic seed: torch.manual_seed no longer reproduces the weights
    with torch.no_grad():
        return W.uniform_(-a, a, generator=g)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (xavier_ignores_receptive_field, "ignore the receptive field"),
        (xavier_reseeds, "every layer of a network would start identical"),
        (xavier_own_generator, "every layer of a network would start identical"),
        (xavier_unseeded_generator, "after the same torch.manual_seed the numbers differ"),
        (xavier_fan_in_only, "fan_in only"),
        (xavier_fans_swapped_fan_in_only, "fan_out only"),
        (xavier_normal, "normal distribution"),
        (xavier_std_as_bound, "standard deviation, not the bound"),
        (xavier_not_in_place, "fill W in place"),
        (xavier_without_no_grad, "torch.no_grad"),
        (xavier_without_gain, "gain"),
        (xavier_unit_interval, "mean"),
        (xavier_new_data, "new memory"),
        (not_implemented, "not implemented"),
    ],
)
def test_xavier_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_xavier_uniform_(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda W, gain=1.0: nn.init.xavier_uniform_(W, gain=gain), "torch.nn.init.xavier_uniform_"),
        (lambda W, gain=1.0: nn.init.uniform_(W, -_xavier_bound(W, gain), _xavier_bound(W, gain)),
         "torch.nn.init.uniform_"),
        (lambda W, gain=1.0: torch.nn.init.xavier_uniform(W, gain=gain), "torch.nn.init.xavier_uniform_"),
    ],
    ids=["nn.init.xavier_uniform_", "nn.init.uniform_", "deprecated nn.init.xavier_uniform"],
)
@pytest.mark.filterwarnings("ignore::FutureWarning")  # the deprecated name
def test_xavier_calling_nn_init_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls {name}.*write yourself"):
        check_xavier_uniform_(cheat)


def xavier_from_torch_rand(W, gain=1.0):
    """Draws with torch.rand (global generator, CPU) and copies into W: a correct solution."""
    a = _xavier_bound(W, gain)
    with torch.no_grad():
        W.copy_(torch.rand(W.shape, dtype=W.dtype) * 2 * a - a)
    return W


def test_xavier_correct_variant_passes():
    check_xavier_uniform_(xavier_from_torch_rand)


def _grads(params):
    return [p.grad for p in params if p.grad is not None]


def clip_each_separately(params, max_norm):
    grads = _grads(list(params))
    with torch.no_grad():
        for g in grads:
            g.mul_(torch.clamp(max_norm / (g.norm() + 1e-6), max=1.0))
    return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))


def clip_returns_nothing(params, max_norm):
    grads = _grads(params)
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for g in grads:
            g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))


def clip_returns_clipped_norm(params, max_norm):
    grads = _grads(params)
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for g in grads:
            g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return torch.sqrt(sum((g**2).sum() for g in grads))


def clip_generator_consumed_twice(params, max_norm):
    total = torch.sqrt(sum((p.grad**2).sum() for p in params if p.grad is not None))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    with torch.no_grad():
        for p in params:  # a generator is already exhausted here
            if p.grad is not None:
                p.grad.mul_(coef)
    return total


def clip_crashes_on_none(params, max_norm):
    params = list(params)
    total = torch.sqrt(sum((p.grad**2).sum() for p in params))
    with torch.no_grad():
        for p in params:
            p.grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def clip_scales_up(params, max_norm):
    grads = _grads(params)
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))
    return total


def clip_returns_float(params, max_norm):
    grads = _grads(params)
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for g in grads:
            g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total.item()


def clip_the_parameters(params, max_norm):
    params = [p for p in params if p.grad is not None]
    total = torch.sqrt(sum((p.grad**2).sum() for p in params))
    with torch.no_grad():
        for p in params:
            p.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def clip_by_value(params, max_norm):
    grads = _grads(params)
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    with torch.no_grad():
        for g in grads:
            g.clamp_(-max_norm, max_norm)
    return total


def clip_on_cpu(params, max_norm):
    grads = _grads(params)
    total = math.sqrt(sum(float((g**2).sum()) for g in grads))
    coef = min(1.0, max_norm / (total + 1e-6))
    with torch.no_grad():
        for g in grads:
            g.mul_(coef)
    return torch.tensor(total, dtype=grads[0].dtype)


def clip_not_in_place(params, max_norm):
    params = [p for p in params if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    for p in params:
        p.grad = p.grad * torch.clamp(max_norm / (total + 1e-6), max=1.0)
    return total


def clip_norms_without_device(params, max_norm):
    grads = _grads(list(params))
    norms = torch.zeros(len(grads), dtype=grads[0].dtype)  # made without device=
    for i, g in enumerate(grads):
        norms[i] = g.norm()
    total = norms.norm()
    with torch.no_grad():
        for g in grads:
            g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def _clip(grads, max_norm):
    total = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
    with torch.no_grad():
        for g in grads:
            g.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def clip_crashes_without_gradients(params, max_norm):
    return _clip(_grads(list(params)), max_norm)  # torch.stack([]) raises


def clip_returns_float_zero(params, max_norm):
    grads = _grads(list(params))
    return _clip(grads, max_norm) if grads else 0.0


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (clip_not_in_place, "replaced by a new tensor"),
        (clip_norms_without_device, "without device="),
        (clip_crashes_without_gradients, "none has a gradient.*raised"),
        (clip_returns_float_zero, "none has a gradient.*torch.tensor"),
        (clip_each_separately, "clipped separately"),
        (clip_returns_nothing, "returned None"),
        (clip_returns_clipped_norm, "the norm after clipping"),
        (clip_generator_consumed_twice, "generator"),
        (clip_crashes_on_none, r"grad = None.*raised"),
        (clip_scales_up, "below max_norm"),
        (clip_returns_float, "0-dim tensor"),
        (clip_the_parameters, "parameters themselves changed"),
        (clip_by_value, "differ from torch.nn.utils.clip_grad_norm_"),
        (not_implemented, "not implemented"),
    ],
)
def test_clip_grad_norm_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_clip_grad_norm_(wrong)


def _total_then_clip(params, max_norm):
    total = torch.nn.utils.get_total_norm(_grads(params))
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return total


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda params, max_norm: torch.nn.utils.clip_grad_norm_(params, max_norm),
         "torch.nn.utils.clip_grad_norm_"),
        (lambda params, max_norm: torch.nn.utils.clip_grad_norm(params, max_norm),
         "torch.nn.utils.clip_grad_norm"),
        (lambda params, max_norm: _total_then_clip(list(params), max_norm), "torch.nn.utils.get_total_norm"),
    ],
    ids=["clip_grad_norm_", "deprecated clip_grad_norm", "get_total_norm + clip_grads_with_norm_"],
)
@pytest.mark.filterwarnings("ignore::FutureWarning")  # the deprecated name
def test_clip_grad_norm_calling_torch_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls {name}.*write yourself"):
        check_clip_grad_norm_(cheat)


def clip_sum_of_squares(params, max_norm):
    grads = _grads(list(params))
    if not grads:
        return torch.tensor(0.0)
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    with torch.no_grad():
        for g in grads:
            g.mul_(coef)
    return total


def clip_one_long_vector(params, max_norm):
    grads = _grads(list(params))
    if not grads:
        return torch.tensor(0.0)
    total = torch.cat([g.flatten() for g in grads]).norm()
    if total > max_norm:
        with torch.no_grad():
            for g in grads:
                g.mul_(max_norm / (total + 1e-6))
    return total


@pytest.mark.parametrize("correct", [clip_sum_of_squares, clip_one_long_vector])
def test_clip_grad_norm_correct_variants_pass(correct):
    check_clip_grad_norm_(correct)


def test_clip_grad_norm_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_clip_grad_norm_(clip_on_cpu)
