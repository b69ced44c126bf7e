"""The ch09 hidden checks pass the reference solutions and fail realistic mistakes."""

import math

import pytest
import torch
import torch.nn.functional as F

from autograder.checks.ch09_probability import (
    check_conditional_entropy,
    check_entropy,
    check_kl_divergence,
    operation_count,
)
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# correct values, and it passes the visible test, but it loops over the rows.
WRONG_SUBMISSION = {
    "entropy": '''def entropy(p):
    rows = p.reshape(-1, p.shape[-1])
    values = [-torch.special.xlogy(row, row).sum() for row in rows]
    return torch.stack(values).reshape(p.shape[:-1])
'''
}

xlogy = torch.special.xlogy


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch09_probability")


def test_reference_passes(reference):
    check_entropy(reference["entropy"])
    check_conditional_entropy(reference["conditional_entropy"])
    check_kl_divergence(reference["kl_divergence"])


def not_implemented(*args):
    raise NotImplementedError()


# -- entropy -----------------------------------------------------------------------------------


def h_naive(p):
    return -(p * torch.log(p)).sum(dim=-1)


def h_bits(p):
    return -xlogy(p, p).sum(dim=-1) / math.log(2)


def h_log2(p):
    return -(p * torch.log2(p)).nan_to_num().sum(dim=-1)


def h_no_minus(p):
    return xlogy(p, p).sum(dim=-1)


def h_whole_batch(p):
    return -xlogy(p, p).sum()


def h_dim0(p):
    return -xlogy(p, p).sum(dim=0)


def h_dim1(p):
    return -xlogy(p, p).sum(dim=1)


def h_keepdim(p):
    return -xlogy(p, p).sum(dim=-1, keepdim=True)


def h_mean(p):
    return -xlogy(p, p).mean(dim=-1)


def h_float64(p):
    p = p.double()
    return -xlogy(p, p).sum(dim=-1)


def h_in_place(p):
    p[p == 0] = 1.0  # log 1 = 0: the zeros vanish, and so does the caller's p
    return -(p * torch.log(p)).sum(dim=-1)


def h_loop_over_rows(p):
    rows = p.reshape(-1, p.shape[-1])
    values = [-xlogy(row, row).sum() for row in rows]
    if not values:
        return p.sum(dim=-1)
    return torch.stack(values).reshape(p.shape[:-1])


def h_loop_over_entries(p):
    total = torch.zeros(p.shape[:-1], dtype=p.dtype, device=p.device)
    for j in range(p.shape[-1]):
        pj = p[..., j]
        total = total - xlogy(pj, pj)
    return total


def h_loop_without_device(p):
    total = torch.zeros(p.shape[:-1], dtype=p.dtype)  # made without device=
    for j in range(p.shape[-1]):
        total = total - xlogy(p[..., j], p[..., j])
    return total


def h_python_floats(p):
    rows = p.reshape(-1, p.shape[-1]).tolist()
    values = [-sum(v * math.log(v) for v in row if v > 0) for row in rows]
    return torch.tensor(values, dtype=p.dtype, device=p.device).reshape(p.shape[:-1])


def h_item_per_entry(p):
    flat = p.reshape(-1, p.shape[-1])
    values = [[-(v.item() * math.log(v.item())) if v > 0 else 0.0 for v in row] for row in flat]
    terms = torch.tensor(values, dtype=p.dtype, device=p.device).reshape(flat.shape)
    return terms.sum(dim=-1).reshape(p.shape[:-1])


def h_numpy(p):
    a = p.cpu().numpy()
    import numpy as np

    return torch.from_numpy(-(a * np.log(np.where(a > 0, a, 1))).sum(-1)).to(p.device)


def h_apply(p):
    logs = p.detach().cpu().clone().apply_(lambda v: math.log(v) if v > 0 else 0.0)
    return -(p * logs.to(p.device)).sum(dim=-1)


def _log_or_min(p):
    return torch.where(p > 0, p, 1.0).log().masked_fill(p == 0, torch.finfo(p.dtype).min)


def h_cross_entropy_nn(p):
    """F.cross_entropy's binding, which F.cross_entropy's name does not cover: H(P) = H(P, P)."""
    flat = p.reshape(-1, p.shape[-1])
    return torch._C._nn.cross_entropy_loss(_log_or_min(flat), flat, None, 0, -100, 0.0).reshape(p.shape[:-1])


def h_cross_entropy_ops(p):
    """The same through torch.ops: a composite operator, invisible to the aten watch."""
    flat = p.reshape(-1, p.shape[-1])
    h = torch.ops.aten.cross_entropy_loss(_log_or_min(flat), flat, None, 0, -100, 0.0)
    return h.reshape(p.shape[:-1])


def np_of(t):
    import numpy as np

    return np.from_dlpack(t.detach().contiguous())


def _np_entropy(a):
    import numpy as np

    return -(a * np.log(np.where(a > 0, a, 1))).sum(-1)


def h_dlpack(p):
    import numpy as np

    a = np.from_dlpack(p.detach().contiguous())
    return torch.as_tensor(_np_entropy(a), dtype=p.dtype, device=p.device)


def h_to_dlpack(p):
    import numpy as np

    capsule = torch.utils.dlpack.to_dlpack(p.detach().contiguous())

    class Wrapped:
        def __dlpack__(self, **kwargs):
            return capsule

        def __dlpack_device__(self):
            return (1, 0)

    return torch.as_tensor(_np_entropy(np.from_dlpack(Wrapped())), dtype=p.dtype, device=p.device)


def h_data_ptr(p):
    import ctypes

    import numpy as np

    c = p.detach().contiguous()
    kind = ctypes.c_double if c.dtype == torch.float64 else ctypes.c_float
    a = np.ctypeslib.as_array((kind * c.numel()).from_address(c.data_ptr())).reshape(c.shape)
    return torch.as_tensor(_np_entropy(a), dtype=p.dtype, device=p.device)


def h_storage_pointer(p):
    """The storage's data_ptr, which Tensor.data_ptr's name does not cover."""
    import ctypes

    import numpy as np

    c = p.detach().contiguous()
    kind = ctypes.c_double if c.dtype == torch.float64 else ctypes.c_float
    address = c.untyped_storage().data_ptr() + c.storage_offset() * c.element_size()
    a = np.ctypeslib.as_array((kind * max(c.numel(), 1)).from_address(address))[: c.numel()].reshape(c.shape)
    return torch.as_tensor(_np_entropy(a), dtype=p.dtype, device=p.device)


def h_saved_bytes(p):
    """The raw values from torch.save's legacy format, which ends with the storage's bytes."""
    import io

    import numpy as np

    c = p.detach().contiguous()
    buffer = io.BytesIO()
    torch.save(c, buffer, _use_new_zipfile_serialization=False)
    raw = buffer.getvalue()[len(buffer.getvalue()) - c.numel() * c.element_size():]
    a = np.frombuffer(raw, dtype=np.float64 if c.dtype == torch.float64 else np.float32).reshape(c.shape)
    return torch.as_tensor(_np_entropy(a), dtype=p.dtype, device=p.device)


def h_infinite(p):
    return -(p * torch.log(p)).nan_to_num(nan=float("inf")).sum(dim=-1)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (h_naive, "nan where some probabilities are 0.*xlogy"),
        (h_bits, "log base 2"),
        (h_log2, "log base 2"),
        (h_no_minus, "sign is flipped"),
        (h_whole_batch, "summed over the whole batch"),
        (h_dim0, "sum over the last dimension"),
        (h_dim1, r"expected shape \(2, 3\).*last dimension"),
        (h_keepdim, "without keepdim"),
        (h_mean, "mean over the last dimension"),
        (h_float64, "dtype torch.float64"),
        (h_in_place, "changed its input p in place"),
        (h_loop_over_rows, "a Python loop over the entries or rows"),
        (h_loop_over_entries, "a Python loop over the entries or rows"),
        (h_loop_without_device, "without device="),
        (h_item_per_entry, "a Python loop over the entries or rows"),
        (h_infinite, "inf where some probabilities are 0"),
        (not_implemented, "not implemented"),
    ],
)
def test_entropy_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_entropy(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda p: torch.special.entr(p).sum(dim=-1), "torch.special.entr"),
        (lambda p: torch.distributions.Categorical(probs=p).entropy(),
         "torch.distributions.Categorical.entropy"),
        (lambda p: torch.distributions.OneHotCategorical(probs=p).entropy(),
         "torch.distributions.Categorical.entropy"),
        (lambda p: F.kl_div(torch.zeros_like(p), p, reduction="none").sum(dim=-1), "kl_div"),
        (lambda p: torch.ops.aten.special_entr(p).sum(dim=-1), "aten.special_entr"),
        (h_python_floats, "torch.Tensor.tolist"),
        (h_numpy, "torch.Tensor.numpy"),
        (h_apply, "torch.Tensor.apply_"),
        (h_cross_entropy_nn, "torch._C._nn.cross_entropy_loss"),
        (h_cross_entropy_ops, "aten.cross_entropy_loss"),
        (h_dlpack, "torch.Tensor.__dlpack__"),
        (h_to_dlpack, "torch.utils.dlpack.to_dlpack"),
        (h_data_ptr, "torch.Tensor.data_ptr"),
        (h_saved_bytes, "torch.save"),
        (h_storage_pointer, "torch.Tensor.untyped_storage"),
    ],
    ids=["entr", "Categorical", "OneHotCategorical", "F.kl_div", "aten.special_entr", "tolist",
         "numpy", "apply_", "_C._nn.cross_entropy_loss", "ops.aten.cross_entropy_loss", "dlpack",
         "to_dlpack", "data_ptr", "torch.save", "storage_pointer"],
)  # fmt: skip
def test_entropy_forbidden_calls_fail(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}"):
        check_entropy(cheat)


def test_entropy_scipy_fails():
    scipy_stats = pytest.importorskip("scipy.stats")

    def h_scipy(p):
        return torch.as_tensor(scipy_stats.entropy(p, axis=-1), dtype=p.dtype, device=p.device)

    with pytest.raises(AssertionError, match="calls .*scipy.stats.entropy"):
        check_entropy(h_scipy)


def h_where(p):
    return -torch.where(p > 0, p * torch.log(p), 0.0).sum(dim=-1)


def h_nansum(p):
    return -(p * torch.log(p)).nansum(dim=-1)


def h_masked_log(p):
    safe = torch.where(p > 0, p, torch.ones_like(p))
    return -(p * safe.log()).sum(dim=-1)


def h_eps(p):
    return -(p * torch.log(p + 1e-30)).sum(dim=-1)


def h_loop_over_dims(p):
    """A Python loop whose length does not depend on the size: fine."""
    terms = -xlogy(p, p)
    for _ in range(3):
        terms = terms + 0
    return terms.sum(dim=-1)


@pytest.mark.parametrize("correct", [h_where, h_nansum, h_masked_log, h_eps, h_loop_over_dims])
def test_entropy_correct_variants_pass(correct):
    check_entropy(correct)


def test_operation_count_is_constant_for_the_reference_and_grows_for_a_loop(reference):
    small, large = torch.full((2, 3), 1 / 3), torch.full((40, 30), 1 / 30)
    count = operation_count(reference["entropy"], small, what="small")
    assert count == operation_count(reference["entropy"], large, what="large")
    assert operation_count(h_loop_over_rows, large, what="large") > count + 40


def test_entropy_cpu_round_trip_fails_on_gpu(cuda_device):
    def round_trip(p):
        return -xlogy(p.cpu(), p.cpu()).sum(dim=-1).to(p.device)

    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_entropy(round_trip)


# -- conditional entropy -----------------------------------------------------------------------


def h_sum(t):
    return -xlogy(t, t).sum()


def ce_naive(joint):
    p_y_given_x = joint / joint.sum(dim=1, keepdim=True)
    return -(joint * torch.log(p_y_given_x)).sum()


def ce_xlogy_of_ratio(joint):
    """0 log 0 handled, but a zero row divides 0 by 0 and xlogy(0, nan) is nan."""
    return -xlogy(joint, joint / joint.sum(dim=1, keepdim=True)).sum()


def ce_swapped(joint):
    return h_sum(joint) - h_sum(joint.sum(dim=0))


def ce_joint_entropy(joint):
    return h_sum(joint)


def ce_h_y(joint):
    return h_sum(joint.sum(dim=0))


def ce_h_x(joint):
    return h_sum(joint.sum(dim=1))


def ce_reversed_difference(joint):
    return h_sum(joint.sum(dim=1)) - h_sum(joint)


def ce_seed_formula_dx_only(joint):
    """-sum over x only of P(x, y) log P(y | x): a vector over y."""
    p_x = joint.sum(dim=1, keepdim=True)
    return -xlogy(joint, joint / p_x.clamp(min=1e-30)).sum(dim=0)


def ce_rows_unweighted(joint):
    rows = joint / joint.sum(dim=1, keepdim=True).clamp(min=1e-30)
    return -xlogy(rows, rows).sum()


def ce_rows_averaged(joint):
    rows = joint / joint.sum(dim=1, keepdim=True).clamp(min=1e-30)
    return -xlogy(rows, rows).sum(dim=1).mean()


def ce_bits(joint):
    return (h_sum(joint) - h_sum(joint.sum(dim=1))) / math.log(2)


def ce_float64(joint):
    j = joint.double()
    return h_sum(j) - h_sum(j.sum(dim=1))


def ce_in_place(joint):
    joint[joint == 0] = 1e-30
    return h_sum(joint) - h_sum(joint.sum(dim=1))


def ce_loop_over_rows(joint):
    p_x = joint.sum(dim=1)
    total = torch.zeros((), dtype=joint.dtype, device=joint.device)
    for i in range(joint.shape[0]):
        if p_x[i] > 0:
            row = joint[i] / p_x[i]
            total = total - p_x[i] * xlogy(row, row).sum()
    return total


def ce_zeros_without_device(joint):
    p_x = joint.sum(dim=1)
    h_x = -torch.where(p_x > 0, p_x * torch.log(p_x), torch.zeros(p_x.shape, dtype=joint.dtype)).sum()
    return h_sum(joint) - h_x


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (ce_naive, "nan for a table with zero cells"),
        (ce_xlogy_of_ratio, "0/0 in a zero row"),
        (ce_swapped, r"H\(X \| Y\), with rows and columns swapped"),
        (ce_joint_entropy, r"joint entropy H\(X, Y\)"),
        (ce_h_y, r"that is H\(Y\)"),
        (ce_h_x, r"that is H\(X\)"),
        (ce_reversed_difference, "sign is flipped"),
        (ce_seed_formula_dx_only, "dX alone"),
        (ce_rows_unweighted, r"weight each by P\(x\)"),
        (ce_rows_averaged, r"weight each by P\(x\)"),
        (ce_bits, "log base 2"),
        (ce_float64, "dtype torch.float64"),
        (ce_in_place, "changed its input joint in place"),
        (ce_loop_over_rows, "a Python loop over the entries or rows"),
        (ce_zeros_without_device, "without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_conditional_entropy_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_conditional_entropy(wrong)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda j: torch.distributions.Categorical(probs=j.reshape(-1)).entropy()
         - torch.distributions.Categorical(probs=j.sum(dim=1)).entropy(), "Categorical.entropy"),
        (lambda j: torch.special.entr(j).sum() - torch.special.entr(j.sum(dim=1)).sum(),
         "torch.special.entr"),
        (lambda j: torch.tensor(sum(-v * math.log(v) for v in j.reshape(-1).tolist() if v > 0),
                                dtype=j.dtype, device=j.device) - h_sum(j.sum(dim=1)), "torch.Tensor.tolist"),
        (lambda j: torch.as_tensor(_np_entropy(np_of(j).reshape(-1)) - _np_entropy(np_of(j.sum(dim=1))),
                                   dtype=j.dtype, device=j.device), "torch.Tensor.__dlpack__"),
    ],
    ids=["Categorical", "entr", "tolist", "dlpack"],
)  # fmt: skip
def test_conditional_entropy_forbidden_calls_fail(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}"):
        check_conditional_entropy(cheat)


def ce_weighted_rows(joint):
    p_x = joint.sum(dim=1, keepdim=True)
    rows = torch.where(p_x > 0, joint / p_x, 0.0)
    return (p_x.squeeze(1) * -xlogy(rows, rows).sum(dim=1)).sum()


def ce_masked(joint):
    p_x = joint.sum(dim=1, keepdim=True).expand_as(joint)
    ratio = torch.where(joint > 0, joint / p_x, torch.ones_like(joint))
    return -(joint * torch.log(ratio)).sum()


@pytest.mark.parametrize("correct", [ce_weighted_rows, ce_masked])
def test_conditional_entropy_correct_variants_pass(correct):
    check_conditional_entropy(correct)


# -- KL divergence -----------------------------------------------------------------------------


def kl_naive(p, q):
    return (p * torch.log(p / q)).sum(dim=-1)


def kl_xlogy_of_ratio(p, q):
    return xlogy(p, p / q).sum(dim=-1)


def kl_swapped(p, q):
    return (xlogy(q, q) - xlogy(q, p)).sum(dim=-1)


def kl_eps(p, q):
    eps = 1e-10
    return (p * (torch.log(p + eps) - torch.log(q + eps))).sum(dim=-1)


def kl_clamp(p, q):
    return (xlogy(p, p) - p * torch.log(q.clamp(min=1e-12))).sum(dim=-1)


def kl_nan_to_zero(p, q):
    """0 log 0 handled, but the inf of p > 0, q = 0 turned into 0 as well."""
    terms = p * torch.log(p / q)
    return torch.where(torch.isfinite(terms), terms, 0.0).sum(dim=-1)


def kl_nan_for_inf(p, q):
    """Right where the divergence is finite, nan where it is infinite."""
    kl = (xlogy(p, p) - xlogy(p, q)).sum(dim=-1)
    return torch.where(torch.isinf(kl), math.nan, kl)


def kl_bits(p, q):
    return (xlogy(p, p) - xlogy(p, q)).sum(dim=-1) / math.log(2)


def kl_wrong_sign(p, q):
    return (xlogy(p, q) - xlogy(p, p)).sum(dim=-1)


def kl_whole_batch(p, q):
    return (xlogy(p, p) - xlogy(p, q)).sum()


def kl_dim1(p, q):
    return (xlogy(p, p) - xlogy(p, q)).sum(dim=1)


def kl_float64(p, q):
    p, q = p.double(), q.double()
    return (xlogy(p, p) - xlogy(p, q)).sum(dim=-1)


def kl_in_place(p, q):
    q[q == 0] = 1e-30
    return (xlogy(p, p) - xlogy(p, q)).sum(dim=-1)


def kl_cross_entropy_only(p, q):
    """H(P, Q) instead of KL(P || Q): forgot to subtract H(P)."""
    return -xlogy(p, q).sum(dim=-1)


def kl_loop(p, q):
    terms = [(xlogy(p[..., j], p[..., j]) - xlogy(p[..., j], q[..., j])) for j in range(p.shape[-1])]
    return torch.stack(terms, dim=-1).sum(dim=-1)


def kl_inf_without_device(p, q):
    terms = xlogy(p, p) - xlogy(p, q)
    inf = torch.full(terms.shape, math.inf, dtype=p.dtype)  # made without device=
    return torch.where((p > 0) & (q == 0), inf, terms).sum(dim=-1)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (kl_naive, "nan where p = 0"),
        (kl_xlogy_of_ratio, "xlogy.*gives nan for 0/0"),
        (kl_swapped, r"KL\(Q \|\| P\): the arguments are swapped"),
        (kl_eps, "a finite value where p > 0 and q = 0"),
        (kl_clamp, "no eps added to q, no clamp"),
        (kl_nan_to_zero, "a finite value where p > 0 and q = 0"),
        (kl_nan_for_inf, "nan where p > 0 and q = 0"),
        (kl_bits, "log base 2"),
        (kl_wrong_sign, "sign is flipped"),
        (kl_whole_batch, "summed over the whole batch"),
        (kl_dim1, "sum over the last dimension"),
        (kl_float64, "dtype torch.float64"),
        (kl_in_place, "changed its input q in place"),
        (kl_cross_entropy_only, r"that is the cross-entropy H\(P, Q\)"),
        (kl_loop, "a Python loop over the entries or rows"),
        (kl_inf_without_device, "without device="),
        (not_implemented, "not implemented"),
    ],
)
def test_kl_divergence_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_kl_divergence(wrong)


def _categorical(p):
    return torch.distributions.Categorical(probs=p)


@pytest.mark.parametrize(
    ("cheat", "name"),
    [
        (lambda p, q: F.kl_div(q.log(), p, reduction="none").sum(dim=-1), "kl_div"),
        (lambda p, q: torch.nn.KLDivLoss(reduction="none")(q.log(), p).sum(dim=-1), "kl_div"),
        (lambda p, q: torch.kl_div(q.log(), p, reduction=0).sum(dim=-1), "kl_div"),
        (lambda p, q: torch.distributions.kl_divergence(_categorical(p), _categorical(q)),
         "kl_divergence"),
        (lambda p, q: F.cross_entropy(q.log().clamp(min=-1e30), p, reduction="none")
         + xlogy(p, p).sum(dim=-1), "torch.nn.functional.cross_entropy"),
        (lambda p, q: torch.special.entr(p).neg().sum(dim=-1) - xlogy(p, q).sum(dim=-1),
         "torch.special.entr"),
        (lambda p, q: torch.ops.aten.kl_div(torch.where(p > 0, q.log(), 0.0), p, 0).sum(dim=-1),
         "aten.kl_div"),
        (lambda p, q: torch._C._nn.cross_entropy_loss(
            torch.where(p > 0, q.log(), 0.0).reshape(-1, p.shape[-1]), p.reshape(-1, p.shape[-1]),
            None, 0, -100, 0.0).reshape(p.shape[:-1]) + xlogy(p, p).sum(dim=-1),
         "torch._C._nn.cross_entropy_loss"),
    ],
    ids=["F.kl_div", "nn.KLDivLoss", "torch.kl_div", "distributions", "cross_entropy", "entr",
         "ops.aten.kl_div", "_C._nn.cross_entropy_loss"],
)  # fmt: skip
def test_kl_divergence_forbidden_calls_fail(cheat, name):
    with pytest.raises(AssertionError, match=rf"calls .*{name}"):
        check_kl_divergence(cheat)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # NumPy 2 on torch's __array_wrap__
def test_kl_divergence_scipy_fails():
    scipy_special = pytest.importorskip("scipy.special")

    def kl_scipy(p, q):
        return torch.as_tensor(scipy_special.rel_entr(p, q).sum(-1), dtype=p.dtype, device=p.device)

    with pytest.raises(AssertionError, match="calls .*(scipy.special.rel_entr|__array__|numpy)"):
        check_kl_divergence(kl_scipy)


def kl_where(p, q):
    return torch.where(p > 0, p * torch.log(p / q), 0.0).sum(dim=-1)


def kl_masked_logs(p, q):
    log_p = torch.where(p > 0, p, 1.0).log()
    log_q = torch.where(p > 0, q, 1.0).log()
    return (p * (log_p - log_q)).sum(dim=-1)


def kl_via_cross_entropy_minus_entropy(p, q):
    return -xlogy(p, q).sum(dim=-1) + xlogy(p, p).sum(dim=-1)


@pytest.mark.parametrize("correct", [kl_where, kl_masked_logs, kl_via_cross_entropy_minus_entropy])
def test_kl_divergence_correct_variants_pass(correct):
    check_kl_divergence(correct)


def test_kl_divergence_cpu_round_trip_fails_on_gpu(cuda_device):
    def round_trip(p, q):
        return kl_where(p.cpu(), q.cpu()).to(p.device)

    with pytest.raises(AssertionError, match="copied GPU tensors to the CPU"):
        check_kl_divergence(round_trip)
