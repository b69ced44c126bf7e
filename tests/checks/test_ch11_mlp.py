"""The ch11 hidden checks pass the reference solutions and fail realistic mistakes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks.ch11_mlp import (
    check_mlp_forward,
    check_relu,
    check_relu_grad,
    check_sigmoid_grad,
    check_tanh_grad,
)
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# the derivative of the ReLU with x >= 0, which is 1 at the kink instead of autograd's 0.
WRONG_SUBMISSION = {
    "relu_grad": '''def relu_grad(x):
    return (x >= 0).to(x.dtype)
'''
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch11_mlp")


def test_reference_passes(reference):
    check_relu(reference["relu"])
    check_relu_grad(reference["relu_grad"])
    check_sigmoid_grad(reference["sigmoid_grad"])
    check_tanh_grad(reference["tanh_grad"])
    check_mlp_forward(reference["mlp_forward"])


def test_wrong_submission_fails_only_its_check(reference):
    namespace = {"torch": torch}
    exec(WRONG_SUBMISSION["relu_grad"], namespace)
    with pytest.raises(AssertionError, match=r"relu_grad\(0\) = 1"):
        check_relu_grad(namespace["relu_grad"])
    check_relu(reference["relu"])


def not_implemented(*args):
    raise NotImplementedError()


# --------------------------------------------------------------------------------------------
# relu
# --------------------------------------------------------------------------------------------


def relu_in_place(x):
    x[x < 0] = 0
    return x


def relu_clamp_in_place(x):
    return x.clamp_(min=0)


def relu_python_max(x):
    return max(0, x)


def relu_torch_max(x):
    return torch.max(x, 0)


def relu_mask(x):
    return (x > 0).to(x.dtype)


def relu_bool(x):
    return x > 0


def relu_abs(x):
    return x.abs()


def relu_min(x):
    return x.clamp(max=0)


def relu_zeros_without_device(x):
    return torch.maximum(x, torch.zeros(x.shape, dtype=x.dtype))  # made without device=


def relu_float32(x):
    return x.float().clamp(min=0)


def relu_float64(x):
    return x.double().clamp(min=0)


def relu_where_float_zeros(x):
    zeros = torch.zeros_like(x, dtype=torch.float32)  # float32 whatever x's dtype
    return torch.where(x > 0, x, zeros)


def relu_on_cpu(x):
    return x.cpu().clamp(min=0)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (relu_in_place, "changed its input in place"),
        (relu_clamp_in_place, "changed its input in place"),
        (relu_python_max, r"ambiguous.*max\(0, x\)"),
        (relu_torch_max, r"returned a tuple.*reduces over dimension 0"),
        (relu_mask, "returned the mask"),
        (relu_bool, "bool tensor"),
        (relu_abs, r"returned \|x\|"),
        (relu_min, r"min\(x, 0\)"),
        (relu_zeros_without_device, "without device="),
        (relu_float32, "dtype torch.float32 but the input was torch.float64"),
        (relu_float64, "dtype torch.float64 but the input was torch.float32"),
        (relu_where_float_zeros, "dtype torch.float32 but the input was torch.float16"),
        (not_implemented, "not implemented"),
    ],
)
def test_relu_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_relu(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda x: torch.relu(x), "torch.relu"),
        (lambda x: x.relu(), "torch.Tensor.relu"),
        (lambda x: x.clone().relu_(), "torch.Tensor.relu_"),
        (lambda x: F.relu(x), "torch.nn.functional.relu"),
        (lambda x: nn.ReLU()(x), "torch.nn.functional.relu"),
        (lambda x: F.threshold(x, 0.0, 0.0), "torch.nn.functional.threshold"),
        (lambda x: F.leaky_relu(x, 0.0), "torch.nn.functional.leaky_relu"),
        (lambda x: F.prelu(x, torch.zeros(1, dtype=x.dtype, device=x.device)),
         "torch.prelu"),
        (lambda x: torch.ops.aten.relu(x), "aten.relu"),
        (lambda x: torch._C._nn.leaky_relu(x, 0.0), "aten.leaky_relu"),
        (lambda x: torch.from_numpy(x.numpy().clip(0, None)), "torch.Tensor.numpy"),
    ],
    ids=["torch.relu", "method", "in-place method", "F.relu", "nn.ReLU", "threshold", "leaky_relu",
         "prelu", "aten", "_C._nn", "numpy"],
)  # fmt: skip
def test_relu_calling_torch_fails(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}"):
        check_relu(cheat)


@pytest.mark.parametrize(
    "correct",
    [
        lambda x: x.clamp(min=0),
        lambda x: torch.clamp(x, min=0),
        lambda x: torch.maximum(x, torch.zeros_like(x)),
        lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
        lambda x: torch.where(x > 0, x, 0),
        lambda x: x * (x > 0),
        lambda x: (x + x.abs()) / 2,
        lambda x: torch.maximum(x, torch.tensor(0.0, dtype=x.dtype)),  # a 0-dim constant
    ],
    ids=["clamp method", "torch.clamp", "maximum", "where zeros_like", "where 0", "mask product",
         "(x + |x|) / 2", "maximum with a constant"],
)  # fmt: skip
def test_relu_correct_variants_pass(correct):
    check_relu(correct)


def test_relu_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_relu(relu_on_cpu)
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_relu(lambda x: x.cpu().clamp(min=0).to(x.device))


# --------------------------------------------------------------------------------------------
# relu_grad
# --------------------------------------------------------------------------------------------


def relu_grad_ge(x):
    return (x >= 0).to(x.dtype)


def relu_grad_half_at_zero(x):
    return (x > 0).to(x.dtype) + 0.5 * (x == 0).to(x.dtype)


def relu_grad_bool(x):
    return x > 0


def relu_grad_float(x):
    return (x > 0).float()


def relu_grad_where_scalars(x):
    return torch.where(x > 0, 1.0, 0.0)  # float32 whatever x's dtype


def relu_grad_ones_without_device(x):
    return torch.where(x > 0, torch.ones(x.shape, dtype=x.dtype), torch.zeros(x.shape, dtype=x.dtype))


def relu_grad_in_place(x):
    x[x > 0] = 1
    x[x <= 0] = 0
    return x


def relu_grad_returns_relu(x):
    return x.clamp(min=0)


def relu_grad_flipped(x):
    return (x < 0).to(x.dtype)


def relu_grad_autograd(x):
    x = x.detach().clone().requires_grad_()
    (grad,) = torch.autograd.grad(torch.relu(x).sum(), x)
    return grad


def relu_grad_backward(x):
    x = x.detach().clone().requires_grad_()
    x.clamp(min=0).sum().backward()
    return x.grad


def relu_grad_enable_grad(x):
    with torch.enable_grad():
        return relu_grad_autograd(x)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (relu_grad_ge, r"relu_grad\(0\) = 1, but it must be 0.*not x >= 0"),
        (relu_grad_half_at_zero, r"relu_grad\(0\) = 0.5"),
        (relu_grad_bool, "bool tensor"),
        (relu_grad_float, "dtype torch.float32 but the input was torch.float64"),
        (relu_grad_where_scalars, "dtype torch.float32 but the input was torch.float64"),
        (relu_grad_ones_without_device, "without device="),
        (relu_grad_in_place, "changed its input in place"),
        (relu_grad_returns_relu, "returned relu"),
        (relu_grad_flipped, "wrong values"),
        (relu_grad_autograd, "without autograd"),
        (relu_grad_backward, "without autograd"),
        (relu_grad_enable_grad, "without autograd"),
        (not_implemented, "not implemented"),
    ],
)
def test_relu_grad_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_relu_grad(wrong)


@pytest.mark.parametrize(
    "correct",
    [
        lambda x: (x > 0).to(x.dtype),
        lambda x: (x > 0).type_as(x),
        lambda x: torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x)),
        lambda x: torch.heaviside(x, torch.zeros_like(x)),
        lambda x: torch.sign(x).clamp(min=0),
        lambda x: (torch.relu(x) > 0).to(x.dtype),  # torch.relu is allowed here
    ],
    ids=["mask", "type_as", "where", "heaviside", "sign", "mask of torch.relu"],
)
def test_relu_grad_correct_variants_pass(correct):
    check_relu_grad(correct)


# --------------------------------------------------------------------------------------------
# sigmoid_grad
# --------------------------------------------------------------------------------------------


def sigmoid_grad_of_x(x):
    return x * (1 - x)  # the formula s(1 - s) with s = x


def sigmoid_grad_tanh_pattern(x):
    return 1 - torch.sigmoid(x) ** 2


def sigmoid_grad_returns_sigmoid(x):
    return torch.sigmoid(x)


def sigmoid_grad_naive_exp(x):
    e = torch.exp(-x)
    return e / (1 + e) ** 2


def sigmoid_grad_in_place(x):
    s = x.sigmoid_()
    return s * (1 - s)


def sigmoid_grad_float64(x):
    s = torch.sigmoid(x.double())
    return s * (1 - s)


def sigmoid_grad_ones_without_device(x):
    s = torch.sigmoid(x)
    return s * (torch.ones(x.shape, dtype=x.dtype) - s)


def sigmoid_grad_autograd(x):
    x = x.detach().clone().requires_grad_()
    (grad,) = torch.autograd.grad(torch.sigmoid(x).sum(), x)
    return grad


def sigmoid_grad_backward_op(x):
    s = torch.sigmoid(x)
    return torch.ops.aten.sigmoid_backward(torch.ones_like(x), s)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (sigmoid_grad_of_x, r"computed x \* \(1 - x\)"),
        (sigmoid_grad_tanh_pattern, "pattern of tanh"),
        (sigmoid_grad_returns_sigmoid, "activation itself"),
        (sigmoid_grad_naive_exp, "inf or nan at x = -10000"),
        (sigmoid_grad_in_place, "changed its input in place"),
        (sigmoid_grad_float64, "dtype torch.float64 but the input was torch.float32"),
        (sigmoid_grad_ones_without_device, "without device="),
        (sigmoid_grad_autograd, "without autograd"),
        (sigmoid_grad_backward_op, "calls aten.sigmoid_backward"),
        (not_implemented, "not implemented"),
    ],
)
def test_sigmoid_grad_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_sigmoid_grad(wrong)


@pytest.mark.parametrize(
    "correct",
    [
        lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)),
        lambda x: torch.sigmoid(x) * torch.sigmoid(-x),
        lambda x: torch.sigmoid(x) - torch.sigmoid(x) ** 2,
        lambda x: 0.25 / torch.cosh(x / 2) ** 2,
        lambda x: torch.exp(-x.abs()) / (1 + torch.exp(-x.abs())) ** 2,
    ],
    ids=["s(1 - s)", "s(x)s(-x)", "s - s^2", "cosh", "stable exp"],
)
def test_sigmoid_grad_correct_variants_pass(correct):
    check_sigmoid_grad(correct)


# --------------------------------------------------------------------------------------------
# tanh_grad
# --------------------------------------------------------------------------------------------


def tanh_grad_of_x(x):
    return 1 - x**2  # the formula 1 - tanh^2 with tanh = x


def tanh_grad_no_square(x):
    return 1 - torch.tanh(x)


def tanh_grad_sigmoid_pattern(x):
    t = torch.tanh(x)
    return t * (1 - t)


def tanh_grad_naive_exp(x):
    e2 = torch.exp(2 * x)
    return 4 * e2 / (e2 + 1) ** 2


def tanh_grad_in_place(x):
    return 1 - x.tanh_() ** 2


def tanh_grad_float32(x):
    return 1 - torch.tanh(x.float()) ** 2


def tanh_grad_autograd(x):
    x = x.detach().clone().requires_grad_()
    torch.tanh(x).sum().backward()
    return x.grad


def tanh_grad_backward_op(x):
    return torch.ops.aten.tanh_backward(torch.ones_like(x), torch.tanh(x))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (tanh_grad_of_x, r"computed 1 - x\*\*2"),
        (tanh_grad_no_square, "squares it"),
        (tanh_grad_sigmoid_pattern, "sigmoid's pattern"),
        (tanh_grad_naive_exp, r"inf or nan at x = .*overflows"),
        (tanh_grad_in_place, "changed its input in place"),
        (tanh_grad_float32, "dtype torch.float32 but the input was torch.float64"),
        (tanh_grad_autograd, "without autograd"),
        (tanh_grad_backward_op, "calls aten.tanh_backward"),
        (torch.tanh, "activation itself"),
        (not_implemented, "not implemented"),
    ],
)
def test_tanh_grad_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_tanh_grad(wrong)


@pytest.mark.parametrize(
    "correct",
    [
        lambda x: 1 - torch.tanh(x) ** 2,
        lambda x: 1 / torch.cosh(x) ** 2,
        lambda x: (1 - torch.tanh(x)) * (1 + torch.tanh(x)),
        lambda x: 4 * torch.sigmoid(2 * x) * (1 - torch.sigmoid(2 * x)),
    ],
    ids=["1 - t^2", "sech^2", "(1 - t)(1 + t)", "via the sigmoid"],
)
def test_tanh_grad_correct_variants_pass(correct):
    check_tanh_grad(correct)


def test_grad_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_tanh_grad(lambda x: (1 - torch.tanh(x.cpu()) ** 2).to(x.device))


# --------------------------------------------------------------------------------------------
# mlp_forward
# --------------------------------------------------------------------------------------------


def mlp_reference(X, params):
    H = X.reshape(len(X), -1)
    for i, (W, b) in enumerate(params):
        H = H @ W + b
        if i < len(params) - 1:
            H = H.clamp(min=0)
    return H


def mlp_relu_after_last(X, params):
    H = X.reshape(len(X), -1)
    for W, b in params:
        H = torch.relu(H @ W + b)
    return H


def mlp_no_relu(X, params):
    H = X.reshape(len(X), -1)
    for W, b in params:
        H = H @ W + b
    return H


def mlp_sigmoid(X, params):
    H = X.reshape(len(X), -1)
    for i, (W, b) in enumerate(params):
        H = H @ W + b
        if i < len(params) - 1:
            H = torch.sigmoid(H)
    return H


def mlp_not_flattened(X, params):
    H = X
    for i, (W, b) in enumerate(params):
        H = H @ W + b
        if i < len(params) - 1:
            H = torch.relu(H)
    return H


def mlp_hard_coded_784(X, params):
    return mlp_reference(X.reshape(-1, 784), params)


def mlp_view(X, params):
    return mlp_reference(X.view(X.shape[0], -1), params)


def mlp_flatten_all(X, params):
    return mlp_reference(X.flatten()[None], params)


def mlp_transposed(X, params):
    H = X.reshape(len(X), -1)
    for i, (W, b) in enumerate(params):
        H = H @ W.T + b
        if i < len(params) - 1:
            H = torch.relu(H)
    return H


def mlp_two_layers(X, params):
    (W1, b1), (W2, b2) = params
    H = torch.relu(X.reshape(len(X), -1) @ W1 + b1)
    return H @ W2 + b2


def mlp_first_and_last(X, params):
    (W1, b1), (W2, b2) = params[0], params[-1]
    H = torch.relu(X.reshape(len(X), -1) @ W1 + b1)
    return H @ W2 + b2


def mlp_skips_single_layer(X, params):
    """A loop over the hidden layers, then the output layer: with one layer, a hidden layer of it."""
    H = X.reshape(len(X), -1)
    for W, b in params[:-1]:
        H = torch.relu(H @ W + b)
    W, b = params[-1] if len(params) > 1 else (params[0][0][:, :1], params[0][1][:1])
    return H @ W + b


def mlp_squeeze(X, params):
    return mlp_reference(X.squeeze(), params)


def mlp_float32(X, params):
    return mlp_reference(X.float(), [(W.float(), b.float()) for W, b in params])


def mlp_float64(X, params):
    return mlp_reference(X.double(), [(W.double(), b.double()) for W, b in params])


def mlp_zeros_without_device(X, params):
    H = X.reshape(len(X), -1)
    for i, (W, b) in enumerate(params):
        H = H @ W + b
        if i < len(params) - 1:
            H = torch.maximum(H, torch.zeros(H.shape, dtype=H.dtype))  # made without device=
    return H


def mlp_in_place_input(X, params):
    """An in-place ReLU before each layer instead of after it: the first one zeroes X's negatives."""
    H = X.reshape(len(X), -1)  # a view of X
    for W, b in params:
        H = H.clamp_(min=0) @ W + b
    return H


def mlp_in_place_bias(X, params):
    """b made a row with the in-place unsqueeze_, which changes the caller's b."""
    H = X.reshape(len(X), -1)
    for i, (W, b) in enumerate(params):
        H = H @ W + b.unsqueeze_(0)
        if i < len(params) - 1:
            H = H.clamp(min=0)
    return H


def mlp_detached(X, params):
    with torch.no_grad():
        return mlp_reference(X, params)


def mlp_on_cpu(X, params):
    return mlp_reference(X.cpu(), [(W.cpu(), b.cpu()) for W, b in params]).to(X.device)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (mlp_relu_after_last, "ReLU after the last layer"),
        (mlp_no_relu, "no ReLU between the layers"),
        (mlp_sigmoid, "used sigmoid between the layers"),
        (mlp_not_flattened, r"raised RuntimeError.*flatten X to \(n, d\)"),
        (mlp_hard_coded_784, "don't hard-code 784"),
        (mlp_view, "view fails on a non-contiguous X"),
        (mlp_flatten_all, r"flatten X to \(n, d\)"),
        (mlp_transposed, "multiplied by W transposed"),
        (mlp_two_layers, r"with 3 layers \(12-9-7-4\).*any number of layers"),
        (mlp_first_and_last, "with 3 layers"),
        (mlp_skips_single_layer, r"with 1 layer \(12-5\): expected shape \(6, 5\).*any number of layers"),
        (mlp_squeeze, "batch of one example"),
        (mlp_float32, "dtype torch.float32 but the input was torch.float64"),
        (mlp_float64, "dtype torch.float64 but the input was torch.float32"),
        (mlp_zeros_without_device, "without device="),
        (mlp_in_place_input, "changed X in place"),
        (mlp_in_place_bias, "changed a weight or a bias in place"),
        (mlp_detached, "detached"),
        (not_implemented, "not implemented"),
    ],
)
def test_mlp_forward_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_mlp_forward(wrong)


def mlp_with_linear(X, params):
    H = X.flatten(start_dim=1)
    for i, (W, b) in enumerate(params):
        H = F.linear(H, W.T, b)
        if i < len(params) - 1:
            H = F.relu(H)
    return H


def mlp_recursive(X, params):
    (W, b), rest = params[0], params[1:]
    H = X.reshape(X.shape[0], -1) @ W + b
    return mlp_recursive(torch.relu(H), rest) if rest else H


def mlp_addmm(X, params):
    H = X.reshape(len(X), -1)
    for W, b in params[:-1]:
        H = torch.addmm(b, H, W).clamp(min=0)
    W, b = params[-1]
    return torch.addmm(b, H, W)


@pytest.mark.parametrize(
    "correct", [mlp_reference, mlp_with_linear, mlp_recursive, mlp_addmm],
    ids=["loop", "F.linear", "recursive", "addmm"],
)
def test_mlp_forward_correct_variants_pass(correct):
    check_mlp_forward(correct)


def test_mlp_forward_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_mlp_forward(mlp_on_cpu)
