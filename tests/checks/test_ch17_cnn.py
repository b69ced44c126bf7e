"""The ch17 hidden checks pass the reference solutions and fail realistic mistakes."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks.ch17_cnn import (
    check_avg_pool2d,
    check_Conv2d,
    check_conv2d,
    check_corr2d,
    check_max_pool2d,
)
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# max pooling whose stride defaults to 1 instead of kernel_size. Only max_pool2d_hidden fails.
WRONG_SUBMISSION = {
    "max_pool2d": """def max_pool2d(X, kernel_size, stride=None, padding=0):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if stride is None:
        stride = 1
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    X = F.pad(X, (pw, pw, ph, ph), value=-math.inf)
    return X.unfold(2, kh, sh).unfold(3, kw, sw).amax(dim=(-2, -1))
"""
}


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch17_cnn")


def test_reference_passes(reference):
    check_corr2d(reference["corr2d"])
    check_conv2d(reference["conv2d"])
    check_Conv2d(reference["Conv2d"])
    check_max_pool2d(reference["max_pool2d"])
    check_avg_pool2d(reference["avg_pool2d"])


def test_wrong_submission_fails_its_check():
    namespace = {"torch": torch, "nn": nn, "F": F, "math": math}
    exec(WRONG_SUBMISSION["max_pool2d"], namespace)
    with pytest.raises(AssertionError, match="defaults to kernel_size"):
        check_max_pool2d(namespace["max_pool2d"])


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


def pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


# ----------------------------------------------------------------------------------------- corr2d


def corr2d_loop(X, K, flip=False, shrink=0, detach=False, d2l_zeros=False, cpu=False, zeros_kwargs=None):
    if flip:
        K = K.flip(0, 1)
    if cpu:
        X, K = X.cpu(), K.cpu()
    h, w = K.shape
    shape = (X.shape[0] - h + 1 - shrink, X.shape[1] - w + 1 - shrink)
    if zeros_kwargs is None:
        zeros_kwargs = {} if d2l_zeros else dict(dtype=X.dtype, device=X.device)
    Y = torch.zeros(shape, **zeros_kwargs)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            value = (X[i : i + h, j : j + w] * K).sum()
            Y[i, j] = value.item() if detach else value
    return Y


def corr2d_true_convolution(X, K):
    return corr2d_loop(X, K, flip=True)


def corr2d_d2l(X, K):
    return corr2d_loop(X, K, d2l_zeros=True)


def corr2d_default_dtype(X, K):
    return corr2d_loop(X, K, zeros_kwargs=dict(device=X.device))


def corr2d_default_device(X, K):
    return corr2d_loop(X, K, zeros_kwargs=dict(dtype=X.dtype))


def corr2d_by_conv2d(X, K):
    return F.conv2d(X[None, None], K[None, None])[0, 0]


def corr2d_by_torch_conv2d(X, K):
    return torch.conv2d(X.reshape(1, 1, *X.shape), K.reshape(1, 1, *K.shape)).squeeze()


def corr2d_by_layer(X, K):
    layer = nn.Conv2d(1, 1, K.shape, bias=False).to(X)
    with torch.no_grad():
        layer.weight.copy_(K)
    return layer(X[None, None])[0, 0]


def corr2d_by_thnn_conv2d(X, K):
    return torch._C._nn.thnn_conv2d(X[None, None], K[None, None], K.shape, None, 1, 0)[0, 0]


def corr2d_by_aten_convolution(X, K):
    return torch.ops.aten.convolution(
        X[None, None], K[None, None], None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1
    )[0, 0]


def corr2d_by_dilated_convolution(X, K):
    return torch._C._nn.slow_conv_dilated2d(X[None, None], K[None, None], K.shape, None, 1, 0, 1)[0, 0]


def corr2d_by_convolution_mode(X, K):
    return torch._convolution_mode(X[None, None], K[None, None], None, [1, 1], "valid", [1, 1], 1)[0, 0]


def corr2d_one_too_small(X, K):
    return corr2d_loop(X, K, shrink=1)


def corr2d_item(X, K):
    return corr2d_loop(X, K, detach=True)


def corr2d_kernel_transposed(X, K):
    return corr2d_loop(X, K.t()) if K.shape[0] == K.shape[1] else corr2d_loop(X, K)


def corr2d_on_cpu(X, K):
    return corr2d_loop(X, K, cpu=True)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (corr2d_true_convolution, "true convolution"),
        (corr2d_d2l, "without device="),
        (corr2d_default_dtype, "dtype"),
        (corr2d_default_device, "without device="),
        (corr2d_by_conv2d, "calls torch.nn.functional.conv2d.*write yourself"),
        (corr2d_by_torch_conv2d, "calls torch.nn.functional.conv2d.*write yourself"),
        (corr2d_by_layer, "calls torch.nn.functional.conv2d.*write yourself"),
        (corr2d_by_thnn_conv2d, r"calls aten\._slow_conv2d_forward.*write yourself"),
        (corr2d_by_aten_convolution, r"calls aten\.convolution.*write yourself"),
        (corr2d_by_dilated_convolution, r"calls aten\.slow_conv_dilated2d.*write yourself"),
        (corr2d_by_convolution_mode, r"calls aten\.convolution.*write yourself"),
        (corr2d_one_too_small, r"H - kh \+ 1"),
        (corr2d_item, "detached"),
        (corr2d_kernel_transposed, "wrong values"),
        (not_implemented, "not implemented"),
    ],
)
def test_corr2d_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_corr2d(wrong)


def test_corr2d_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_corr2d(corr2d_on_cpu)


# ----------------------------------------------------------------------------------------- conv2d


def conv2d_unfold(X, W, b=None, stride=1, padding=0, *, flip=False, use_stride=True, use_bias=True):
    """The unfold + matmul solution, with switches for typical mistakes."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    if not use_stride:
        sh, sw = 1, 1
    if flip:
        W = W.flip(-2, -1)
    n, _, height, width = X.shape
    o, _, kh, kw = W.shape
    h_out, w_out = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    cols = F.unfold(X, (kh, kw), padding=(ph, pw), stride=(sh, sw))
    Y = W.reshape(o, -1) @ cols
    if b is not None and use_bias:
        Y = Y + b.reshape(1, o, 1)
    return Y.reshape(n, o, h_out, w_out)


def conv2d_flipped(X, W, b=None, stride=1, padding=0):
    return conv2d_unfold(X, W, b, stride, padding, flip=True)


def conv2d_stride_ignored(X, W, b=None, stride=1, padding=0):
    return conv2d_unfold(X, W, b, stride, padding, use_stride=False)


def conv2d_bias_ignored(X, W, b=None, stride=1, padding=0):
    return conv2d_unfold(X, W, b, stride, padding, use_bias=False)


def conv2d_strided(X, W, b=None, stride=1, padding=0, *, plus_one=1, pad_sides=2):
    """An as_strided implementation; plus_one=0 forgets the + 1, pad_sides=1 pads one side only."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    Xp = F.pad(X, (pw, pw, ph, ph) if pad_sides == 2 else (pw, 0, ph, 0)).contiguous()
    n, c, height, width = Xp.shape
    _, _, kh, kw = W.shape
    h_out, w_out = (height - kh) // sh + plus_one, (width - kw) // sw + plus_one
    s_n, s_c, s_h, s_w = Xp.stride()
    windows = Xp.as_strided((n, c, h_out, w_out, kh, kw), (s_n, s_c, s_h * sh, s_w * sw, s_h, s_w))
    Y = torch.einsum("nchwij,ocij->nohw", windows, W)
    return Y if b is None else Y + b.reshape(1, -1, 1, 1)


def conv2d_one_too_small(X, W, b=None, stride=1, padding=0):
    return conv2d_strided(X, W, b, stride, padding, plus_one=0)


def conv2d_padding_one_side(X, W, b=None, stride=1, padding=0):
    return conv2d_strided(X, W, b, stride, padding, pad_sides=1)


def conv2d_int_only(X, W, b=None, stride=1, padding=0):
    n, _, height, width = X.shape
    o, _, kh, kw = W.shape
    h_out = (height + 2 * padding - kh) // stride + 1
    w_out = (width + 2 * padding - kw) // stride + 1
    Y = W.reshape(o, -1) @ F.unfold(X, (kh, kw), padding=padding, stride=stride)
    if b is not None:
        Y = Y + b.reshape(1, o, 1)
    return Y.reshape(n, o, h_out, w_out)


def conv2d_pixel_loop(X, W, b=None, stride=1, padding=0):
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    Xp = F.pad(X, (pw, pw, ph, ph))
    o, _, kh, kw = W.shape
    h_out, w_out = (Xp.shape[2] - kh) // sh + 1, (Xp.shape[3] - kw) // sw + 1
    Y = torch.zeros(X.shape[0], o, h_out, w_out, dtype=X.dtype, device=X.device)
    for i in range(h_out):
        for j in range(w_out):
            window = Xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            Y[:, :, i, j] = torch.einsum("ncij,ocij->no", window, W)
    return Y if b is None else Y + b.reshape(1, -1, 1, 1)


def conv2d_float32(X, W, b=None, stride=1, padding=0):
    return conv2d_unfold(X.float(), W.float(), None if b is None else b.float(), stride, padding)


def conv2d_torch(X, W, b=None, stride=1, padding=0):
    return F.conv2d(X, W, b, stride=stride, padding=padding)


def conv2d_by_thnn_conv2d(X, W, b=None, stride=1, padding=0):
    return torch._C._nn.thnn_conv2d(X, W, W.shape[2:], b, pair(stride), pair(padding))


def conv2d_by_aten_convolution(X, W, b=None, stride=1, padding=0):
    return torch.ops.aten.convolution(X, W, b, pair(stride), pair(padding), [1, 1], False, [0, 0], 1)


def conv2d_by_convolution_mode(X, W, b=None, stride=1, padding=0):
    (ph, pw) = pair(padding)
    return torch._convolution_mode(F.pad(X, (pw, pw, ph, ph)), W, b, pair(stride), "valid", [1, 1], 1)


def conv2d_by_dilated_convolution(X, W, b=None, stride=1, padding=0):
    return torch._C._nn.slow_conv_dilated2d(X, W, W.shape[2:], b, pair(stride), pair(padding), 1)


def conv2d_zero_bias_without_device(X, W, b=None, stride=1, padding=0):
    """b=None replaced by zeros made on the default device (the CPU next to a GPU input)."""
    return conv2d_unfold(X, W, torch.zeros(W.shape[0], dtype=X.dtype) if b is None else b, stride, padding)


def conv2d_on_cpu(X, W, b=None, stride=1, padding=0):
    return conv2d_unfold(X.cpu(), W.cpu(), None if b is None else b.cpu(), stride, padding)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (conv2d_flipped, "true convolution"),
        (conv2d_stride_ignored, "stride seems to be ignored"),
        (conv2d_bias_ignored, "bias was not added"),
        (conv2d_one_too_small, "one too small"),
        (conv2d_padding_one_side, "both sides"),
        (conv2d_int_only, r"stride=\(3, 2\).*raised TypeError"),
        (conv2d_pixel_loop, "loop over the output pixels"),
        (conv2d_float32, "dtype"),
        (conv2d_torch, "calls torch.nn.functional.conv2d.*write yourself"),
        (conv2d_by_thnn_conv2d, r"calls aten\._slow_conv2d_forward.*write yourself"),
        (conv2d_by_aten_convolution, r"calls aten\.convolution.*write yourself"),
        (conv2d_by_convolution_mode, r"calls aten\.convolution.*write yourself"),
        (conv2d_by_dilated_convolution, r"calls aten\.slow_conv_dilated2d.*write yourself"),
        (conv2d_zero_bias_without_device, "without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_conv2d_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_conv2d(wrong)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.script is deprecated
def test_conv2d_through_torchscript_fails():
    @torch.jit.script
    def scripted(X, W, b: torch.Tensor | None, stride: list[int], padding: list[int]):
        return F.conv2d(X, W, b, stride, padding)

    def conv2d(X, W, b=None, stride=1, padding=0):
        return scripted(X, W, b, list(pair(stride)), list(pair(padding)))

    with pytest.raises(AssertionError, match=r"calls aten\.convolution.*write yourself"):
        check_conv2d(conv2d)


def test_conv2d_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_conv2d(conv2d_on_cpu)


def conv2d_silent_round_trip(X, W, b=None, stride=1, padding=0):
    """Computes on the CPU and moves the result back: right device, hidden copies."""
    b = None if b is None else b.cpu()
    return conv2d_unfold(X.cpu(), W.cpu(), b, stride=stride, padding=padding).to(X.device)


def test_conv2d_silent_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_conv2d(conv2d_silent_round_trip)


# ---------------------------------------------------------------------------------------- pooling


def pool(
    X,
    kernel_size,
    stride=None,
    padding=0,
    *,
    mode="max",
    default_stride=None,
    pad_value=None,
    exclude_pad=False,
    swap_padding=False,
):
    """The unfold solution for both poolings, with switches for typical mistakes."""
    kh, kw = pair(kernel_size)
    if stride is None:
        stride = (kh, kw) if default_stride is None else default_stride
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    if swap_padding:
        ph, pw = pw, ph
    if pad_value is None:
        pad_value = -math.inf if mode == "max" else 0.0
    windows = F.pad(X, (pw, pw, ph, ph), value=pad_value).unfold(2, kh, sh).unfold(3, kw, sw)
    if mode == "max":
        return windows.amax(dim=(-2, -1))
    if exclude_pad:
        ones = F.pad(torch.ones_like(X), (pw, pw, ph, ph)).unfold(2, kh, sh).unfold(3, kw, sw)
        return windows.sum(dim=(-2, -1)) / ones.sum(dim=(-2, -1))
    return windows.mean(dim=(-2, -1))


def max_pool_stride_1(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, default_stride=1)


def max_pool_zero_padding(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, pad_value=0.0)


def max_pool_takes_mean(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, mode="avg", pad_value=-math.inf)


def max_pool_padding_ignored(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, 0)


def max_pool_padding_swapped(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, swap_padding=True)


def max_pool_pads_into_buffer(X, kernel_size, stride=None, padding=0):
    """Pads by copying into a -inf buffer made without device= (on the CPU next to a GPU input)."""
    kh, kw = pair(kernel_size)
    (sh, sw), (ph, pw) = pair((kh, kw) if stride is None else stride), pair(padding)
    n, c, h, w = X.shape
    padded = torch.full((n, c, h + 2 * ph, w + 2 * pw), -math.inf, dtype=X.dtype)
    padded[:, :, ph : ph + h, pw : pw + w] = X
    return padded.unfold(2, kh, sh).unfold(3, kw, sw).amax(dim=(-2, -1))


def window(kernel_size, stride, padding):
    """(kh, kw), (sh, sw), (ph, pw), with stride=None meaning kernel_size."""
    kernel = pair(kernel_size)
    return kernel, pair(kernel if stride is None else stride), pair(padding)


def max_pool_by_3d_pooling(X, kernel_size, stride=None, padding=0):
    """A 3-D max pooling with a window of depth 1 (F.max_pool3d shares F.max_pool2d's code)."""
    (kh, kw), (sh, sw), (ph, pw) = window(kernel_size, stride, padding)
    return torch.max_pool3d(X[:, :, None], (1, kh, kw), (1, sh, sw), (0, ph, pw))[:, :, 0]


def max_pool_by_aten(X, kernel_size, stride=None, padding=0):
    return torch.ops.aten.max_pool2d(X, *window(kernel_size, stride, padding))


def max_pool_on_cpu(X, kernel_size, stride=None, padding=0):
    return pool(X.cpu(), kernel_size, stride, padding)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (max_pool_stride_1, "defaults to kernel_size"),
        (max_pool_zero_padding, "-inf"),
        (max_pool_takes_mean, "takes the mean"),
        (max_pool_padding_ignored, "output size"),
        (max_pool_padding_swapped, "paddings are swapped"),
        (max_pool_pads_into_buffer, "without device="),
        (F.max_pool2d, "calls torch.nn.functional.max_pool2d.*write yourself"),
        (nn.functional.max_pool2d_with_indices, "calls torch.nn.functional.max_pool2d_with_indices"),
        (max_pool_by_3d_pooling, r"calls torch\.max_pool3d.*write yourself"),
        (max_pool_by_aten, r"calls aten\.max_pool2d_with_indices.*write yourself"),
        (
            lambda X, k, stride=None, padding=0: nn.MaxPool2d(k, stride, padding)(X),
            "calls torch.nn.functional.max_pool2d",
        ),
        (not_implemented, "not implemented"),
    ],
)
def test_max_pool2d_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_max_pool2d(wrong)


def test_max_pool2d_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_max_pool2d(max_pool_on_cpu)


def avg_pool_stride_1(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, mode="avg", default_stride=1)


def avg_pool_takes_max(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, mode="max")


def avg_pool_excludes_padding(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, mode="avg", exclude_pad=True)


def avg_pool_float32(X, kernel_size, stride=None, padding=0):
    return pool(X.float(), kernel_size, stride, padding, mode="avg")


def avg_pool_padding_swapped(X, kernel_size, stride=None, padding=0):
    return pool(X, kernel_size, stride, padding, mode="avg", swap_padding=True)


def avg_pool_by_3d_pooling(X, kernel_size, stride=None, padding=0):
    (kh, kw), (sh, sw), (ph, pw) = window(kernel_size, stride, padding)
    return F.avg_pool3d(X[:, :, None], (1, kh, kw), (1, sh, sw), (0, ph, pw))[:, :, 0]


def avg_pool_by_aten(X, kernel_size, stride=None, padding=0):
    return torch.ops.aten.avg_pool2d(X, *window(kernel_size, stride, padding))


def avg_pool_by_1d_poolings(X, kernel_size, stride=None, padding=0):
    """Two 1-D average poolings, along the width, then along the height."""
    (kh, kw), (sh, sw), (ph, pw) = window(kernel_size, stride, padding)
    n, c, h, _ = X.shape
    rows = F.avg_pool1d(X.reshape(n * c * h, 1, -1), kw, sw, pw).reshape(n, c, h, -1)
    w_out = rows.shape[-1]
    columns = rows.transpose(2, 3).reshape(n * c * w_out, 1, h)
    return F.avg_pool1d(columns, kh, sh, ph).reshape(n, c, w_out, -1).transpose(2, 3)


def avg_pool_by_box_filter(X, kernel_size, stride=None, padding=0):
    """A depthwise convolution with a kernel of 1 / (kh * kw) everywhere."""
    (kh, kw), (sh, sw), (ph, pw) = window(kernel_size, stride, padding)
    box = torch.full((X.shape[1], 1, kh, kw), 1 / (kh * kw), dtype=X.dtype, device=X.device)
    return F.conv2d(X, box, None, (sh, sw), (ph, pw), groups=X.shape[1])


def avg_pool_on_cpu(X, kernel_size, stride=None, padding=0):
    return pool(X.cpu(), kernel_size, stride, padding, mode="avg")


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (avg_pool_stride_1, "defaults to kernel_size"),
        (avg_pool_takes_max, "takes the maximum"),
        (avg_pool_excludes_padding, "count_include_pad"),
        (avg_pool_float32, "dtype"),
        (avg_pool_padding_swapped, "paddings are swapped"),
        (F.avg_pool2d, "calls torch.nn.functional.avg_pool2d.*write yourself"),
        (avg_pool_by_3d_pooling, r"calls torch\.nn\.functional\.avg_pool3d.*write yourself"),
        (avg_pool_by_aten, r"calls aten\.avg_pool2d.*write yourself"),
        (avg_pool_by_1d_poolings, r"calls torch\.nn\.functional\.avg_pool1d.*write yourself"),
        (avg_pool_by_box_filter, r"calls torch\.nn\.functional\.conv2d.*write yourself"),
        (
            lambda X, k, stride=None, padding=0: nn.AvgPool2d(k, stride, padding)(X),
            "calls torch.nn.functional.avg_pool2d",
        ),
        (not_implemented, "not implemented"),
    ],
)
def test_avg_pool2d_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_avg_pool2d(wrong)


def test_avg_pool2d_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_avg_pool2d(avg_pool_on_cpu)


# ----------------------------------------------------------------------------------------- Conv2d


class GoodConv2d(nn.Module):
    """The reference layer on conv2d_unfold (standing in for the student's conv2d); subclasses
    break it."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        kh, kw = pair(kernel_size)
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.bound = 1 / math.sqrt(in_channels * kh * kw)
        self.init()

    def init(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.uniform_(self.bias, -self.bound, self.bound)

    def forward(self, X):
        return conv2d_unfold(X, self.weight, self.bias, stride=self.stride, padding=self.padding)


def test_good_conv2d_passes():
    check_Conv2d(GoodConv2d)


class BiasPlainTensor(GoodConv2d):
    def __init__(self, in_channels, out_channels, *args, **kwargs):
        super().__init__(in_channels, out_channels, *args, **kwargs)
        del self.bias
        self.bias = torch.zeros(out_channels).uniform_(-self.bound, self.bound)

    def forward(self, X):
        return F.conv2d(X, self.weight, self.bias.to(X), stride=self.stride, padding=self.padding)


class BiasFrozen(GoodConv2d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bias.requires_grad_(False)


class D2LInit(GoodConv2d):
    def init(self):
        with torch.no_grad():
            self.weight.copy_(torch.rand(self.weight.shape))
            self.bias.zero_()


class XavierInit(GoodConv2d):
    def init(self):
        nn.init.xavier_uniform_(self.weight)
        nn.init.uniform_(self.bias, -self.bound, self.bound)


class ZeroBiasInit(GoodConv2d):
    def init(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.zeros_(self.bias)


class BiasDrawnFirst(GoodConv2d):
    def init(self):
        nn.init.uniform_(self.bias, -self.bound, self.bound)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))


class WeightDrawnByUniform(GoodConv2d):
    """Accepted: kaiming_uniform_(a=sqrt(5)) is uniform_(-bound, bound), the same draws."""

    def init(self):
        nn.init.uniform_(self.weight, -self.bound, self.bound)
        nn.init.uniform_(self.bias, -self.bound, self.bound)


class WeightDrawnByRand(GoodConv2d):
    """Accepted: uniform_(-bound, bound) is an affine map of torch.rand's draws."""

    def init(self):
        with torch.no_grad():
            self.weight.copy_((2 * torch.rand(self.weight.shape) - 1) * self.bound)
            self.bias.copy_((2 * torch.rand(self.bias.shape) - 1) * self.bound)


class WeightMadeByRandn(GoodConv2d):
    """torch.randn instead of torch.empty: the right distribution after the init, but the
    placeholder's draws come first, so under a seed the layer is not nn.Conv2d's."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        kh, kw = pair(kernel_size)
        torch.randn(out_channels, in_channels, kh, kw)  # the discarded placeholder's draws
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)


class StrideIgnored(GoodConv2d):
    def forward(self, X):
        return conv2d_unfold(X, self.weight, self.bias, padding=self.padding)


class BiasNotAdded(GoodConv2d):
    def forward(self, X):
        return conv2d_unfold(X, self.weight, stride=self.stride, padding=self.padding)


class WeightInOut(GoodConv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        self.weight = nn.Parameter(self.weight.detach().transpose(0, 1).contiguous())

    def forward(self, X):
        return F.conv2d(X, self.weight.transpose(0, 1), self.bias, stride=self.stride, padding=self.padding)


class OtherNames(GoodConv2d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.W = self.weight
        self.b = self.bias
        del self.weight, self.bias

    def forward(self, X):
        return F.conv2d(X, self.W, self.b, stride=self.stride, padding=self.padding)


class TorchConv2d(GoodConv2d):
    def forward(self, X):
        return F.conv2d(X, self.weight, self.bias, stride=self.stride, padding=self.padding)


class AtenConv2d(GoodConv2d):
    def forward(self, X):
        stride, padding = pair(self.stride), pair(self.padding)
        return torch.ops.aten.convolution(
            X, self.weight, self.bias, stride, padding, [1, 1], False, [0, 0], 1
        )


class SubclassOfTorch(nn.Conv2d):
    pass


class SilentRoundTripConv2d(GoodConv2d):
    def forward(self, X):
        return conv2d_silent_round_trip(X, self.weight, self.bias, self.stride, self.padding)


class NotImplementedConv2d(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        raise NotImplementedError()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (BiasPlainTensor, "plain tensor, not an nn.Parameter"),
        (BiasFrozen, "requires_grad=True"),
        (D2LInit, "initialise like nn.Conv2d"),
        (XavierInit, "initialise like nn.Conv2d"),
        (ZeroBiasInit, "bias is not initialised"),
        (StrideIgnored, "pass the layer's stride"),
        (BiasNotAdded, "bias is not added"),
        (WeightInOut, r"expected \(32, 16, 3, 3\)"),
        (OtherNames, "no parameter named 'weight'"),
        (BiasDrawnFirst, "bias is drawn before the weight"),
        (WeightMadeByRandn, "differ from nn.Conv2d's"),
        (TorchConv2d, "calls torch.nn.functional.conv2d.*write yourself"),
        (SubclassOfTorch, "calls torch.nn.functional.conv2d.*write yourself"),
        (AtenConv2d, r"calls aten\.convolution.*write yourself"),
        (NotImplementedConv2d, "not implemented"),
    ],
)
def test_Conv2d_mistakes_fail(wrong, message):  # noqa: N802
    with pytest.raises(AssertionError, match=message):
        check_Conv2d(wrong)


@pytest.mark.parametrize("layer", [WeightDrawnByUniform, WeightDrawnByRand])
def test_Conv2d_with_the_same_draws_written_otherwise_passes(layer):  # noqa: N802
    check_Conv2d(layer)


def test_Conv2d_silent_cpu_round_trip_fails_on_gpu(cuda_device):  # noqa: N802
    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_Conv2d(SilentRoundTripConv2d)


def test_checks_leave_the_global_random_state_alone(reference):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_Conv2d(reference["Conv2d"])
    check_conv2d(reference["conv2d"])
    assert torch.equal(torch.rand(3), expected)
