"""Hidden checks for ch17_cnn: corr2d, conv2d, max_pool2d, avg_pool2d, Conv2d.

Every check runs on the CPU and, when present, on the GPU, and compares with ``torch.nn.functional``
(``conv2d``, ``max_pool2d``, ``avg_pool2d``) or ``nn.Conv2d``; gradients are compared in float64.

A Python loop over output pixels in ``conv2d`` is caught without timing anything: such a loop
builds an autograd graph with (at least) one node per output pixel, while the vectorised version
(``F.unfold`` + one matrix multiplication) builds a handful of nodes whatever the image size.
``check_conv2d`` also runs one large case (8 x 16 x 64 x 64 input, 32 output channels) that takes
milliseconds vectorised.

The rules the exercises state are enforced on every call: no torch convolution in ``corr2d``,
``conv2d`` and ``Conv2d``, no torch pooling (of any dimension) in the poolings and no convolution
in ``avg_pool2d`` (``forbid=``, whatever name, ``nn`` module, ``torch.ops.aten`` operator or
TorchScript function reaches them), and no tensor made off the input's device (``probe_device=``).
``Conv2d`` must draw its initial weight, then its bias, exactly as ``nn.Conv2d`` does, so that
both start from the same parameters under the same seed.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks._common import call, devices, expect_close, expect_tensor, generator

FLIP_HINT = (
    "It matches a true convolution (the kernel flipped in both directions): deep learning's "
    "'convolution' is cross-correlation, so use the kernel as it is, without flipping it."
)
LOOP_HINT = "Vectorise it: F.unfold the input into columns and use one matrix multiplication."


def _aten(*names: str) -> tuple[str, ...]:
    """The aten operators among ``names`` that this torch build has."""
    return tuple(f"aten.{name}" for name in names if hasattr(torch.ops.aten, name))


# torch's convolutions, which corr2d, conv2d and Conv2d rebuild (F.conv2d is torch.conv2d, so
# one spelling covers both; nn.Conv2d calls it), then the aten operators that every way to reach
# one ends in (torch.ops.aten, torch._C._nn.thnn_conv2d, torch._convolution_mode, TorchScript):
# the operators a Python mode sees are those left after torch's own decompositions, e.g.
# aten.convolution for F.conv2d and aten._slow_conv2d_forward for thnn_conv2d. F.unfold
# (aten.im2col) is the building block the exercises use: allowed.
CONVOLUTIONS = tuple(
    f"torch.nn.functional.{name}"
    for name in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
) + ("torch.convolution", "torch._convolution") + _aten(
    "convolution", "_convolution", "_convolution_mode", "convolution_overrideable", "convolution_backward",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_tbc",
    "thnn_conv2d", "_slow_conv2d_forward", "slow_conv3d", "slow_conv3d_forward",
    "slow_conv_dilated2d", "slow_conv_dilated3d", "slow_conv_transpose2d", "slow_conv_transpose3d",
    "_conv_depthwise2d", "conv_depthwise3d", "mkldnn_convolution", "_nnpack_spatial_convolution",
    "cudnn_convolution", "cudnn_convolution_transpose", "cudnn_convolution_relu",
    "cudnn_convolution_add_relu", "miopen_convolution", "miopen_convolution_transpose",
    "miopen_depthwise_convolution", "_mps_convolution", "_mps_convolution_transpose",
)  # fmt: skip
# torch's poolings, which max_pool2d and avg_pool2d rebuild (nn.MaxPool2d and nn.AvgPool2d call
# them), in every dimension: a 3-D pooling with a window of depth 1 (or two 1-D passes) is a 2-D
# one. F.max_pool1d, F.max_pool3d and the adaptive max poolings share their code with
# F.max_pool2d (torch's boolean_dispatch), which is last so that a message names it.
MAX_POOLS = (
    "torch.max_pool1d", "torch.max_pool2d", "torch.max_pool3d", "torch._C._nn.max_pool2d_with_indices",
    "torch.nn.functional.max_pool1d_with_indices", "torch.nn.functional.max_pool2d_with_indices",
    "torch.nn.functional.max_pool3d_with_indices", "torch.nn.functional.adaptive_max_pool1d",
    "torch.nn.functional.adaptive_max_pool2d", "torch.nn.functional.adaptive_max_pool3d",
    "torch.nn.functional.fractional_max_pool2d", "torch.nn.functional.fractional_max_pool3d",
    "torch.nn.functional.max_pool1d", "torch.nn.functional.max_pool3d", "torch.nn.functional.max_pool2d",
) + _aten(
    "max_pool1d", "max_pool1d_with_indices", "max_pool2d", "max_pool2d_with_indices", "max_pool3d",
    "max_pool3d_with_indices", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "fractional_max_pool2d", "fractional_max_pool3d", "mkldnn_max_pool2d", "mkldnn_max_pool3d",
    "quantized_max_pool1d", "quantized_max_pool2d", "quantized_max_pool3d",
)  # fmt: skip
# Average pooling is also a convolution with a box kernel (1 / (kh * kw) everywhere, one per
# channel: groups=C), so the convolutions are ruled out too.
AVG_POOLS = (
    "torch.nn.functional.avg_pool1d", "torch.nn.functional.avg_pool2d", "torch.nn.functional.avg_pool3d",
    "torch.nn.functional.adaptive_avg_pool1d", "torch.nn.functional.adaptive_avg_pool2d",
    "torch.nn.functional.adaptive_avg_pool3d",
) + _aten(
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "mkldnn_adaptive_avg_pool2d",
) + CONVOLUTIONS  # fmt: skip


def _call(fn, *args, what, forbid, **kwargs):
    """``call`` with the rules of every exercise: the functions in ``forbid`` are not called, no
    tensor is made off the input's device, and GPU tensors take no trip through the CPU."""
    return call(fn, *args, what=what, forbid=forbid, probe_device=True, stay_on_device=True, **kwargs)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _conv_ref(X, W, b=None, **kwargs):
    """F.conv2d computed in float64 (cuDNN may use TF32 for float32 on a GPU), in X's dtype."""
    b = None if b is None else b.double()
    return F.conv2d(X.double(), W.double(), b, **kwargs).to(X.dtype)


def _graph(tensor: torch.Tensor) -> set:
    """The autograd nodes that ``tensor`` was computed through."""
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return seen


def _graph_size(tensor: torch.Tensor) -> int:
    return len(_graph(tensor))


def _expect_unchanged(before: list[torch.Tensor], after: list[torch.Tensor], name: str):
    for old, new in zip(before, after, strict=True):
        assert torch.equal(old, new), f"{name} modified one of its inputs in place; compute on copies"


def _expect_differentiable(result: torch.Tensor, what: str):
    assert result.requires_grad and result.grad_fn is not None, (
        f"{what}: the result is detached from the autograd graph (no gradient can flow back); "
        "do not use .item(), .detach(), torch.tensor(...) or torch.no_grad() on the way"
    )


def _expect_grads(result, expected, inputs, ref_inputs, names, what):
    """Backpropagate the same upstream gradient through both and compare the input gradients."""
    g = generator(99)
    upstream = torch.randn(expected.shape, generator=g, dtype=expected.dtype).to(expected.device)
    grads = torch.autograd.grad(result, inputs, upstream, allow_unused=True)
    ref_grads = torch.autograd.grad(expected, ref_inputs, upstream)
    for grad, ref_grad, name in zip(grads, ref_grads, names, strict=True):
        assert grad is not None, f"{what}: no gradient reaches {name}; the result must depend on it"
        expect_close(grad, ref_grad, f"{what}: gradient with respect to {name}", rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------------------------- corr2d


def _expect_corr_shape(Y, shape, what):
    assert isinstance(Y, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(Y).__name__}"
    assert Y.shape == shape, (
        f"{what}: expected shape {shape}, got {tuple(Y.shape)}; without padding the output is "
        "(H - kh + 1) x (W - kw + 1)"
    )


def check_corr2d(corr2d):
    for device in devices():
        X = torch.arange(9.0, device=device).reshape(3, 3)
        K = torch.arange(4.0, device=device).reshape(2, 2)
        what = "corr2d of the 3 x 3 input 0..8 with the 2 x 2 kernel 0..3"
        Y = _call(corr2d, X, K, what=what, forbid=CONVOLUTIONS)
        _expect_corr_shape(Y, (2, 2), what)
        expect_tensor(Y, X, what, shape=(2, 2))
        expected = torch.tensor([[19.0, 25.0], [37.0, 43.0]], device=device)
        if torch.allclose(Y, torch.tensor([[5.0, 11.0], [23.0, 29.0]], device=device)):
            raise AssertionError(f"{what}: got [[5, 11], [23, 29]]. {FLIP_HINT}")
        expect_close(Y, expected, what, hint="Each output is the sum of the window times the kernel.")

        g = generator(170)
        for (h, w), (kh, kw) in [((7, 9), (2, 3)), ((6, 5), (3, 1)), ((4, 6), (1, 1)), ((3, 4), (3, 4))]:
            X = torch.randn(h, w, generator=g).to(device)
            K = torch.randn(kh, kw, generator=g).to(device)
            X_before, K_before = X.clone(), K.clone()
            what = f"corr2d of a {h} x {w} input with a {kh} x {kw} kernel"
            Y = _call(corr2d, X, K, what=what, forbid=CONVOLUTIONS)
            shape = (h - kh + 1, w - kw + 1)
            _expect_corr_shape(Y, shape, what)
            expect_tensor(Y, X, what, shape=shape)
            _expect_unchanged([X_before, K_before], [X, K], "corr2d")
            expected = _conv_ref(X[None, None], K[None, None])[0, 0]
            flipped = _conv_ref(X[None, None], K.flip(0, 1)[None, None])[0, 0]
            if not torch.allclose(Y, expected, atol=1e-5) and torch.allclose(Y, flipped, atol=1e-5):
                raise AssertionError(f"{what}: wrong values. {FLIP_HINT}")
            expect_close(Y, expected, what, rtol=1e-5, atol=1e-5)

        X = torch.randn(5, 7, generator=g, dtype=torch.float64).to(device).requires_grad_()
        K = torch.randn(2, 3, generator=g, dtype=torch.float64).to(device).requires_grad_()
        what = "corr2d of a float64 5 x 7 input with a 2 x 3 kernel"
        Y = _call(corr2d, X, K, what=what, forbid=CONVOLUTIONS)
        expect_tensor(Y, X, what, shape=(4, 5))
        _expect_differentiable(Y, what)
        expected = F.conv2d(X[None, None], K[None, None])[0, 0]
        expect_close(Y, expected, what, rtol=1e-10, atol=1e-12)
        _expect_grads(Y, expected, (X, K), (X, K), ("X", "K"), what)


# ----------------------------------------------------------------------------------------- conv2d

CONV_CASES = [
    # N, C, H, W, out channels, (kh, kw), stride, padding, with bias, how to pass b
    (2, 3, 7, 9, 4, (2, 3), 1, 0, False, "default"),
    (2, 3, 8, 11, 5, (3, 2), 2, 1, True, "positional"),
    (3, 2, 10, 9, 3, (3, 5), (3, 2), (0, 2), True, "keyword"),
    (1, 4, 6, 7, 2, (1, 1), 1, 0, True, "positional"),
    (2, 1, 9, 8, 3, (4, 3), (2, 3), (2, 1), False, "none"),
]


def _conv_shape_hint(shape, N, n_out, H, W, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, _pair(stride), _pair(padding)
    h_out, w_out = _out_size(H, kh, sh, ph), _out_size(W, kw, sw, pw)
    one_side = (N, n_out, (H + ph - kh) // sh + 1, (W + pw - kw) // sw + 1)
    both_sides = "padding goes on both sides: padding=p adds p rows at the top and p at the bottom"
    hints = {
        (N, n_out, _out_size(H, kh, 1, ph), _out_size(W, kw, 1, pw)): "the stride seems to be ignored",
        (N, n_out, _out_size(H, kh, sh, 0), _out_size(W, kw, sw, 0)): "the padding seems to be ignored",
        one_side: both_sides,
        (N, n_out, h_out - 1, w_out - 1): "the output is one too small",
        (N, n_out, h_out + 1, w_out + 1): "the output is one too large",
    }
    general = "the output size is floor((H + 2 * padding - kh) / stride) + 1 (and the same for W)"
    return hints.get(tuple(shape), "") + ("; " if tuple(shape) in hints else "") + general


def check_conv2d(conv2d):
    for device in devices():
        g = generator(171)
        for N, C, H, W, n_out, kernel, stride, padding, with_bias, how in CONV_CASES:
            X = torch.randn(N, C, H, W, generator=g).to(device)
            K = torch.randn(n_out, C, *kernel, generator=g).to(device)
            b = torch.randn(n_out, generator=g).to(device) if with_bias else None
            X_before, K_before = X.clone(), K.clone()
            what = (
                f"conv2d of X {tuple(X.shape)} with W {tuple(K.shape)}, "
                f"{'b given' if with_bias else 'b=None'}, stride={stride}, padding={padding}"
            )
            rules = dict(what=what, forbid=CONVOLUTIONS)
            if how == "default":
                Y = _call(conv2d, X, K, **rules)
            elif how == "none":
                Y = _call(conv2d, X, K, None, stride=stride, padding=padding, **rules)
            elif how == "keyword":
                Y = _call(conv2d, X, K, b=b, stride=stride, padding=padding, **rules)
            else:
                Y = _call(conv2d, X, K, b, stride=stride, padding=padding, **rules)
            expected = _conv_ref(X, K, b, stride=stride, padding=padding)
            assert isinstance(Y, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(Y).__name__}"
            assert Y.shape == expected.shape, (
                f"{what}: expected shape {tuple(expected.shape)}, got {tuple(Y.shape)}: "
                + _conv_shape_hint(Y.shape, N, n_out, H, W, kernel, stride, padding)
            )
            expect_tensor(Y, X, what, shape=expected.shape)
            _expect_unchanged([X_before, K_before], [X, K], "conv2d")
            if not torch.allclose(Y, expected, rtol=1e-4, atol=1e-4):
                flipped = _conv_ref(X, K.flip(-2, -1), b, stride=stride, padding=padding)
                if torch.allclose(Y, flipped, rtol=1e-4, atol=1e-4):
                    raise AssertionError(f"{what}: wrong values. {FLIP_HINT}")
                if b is not None and torch.allclose(Y, expected - b[:, None, None], rtol=1e-4, atol=1e-4):
                    raise AssertionError(f"{what}: the bias was not added; add b[o] to output channel o")
                ph, pw = _pair(padding)
                one_side = _conv_ref(F.pad(X, (pw, 0, ph, 0)), K, b, stride=stride)
                if (
                    (ph or pw)
                    and one_side.shape == Y.shape
                    and torch.allclose(Y, one_side, rtol=1e-4, atol=1e-4)
                ):
                    raise AssertionError(
                        f"{what}: wrong values: the input was padded on one side only; padding goes on "
                        "both sides: padding=p adds p rows at the top and p at the bottom (and p columns "
                        "left and right)"
                    )
            expect_close(Y, expected, what, rtol=1e-4, atol=1e-4)

        # Gradients in float64, and a test for a Python loop over the output pixels.
        X = torch.randn(1, 2, 16, 16, generator=g, dtype=torch.float64).to(device).requires_grad_()
        K = torch.randn(3, 2, 2, 2, generator=g, dtype=torch.float64).to(device).requires_grad_()
        b = torch.randn(3, generator=g, dtype=torch.float64).to(device).requires_grad_()
        what = "conv2d of a float64 X (1, 2, 16, 16) with W (3, 2, 2, 2) and b, stride 1"
        Y = _call(conv2d, X, K, b, what=what, forbid=CONVOLUTIONS)
        expected = F.conv2d(X, K, b)
        expect_tensor(Y, X, what, shape=expected.shape)
        _expect_differentiable(Y, what)
        nodes = _graph_size(Y)
        assert nodes <= 100, (
            f"{what}: the result went through {nodes} autograd operations for a 15 x 15 output, "
            f"so conv2d seems to loop over the output pixels in Python. {LOOP_HINT}"
        )
        expect_close(Y, expected, what, rtol=1e-10, atol=1e-10)
        _expect_grads(Y, expected, (X, K, b), (X, K, b), ("X", "W", "b"), what)

        # A non-contiguous input and a size at which a pixel loop would take far too long.
        X = torch.randn(8, 16, 64, 64, generator=g).to(device).transpose(2, 3)
        K = torch.randn(32, 16, 3, 3, generator=g).to(device)
        b = torch.randn(32, generator=g).to(device)
        what = "conv2d of a transposed (non-contiguous) X (8, 16, 64, 64) with W (32, 16, 3, 3), padding 1"
        Y = _call(conv2d, X, K, b, stride=1, padding=1, what=what, forbid=CONVOLUTIONS)
        expected = _conv_ref(X, K, b, padding=1)
        expect_tensor(Y, X, what, shape=expected.shape)
        expect_close(Y, expected, what, rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------------------------------- pooling

POOL_CASES = [
    # shape, kernel_size, stride (None: leave it out), padding, inputs
    ((2, 3, 6, 8), 2, None, 0, "random"),
    ((1, 2, 7, 9), (2, 3), (1, 2), 0, "random"),
    ((2, 2, 7, 8), 3, 2, 1, "negative"),
    ((1, 3, 5, 6), (3, 2), None, (1, 1), "negative"),
    ((2, 1, 6, 6), 3, 1, 0, "random"),
    # padding on one axis only: (ph, pw) and F.pad's (pw, pw, ph, ph) are easily swapped
    ((2, 2, 7, 8), (3, 2), (2, 1), (1, 0), "negative"),
    ((1, 2, 6, 9), (2, 5), 2, (0, 2), "random"),
    ((1, 2, 7, 7), 2, 4, (1, 0), "negative"),  # swapping the paddings keeps the shape here
]
SWAP_HINT = (
    "the height and width paddings are swapped: padding=(ph, pw) adds ph rows at the top and the "
    "bottom and pw columns left and right, and F.pad lists the last dimension first: "
    "F.pad(X, (pw, pw, ph, ph))"
)


def _same(Y, expected) -> bool:
    return (Y.shape, Y.dtype, Y.device) == (
        expected.shape,
        expected.dtype,
        expected.device,
    ) and torch.allclose(Y, expected, atol=1e-5)


def _swapped_padding(reference, X, kernel, padding, pad_value, **kwargs):
    """What pooling gives with the height and width paddings swapped."""
    ph, pw = _pair(padding)
    return reference(F.pad(X, (ph, ph, pw, pw), value=pad_value), kernel, **kwargs)


def _check_pool(pool, name: str):
    reference = F.max_pool2d if name == "max_pool2d" else F.avg_pool2d
    other = F.avg_pool2d if name == "max_pool2d" else F.max_pool2d
    forbid = MAX_POOLS if name == "max_pool2d" else AVG_POOLS
    pad_value = -math.inf if name == "max_pool2d" else 0.0
    for device in devices():
        g = generator(172 if name == "max_pool2d" else 173)
        for shape, kernel, stride, padding, kind in POOL_CASES:
            X = torch.randn(shape, generator=g).to(device)
            if kind == "negative":
                X = -1 - X.abs()  # every value below -1: zero padding would win a max
            X_before = X.clone()
            what = (
                f"{name} of X {shape} with kernel_size={kernel}, "
                + ("stride left out" if stride is None else f"stride={stride}")
                + f", padding={padding}"
            )
            kwargs = {} if stride is None else {"stride": stride}
            Y = _call(pool, X, kernel, padding=padding, what=what, forbid=forbid, **kwargs)
            expected = reference(X, kernel, padding=padding, **kwargs)
            assert isinstance(Y, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(Y).__name__}"
            swapped = _swapped_padding(reference, X, kernel, padding, pad_value, **kwargs)
            if not _same(Y, expected) and _same(Y, swapped):
                raise AssertionError(f"{what}: wrong result: {SWAP_HINT}")
            if Y.shape != expected.shape:
                stride_1 = reference(X, kernel, stride=1, padding=padding)
                if stride is None and Y.shape == stride_1.shape:
                    raise AssertionError(
                        f"{what}: expected shape {tuple(expected.shape)}, got {tuple(Y.shape)}: when "
                        "stride is None it defaults to kernel_size (like torch), not to 1"
                    )
                raise AssertionError(
                    f"{what}: expected shape {tuple(expected.shape)}, got {tuple(Y.shape)}; the output "
                    "size is floor((H + 2 * padding - kh) / stride) + 1 (and the same for W)"
                )
            expect_tensor(Y, X, what, shape=expected.shape)
            _expect_unchanged([X_before], [X], name)
            if not torch.allclose(Y, expected, atol=1e-5):
                if torch.allclose(Y, other(X, kernel, padding=padding, **kwargs), atol=1e-5):
                    taken = "maximum" if name == "avg_pool2d" else "mean"
                    raise AssertionError(f"{what}: wrong values: this takes the {taken} of each window")
                ph, pw = _pair(padding)
                if name == "max_pool2d" and (ph or pw):
                    zero_padded = F.max_pool2d(F.pad(X, (pw, pw, ph, ph)), kernel, **kwargs)
                    if torch.allclose(Y, zero_padded, atol=1e-5):
                        raise AssertionError(
                            f"{what}: wrong values on negative inputs: the padding must not win the "
                            "max. Pad with -inf (float('-inf')), not with zeros"
                        )
                if name == "avg_pool2d" and (ph or pw):
                    without_pad = F.avg_pool2d(X, kernel, padding=padding, count_include_pad=False, **kwargs)
                    if torch.allclose(Y, without_pad, atol=1e-5):
                        raise AssertionError(
                            f"{what}: wrong values at the border: like torch's default "
                            "(count_include_pad=True), pad with zeros and divide every window by kh * kw"
                        )
            expect_close(Y, expected, what, rtol=1e-5, atol=1e-5)

        X = torch.randn(2, 3, 7, 6, generator=g, dtype=torch.float64).to(device).requires_grad_()
        what = f"{name} of a float64 X (2, 3, 7, 6) with kernel_size=(3, 2), stride=(2, 2), padding=1"
        Y = _call(pool, X, (3, 2), stride=(2, 2), padding=1, what=what, forbid=forbid)
        expected = reference(X, (3, 2), stride=(2, 2), padding=1)
        expect_tensor(Y, X, what, shape=expected.shape)
        _expect_differentiable(Y, what)
        expect_close(Y, expected, what, rtol=1e-10, atol=1e-12)
        _expect_grads(Y, expected, (X,), (X,), ("X",), what)


def check_max_pool2d(max_pool2d):
    _check_pool(max_pool2d, "max_pool2d")


def check_avg_pool2d(avg_pool2d):
    _check_pool(avg_pool2d, "avg_pool2d")


# ----------------------------------------------------------------------------------------- Conv2d


def _make_layer(Conv2d, *args, **kwargs):
    what = "Conv2d(" + ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) + ")"
    with torch.random.fork_rng(devices=[]):  # the notebook's random state stays as it was
        torch.manual_seed(17)
        layer = call(Conv2d, *args, what=what, **kwargs)
    assert isinstance(layer, nn.Module), f"{what}: Conv2d must be an nn.Module subclass"
    return layer, what


def _expect_parameters(layer, what, weight_shape, bias_shape):
    params = dict(layer.named_parameters())
    for name, shape in (("weight", weight_shape), ("bias", bias_shape)):
        if name not in params:
            attribute = getattr(layer, name, None)
            if isinstance(attribute, torch.Tensor):
                raise AssertionError(
                    f"{what}: self.{name} is a plain tensor, not an nn.Parameter, so it gets no "
                    f"gradient and the optimizer never trains it: wrap it in nn.Parameter(...)"
                )
            raise AssertionError(
                f"{what}: no parameter named {name!r} (found {sorted(params)}); store the parameters "
                "as self.weight (out_channels, in_channels, kh, kw) and self.bias (out_channels,)"
            )
        assert tuple(params[name].shape) == shape, (
            f"{what}: self.{name} has shape {tuple(params[name].shape)}, expected {shape}"
        )
        assert params[name].requires_grad, f"{what}: self.{name} must have requires_grad=True"
    extra = sorted(set(params) - {"weight", "bias"})
    assert not extra, f"{what}: unexpected parameters {extra}; Conv2d has only weight and bias"


def _seeded_init(in_channels, out_channels, kernel_size, bias_first=False):
    """The initial weight and bias of nn.Conv2d under the seed of _make_layer (or, with
    ``bias_first``, of the same draws in the other order)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(17)
        if not bias_first:
            layer = nn.Conv2d(in_channels, out_channels, kernel_size)
            return layer.weight.detach(), layer.bias.detach()
        bound = 1 / math.sqrt(in_channels * kernel_size**2)
        bias = torch.empty(out_channels).uniform_(-bound, bound)
        weight = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        return weight, bias


def _expect_same_draws(weight, bias, what, in_channels, out_channels, kernel_size):
    """Under the same seed, the layer starts from nn.Conv2d's very weight and bias: the same
    distributions drawn in the same order (the weight first)."""
    expected = _seeded_init(in_channels, out_channels, kernel_size)
    if all(torch.allclose(a, e, rtol=1e-6, atol=1e-7) for a, e in zip((weight, bias), expected, strict=True)):
        return
    order = _seeded_init(in_channels, out_channels, kernel_size, bias_first=True)
    if all(torch.allclose(a, e, rtol=1e-6, atol=1e-7) for a, e in zip((weight, bias), order, strict=True)):
        raise AssertionError(
            f"{what}: the bias is drawn before the weight, so under the same seed the layer does not "
            "start from nn.Conv2d's parameters; initialise the weight first, then the bias"
        )
    raise AssertionError(
        f"{what}: under the same seed (torch.manual_seed) the initial parameters differ from "
        "nn.Conv2d's; create them with torch.empty, then draw nothing else than "
        "nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5)) followed by "
        "nn.init.uniform_(self.bias, -bound, bound)"
    )


def check_Conv2d(Conv2d):  # noqa: N802 (the graded name is a class)
    layer, what = _make_layer(Conv2d, 16, 32, 3)
    _expect_parameters(layer, what, (32, 16, 3, 3), (32,))
    bound = 1 / (16 * 3 * 3) ** 0.5  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    weight, bias = layer.weight.detach(), layer.bias.detach()
    init_hint = (
        "initialise like nn.Conv2d: nn.init.kaiming_uniform_(weight, a=math.sqrt(5)), i.e. uniform "
        "in [-1/sqrt(fan_in), 1/sqrt(fan_in)] with fan_in = in_channels * kh * kw, and the bias "
        "uniform in the same interval"
    )
    assert weight.abs().max() <= bound * (1 + 1e-6), f"{what}: weights outside +-1/sqrt(fan_in); {init_hint}"
    assert abs(weight.std().item() - bound / 3**0.5) < 0.1 * bound / 3**0.5, (
        f"{what}: the weights have standard deviation {weight.std().item():.4f}, expected about "
        f"{bound / 3**0.5:.4f}; {init_hint}"
    )
    assert abs(weight.mean().item()) < 0.1 * bound, f"{what}: the weights are not centred on 0; {init_hint}"
    assert bias.abs().max() <= bound * (1 + 1e-6) and bias.std() > 0.2 * bound, (
        f"{what}: the bias is not initialised like nn.Conv2d's; {init_hint}"
    )
    _expect_same_draws(weight, bias, what, 16, 32, 3)

    cases = [
        ((3, 4, (2, 3)), {"stride": (2, 1), "padding": 1}, (2, 3, 7, 8)),
        ((2, 3, 3), {}, (2, 2, 6, 5)),
        ((1, 2, 5), {"stride": 2, "padding": (2, 1)}, (1, 1, 9, 10)),
    ]
    for device in devices():
        g = generator(174)
        for args, kwargs, x_shape in cases:
            layer, what = _make_layer(Conv2d, *args, **kwargs)
            kernel = _pair(args[2])
            _expect_parameters(layer, what, (args[1], args[0], *kernel), (args[1],))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(18)
                reference = nn.Conv2d(*args, **kwargs)
            try:
                layer.load_state_dict(reference.state_dict())
            except Exception as err:
                raise AssertionError(
                    f"{what}: load_state_dict from an nn.Conv2d failed ({type(err).__name__}: {err}); "
                    "the parameters must be exactly self.weight and self.bias"
                ) from None
            layer.to(device)
            reference.to(device)

            X = torch.randn(x_shape, generator=g).to(device)
            Y = _call(layer, X, what=f"{what} applied to X {x_shape}", forbid=CONVOLUTIONS)
            expected = _conv_ref(X, reference.weight, reference.bias, **kwargs).detach()
            assert isinstance(Y, torch.Tensor) and Y.shape == expected.shape, (
                f"{what} applied to X {x_shape}: expected shape {tuple(expected.shape)}, got "
                f"{tuple(Y.shape) if isinstance(Y, torch.Tensor) else type(Y).__name__}; "
                "pass the layer's stride and padding on to conv2d"
            )
            expect_tensor(Y, X, f"{what} applied to X {x_shape}", shape=expected.shape)
            if not torch.allclose(Y, expected, rtol=1e-4, atol=1e-4):
                if torch.allclose(Y, expected - reference.bias.detach()[:, None, None], rtol=1e-4, atol=1e-4):
                    raise AssertionError(
                        f"{what}: the bias is not added in forward; pass self.bias to conv2d"
                    )
            expect_close(
                Y, expected, f"{what} with nn.Conv2d's weights, applied to X {x_shape}", rtol=1e-4, atol=1e-4
            )

            layer.double()
            reference.double()
            X64 = torch.randn(x_shape, generator=g, dtype=torch.float64).to(device).requires_grad_()
            what64 = f"{what} in float64 with nn.Conv2d's weights"
            Y = _call(layer, X64, what=what64, forbid=CONVOLUTIONS)
            expected = reference(X64)
            expect_tensor(Y, X64, what64, shape=expected.shape)
            _expect_differentiable(Y, what64)
            expect_close(Y, expected, what64, rtol=1e-10, atol=1e-10)
            _expect_grads(
                Y,
                expected,
                (X64, layer.weight, layer.bias),
                (X64, reference.weight, reference.bias),
                ("the input", "weight", "bias"),
                what64,
            )
