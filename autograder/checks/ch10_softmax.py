"""Hidden checks for ch10_softmax: softmax, cross_entropy, accuracy."""

import torch
import torch.nn.functional as F

from autograder.checks._common import call, devices, expect_close, expect_tensor, generator

STABILITY_HINT = "Subtract each row's own maximum before exp (it does not change the result)."
# Near +-1000 one float32 ulp is 6e-5: exp(X - logsumexp(X)), a correct stable form, is off by
# that much relative, while the unstable forms give inf or nan.
EXTREME_TOL = {"rtol": 1e-4, "atol": 1e-6}

# What the exercises re-implement, in every spelling (nn.Softmax, nn.LogSoftmax and
# torch.distributions call these too): softmax, log-softmax and log-sum-exp, the torch functions
# (the clearest message), their Python references in torch._refs/_decomp, and the aten operators
# they end in (torch.ops.aten, torch._C, TorchScript, sparse and attention kernels) ...
SOFTMAX_BUILTINS = (
    "torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax",
    "torch.special.softmax", "torch.nn.functional.softmin", "torch._softmax",
    "torch.log_softmax", "torch.Tensor.log_softmax", "torch.nn.functional.log_softmax",
    "torch.special.log_softmax", "torch._log_softmax",
    "torch.logsumexp", "torch.Tensor.logsumexp", "torch.special.logsumexp",
    "torch.logcumsumexp", "torch.Tensor.logcumsumexp",
    "torch.nn.functional.scaled_dot_product_attention",
    "torch._refs.softmax", "torch._refs.log_softmax", "torch._refs.logsumexp",
    "torch._refs.special.softmax", "torch._refs.special.log_softmax",
    "torch._refs.nn.functional.softmax", "torch._refs.nn.functional.log_softmax",
    "torch._decomp.decompositions._softmax", "torch._decomp.decompositions._log_softmax",
    "torch._decomp.decompositions.safe_softmax",
    "aten._softmax", "aten._log_softmax", "aten._safe_softmax", "aten._masked_softmax",
    "aten._sparse_softmax", "aten._sparse_log_softmax", "aten.logsumexp", "aten.logcumsumexp",
    "aten._scaled_dot_product_flash_attention", "aten._scaled_dot_product_flash_attention_for_cpu",
    "aten._scaled_dot_product_efficient_attention", "aten._scaled_dot_product_cudnn_attention",
    "aten._scaled_dot_product_fused_attention_overrideable",
)  # fmt: skip
# ... and the losses built on them (nn.CrossEntropyLoss and nn.NLLLoss call these).
CROSS_ENTROPY_BUILTINS = SOFTMAX_BUILTINS + (
    "torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
    "torch._refs.nn.functional.nll_loss", "torch._decomp.decompositions.nll_loss_forward",
    "aten.nll_loss_forward", "aten.nll_loss2d_forward",
)  # fmt: skip
# "Compute on X's device, no NumPy": a round trip through NumPy (or SciPy's softmax) would pass
# a CPU-only grader, as the device probe does not see torch.from_numpy.
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")
try:
    import scipy.special  # noqa: F401

    NUMPY += ("scipy.special.softmax", "scipy.special.log_softmax", "scipy.special.logsumexp")
except ImportError:  # pragma: no cover
    pass


def _call_softmax(softmax, X, what):
    return call(softmax, X, what=what, forbid=SOFTMAX_BUILTINS + NUMPY, probe_device=True,
                stay_on_device=True)


def _call_cross_entropy(cross_entropy, logits, y, what):
    return call(cross_entropy, logits, y, what=what, forbid=CROSS_ENTROPY_BUILTINS + NUMPY,
                probe_device=True, stay_on_device=True)


def check_softmax(softmax):
    for device in devices():
        g = generator(10)
        X = torch.randn(4, 10, generator=g).to(device)
        X_before = X.clone()
        P = _call_softmax(softmax, X, "softmax of a (4, 10) batch")
        expect_tensor(P, X, "softmax of a (4, 10) batch")
        assert torch.equal(X, X_before), "softmax changed its input in place; compute on a copy"
        sums = P.sum(dim=-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5), (
            "the probabilities in each row must sum to 1: normalise over the last dimension"
        )
        expect_close(P, torch.softmax(X, dim=-1), "softmax of a (4, 10) batch")

        X3 = torch.randn(2, 3, 5, generator=g, dtype=torch.float64).to(device)
        P3 = _call_softmax(softmax, X3, "softmax of a (2, 3, 5) float64 batch")
        expect_tensor(P3, X3, "softmax of a (2, 3, 5) float64 batch")
        expect_close(
            P3, torch.softmax(X3, dim=-1), "softmax of a (2, 3, 5) batch",
            hint="Normalise over the last dimension (dim=-1), whatever the number of dimensions.",
            rtol=1e-10, atol=1e-12,
        )

        huge = torch.tensor([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 1000.0]], device=device)
        expect_close(
            _call_softmax(softmax, huge, "softmax of logits near 1000"), torch.softmax(huge, dim=-1),
            "softmax overflows for logits around 1000", hint=STABILITY_HINT, **EXTREME_TOL,
        )
        tiny = torch.tensor([[-1000.0, -1001.0, -1002.0], [1000.0, 1001.0, 1002.0]], device=device)
        expect_close(
            _call_softmax(softmax, tiny, "softmax of logits near -1000"), torch.softmax(tiny, dim=-1),
            "softmax underflows to 0/0 for logits around -1000 (next to a row near +1000)",
            hint=STABILITY_HINT, **EXTREME_TOL,
        )

        Xt = torch.randn(10, 4, generator=g).to(device).T  # non-contiguous view
        expect_close(
            _call_softmax(softmax, Xt, "softmax of a transposed (non-contiguous) batch"),
            torch.softmax(Xt, dim=-1), "softmax of a transposed (non-contiguous) batch",
        )


def _reference_ce(logits, y):
    return F.cross_entropy(logits, y)


def check_cross_entropy(cross_entropy):
    for device in devices():
        g = generator(11)
        logits = torch.randn(8, 5, generator=g).to(device)
        y = torch.randint(0, 5, (8,), generator=g).to(device)
        what = "cross_entropy of a batch of 8 examples and 5 classes"
        loss = _call_cross_entropy(cross_entropy, logits, y, what)
        expect_tensor(loss, logits, what, shape=())
        expected = _reference_ce(logits, y)
        if torch.allclose(loss, expected * len(y), rtol=1e-4):
            raise AssertionError(f"{what}: returned the sum over the batch; return the mean")
        if torch.allclose(loss, -expected, rtol=1e-4):
            raise AssertionError(f"{what}: the sign is flipped; cross-entropy is -log p(correct)")
        expect_close(loss, expected, what)

        extreme = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, -1000.0, 0.0]], device=device)
        y_extreme = torch.tensor([2, 1], device=device)
        expect_close(
            _call_cross_entropy(cross_entropy, extreme, y_extreme, "cross_entropy of logits of +-1000"),
            _reference_ce(extreme, y_extreme), "cross_entropy of logits of +-1000",
            hint="log(softmax(x)) overflows or gives log(0) = -inf; "
            "compute log-softmax as x - logsumexp(x) with the row maximum subtracted.",
        )

        X64 = torch.randn(6, 4, generator=g, dtype=torch.float64).to(device).requires_grad_()
        y64 = torch.randint(0, 4, (6,), generator=g).to(device)
        what = "cross_entropy in float64"
        loss64 = _call_cross_entropy(cross_entropy, X64, y64, what)
        expect_tensor(loss64, X64, what, shape=())
        assert loss64.requires_grad, (
            f"{what}: the result is detached from the graph; keep it differentiable "
            "(no .item(), .detach() or torch.tensor(...) on the way)"
        )
        (grad,) = torch.autograd.grad(loss64, X64)
        (expected_grad,) = torch.autograd.grad(_reference_ce(X64, y64), X64)
        expect_close(grad, expected_grad, f"gradient of {what}", rtol=1e-8, atol=1e-10)


def check_accuracy(accuracy):
    for device in devices():
        logits = torch.tensor(
            [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5],
             [0.6, 0.3, 0.1], [0.0, 0.1, 0.9], [0.3, 0.4, 0.3]], device=device,
        )  # fmt: skip
        y = torch.tensor([1, 0, 2, 2, 1, 1], device=device)  # predictions 1,0,2,0,2,1: 4 right
        what = "accuracy of 6 predictions with 4 right"
        result = call(accuracy, logits, y, what=what)
        if isinstance(result, torch.Tensor):
            raise AssertionError(f"{what}: returned a tensor; return a Python float (.item())")
        assert isinstance(result, float), (
            f"{what}: expected a Python float, got {type(result).__name__}"
        )
        assert result != 4, f"{what}: returned the count 4; divide by the number of examples"
        assert abs(result - 4 / 6) < 1e-6, f"{what}: expected {4 / 6:.4f}, got {result:.4f}"

        g = generator(12)
        big = torch.randn(1000, 10, generator=g).to(device)
        labels = torch.randint(0, 10, (1000,), generator=g).to(device)
        expected = (big.argmax(dim=1) == labels).double().mean().item()
        what = "accuracy of 1000 random predictions"
        result = call(accuracy, big, labels, what=what)
        assert isinstance(result, float), f"{what}: expected a Python float"
        assert abs(result - expected) < 1e-6, f"{what}: expected {expected:.4f}, got {result:.4f}"
