"""Hidden checks for ch09_probability: entropy, conditional_entropy, kl_divergence.

All three are in nats (natural log), treat 0 log 0 as 0, keep the input's dtype and device, leave
their inputs unchanged and are vectorised. "No Python loop over the entries or rows" is checked
without timing: a vectorised function runs the same number of tensor operations on a small and
on a large input, while a loop runs one or more per entry or per row (counted by a dispatch mode;
``.item()``, ``float(t)`` and iterating over a tensor are operations too). The ways out of that
count, ``.tolist()``, NumPy (also reached through DLPack, ``data_ptr``, the storage or the bytes of
``torch.save``) and ``Tensor.apply_``/``map_``, are forbidden, and so are the functions that already
compute entropy, cross-entropy or KL divergence, also when called through ``torch.ops.aten`` or
``torch._C._nn``.
"""

import math

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from autograder.checks import _common
from autograder.checks._common import call, devices, generator

# Functions that compute what the exercises ask for, in their torch, aten and SciPy spellings
# (nn.KLDivLoss calls F.kl_div, nn.CrossEntropyLoss F.cross_entropy, OneHotCategorical and
# torch.distributions' kl_divergence end in Categorical's entropy or _kl_categorical_categorical).
INFORMATION_BUILTINS = (
    "torch.special.entr", "aten.special_entr",
    "torch.distributions.Categorical.entropy", "torch.distributions.kl.kl_divergence",
    "torch.distributions.kl._kl_categorical_categorical",
    "torch.nn.functional.kl_div", "torch.kl_div", "aten.kl_div",
    "torch.nn.functional.cross_entropy", "torch._C._nn.cross_entropy_loss", "aten.cross_entropy_loss",
    "torch.nn.functional.binary_cross_entropy", "aten.binary_cross_entropy",
    "torch.nn.functional.binary_cross_entropy_with_logits",
    "aten.binary_cross_entropy_with_logits",
)  # fmt: skip
# Ways to loop over the entries that the operation count would not see: a Python list or NumPy
# array of the values (also through DLPack, a raw pointer or serialised bytes), or a Python
# function applied entry by entry. NumPy is out anyway ("torch on the input's device").
LOOP_ESCAPES = (
    "torch.Tensor.tolist", "torch.Tensor.numpy", "torch.from_numpy", "torch.Tensor.__array__",
    "torch.Tensor.apply_", "torch.Tensor.map_", "torch.Tensor.map2_",
    "torch.Tensor.__dlpack__", "torch.utils.dlpack.to_dlpack", "torch.Tensor.data_ptr",
    "torch.Tensor.untyped_storage", "torch.Tensor.storage", "torch.save", "torch.Tensor.__reduce_ex__",
)  # fmt: skip
# kl_div and cross_entropy_loss are composite operators: they run as log, xlogy, mul... below
# autograd, so the aten watch never sees them, and a torch.ops.aten call reaches the function
# watch as an operator packet that call()'s watch does not look at. operation_count looks for them.
COMPOSITE_BUILTINS = {
    torch.ops.aten.kl_div: "aten.kl_div",
    torch.ops.aten.cross_entropy_loss: "aten.cross_entropy_loss",
}
SCIPY = ()
try:
    import scipy.special
    import scipy.stats  # noqa: F401

    SCIPY = ("scipy.stats.entropy", "scipy.special.entr", "scipy.special.rel_entr", "scipy.special.kl_div")
except ImportError:  # pragma: no cover
    pass
FORBIDDEN = INFORMATION_BUILTINS + SCIPY + LOOP_ESCAPES

LN2 = math.log(2)
ZERO_LOG_ZERO = (
    "0 * log(0) is nan in floating point (0 * -inf); by convention 0 log 0 = 0: use "
    "torch.special.xlogy(p, p) or torch.where on p > 0"
)
LOOP_HINT = (
    "a Python loop over the entries or rows (for, list comprehension, .item(), iterating over a "
    "tensor); compute with whole-tensor operations (xlogy, sum(dim=...), where)"
)


def _call(fn, *args, what):
    try:
        return call(fn, *args, what=what, forbid=FORBIDDEN, probe_device=True, stay_on_device=True)
    except AssertionError as err:
        raise _named(err, what) from None


def _named(err, what):
    """call()'s message for a forbidden call says "which this exercise asks you to write
    yourself": right for the built-ins, not for .tolist() or NumPy, which are ways around the
    "vectorised, on the input's device" rule."""
    text = str(err)
    found = text.partition(": calls ")[2].partition(", which this exercise")[0]
    names = found.split(", ") if found else []
    if names and all(name in LOOP_ESCAPES for name in names):
        return AssertionError(
            f"{what}: calls {found}, which leaves torch for Python lists, NumPy or a Python function "
            "per entry; compute with whole-tensor torch operations on the input's device"
        )
    return err


# -- references, in float64 ------------------------------------------------------------------


def _h(p):
    """Entropy in nats over the last dimension, 0 log 0 = 0."""
    p = p.double()
    return -torch.special.xlogy(p, p).sum(dim=-1)


def _kl(p, q):
    p, q = p.double(), q.double()
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum(dim=-1)


def _cond(joint):
    """H(Y | X) for a 2-D joint table with X on the rows: H(X, Y) - H(X)."""
    joint = joint.double()
    return _h(joint.reshape(-1)) - _h(joint.sum(dim=1))


# -- inputs ----------------------------------------------------------------------------------


def _distributions(shape, g, zeros=True, dtype=torch.float32):
    """Random distributions over the last dimension; with ``zeros``, about a quarter of the
    entries are exactly 0 (never a whole row)."""
    logits = 2 * torch.randn(*shape, generator=g, dtype=torch.float64)
    p = torch.softmax(logits, dim=-1)
    if zeros and shape[-1] > 1:
        mask = torch.rand(*shape, generator=g) < 0.25
        mask[..., 0] = False  # keep some mass in every row
        p = p.masked_fill(mask, 0.0)
        p = p / p.sum(dim=-1, keepdim=True)
    return p.to(dtype)


# -- shared comparisons ----------------------------------------------------------------------


def _expect_result(result, like, shape, what):
    """A tensor of ``shape`` on ``like``'s device with its dtype; shape mistakes named."""
    assert isinstance(result, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(result).__name__}"
    shape = torch.Size(shape)
    if result.shape != shape:
        batch_dims = like.shape[:-1]
        if result.shape == like.shape:
            raise AssertionError(
                f"{what}: returned shape {tuple(result.shape)}, the input's: the terms were not "
                "summed; sum them over the last dimension"
            )
        if result.shape == batch_dims + (1,):
            raise AssertionError(
                f"{what}: returned shape {tuple(result.shape)}, expected {tuple(shape)}: sum over the "
                "last dimension without keepdim=True"
            )
        if result.numel() == 1 and shape.numel() != 1:
            raise AssertionError(
                f"{what}: returned one number for a batch of shape {tuple(batch_dims)}: summed over the "
                f"whole batch; sum over the last dimension only (dim=-1), one value per distribution"
            )
        raise AssertionError(
            f"{what}: expected shape {tuple(shape)}, got {tuple(result.shape)}: sum over the last "
            "dimension (dim=-1), whatever the number of dimensions (not dim=0 or dim=1)"
        )
    _common.expect_tensor(result, like, what, shape)  # device and dtype


def _tolerances(dtype):
    return {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}


def _close(actual, expected, dtype):
    """Equal within tolerance; infinities must match exactly (same sign, same place)."""
    actual = actual.detach().to("cpu", torch.float64)
    expected = expected.detach().to("cpu", torch.float64)
    return actual.shape == expected.shape and bool(
        torch.isclose(actual, expected, equal_nan=False, **_tolerances(dtype)).all()
    )


def _gap(actual, expected):
    actual = actual.detach().to("cpu", torch.float64)
    expected = expected.detach().to("cpu", torch.float64)
    finite = torch.isfinite(expected) & torch.isfinite(actual)
    return (actual - expected)[finite].abs().max().item() if finite.any() else float("nan")


def _unchanged(before, after, what, name):
    assert torch.equal(before, after), (
        f"{what}: changed its input {name} in place (e.g. p[p == 0] = 1 to avoid log 0); compute "
        "on new tensors and leave the inputs as they were"
    )


# -- "no Python loop over the entries or rows" -------------------------------------------------

# A vectorised function runs the same operations whatever the size; this much slack allows
# data-dependent branches (the small and the large inputs have the same kinds of entries).
LOOP_SLACK = 10


class _ComposedOperators(TorchFunctionMode):
    """Records the calls of COMPOSITE_BUILTINS through torch.ops (packet or overload)."""

    def __init__(self):
        super().__init__()
        self.found = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        packet = getattr(func, "overloadpacket", func)
        name = COMPOSITE_BUILTINS.get(packet) if _common._hashable(packet) else None
        if name is not None and name not in self.found:
            self.found.append(name)
        return func(*args, **(kwargs or {}))


class _CountOperations(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def operation_count(fn, *args, what):
    """How many tensor operations (aten calls) one call of ``fn`` runs.

    The function is first run through :func:`call` (crashes, forbidden calls, patching), then
    once more under the counting mode, outside ``call``: the grader's guard takes any dispatch
    mode that is still active when it looks for patching as the student's doing."""
    try:
        call(fn, *args, what=what, forbid=FORBIDDEN)
    except AssertionError as err:
        raise _named(err, what) from None
    guard = _common._guard  # read before the student's code runs again
    copies = [a.clone() for a in args]
    counter, composed = _CountOperations(), _ComposedOperators()
    try:
        with composed, counter:
            fn(*copies)
    except Exception as err:
        raise AssertionError(f"{what}: raised {type(err).__name__}: {err}") from None
    if guard is not None:
        guard.check_untouched(what)
    if composed.found:
        raise AssertionError(
            f"{what}: calls {', '.join(composed.found)}, which this exercise asks you to write "
            "yourself; use basic tensor operations instead"
        )
    return counter.count


def _expect_vectorised(fn, small, large, what, describe):
    """``small`` and ``large``: argument tuples of the same kinds, sizes far apart."""
    counts = [operation_count(fn, *args, what=f"{what} of {describe(args)}") for args in (small, large)]
    if counts[1] > counts[0] + LOOP_SLACK:
        raise AssertionError(
            f"{what}: ran {counts[0]} tensor operations for {describe(small)} but {counts[1]} for "
            f"{describe(large)}: {LOOP_HINT}"
        )


def _shape_of(args):
    return " and ".join(f"a {tuple(a.shape)} input" for a in args[:1])


# -- entropy -----------------------------------------------------------------------------------


def _check_entropy_values(result, p, what):
    expected = _h(p)
    _expect_result(result, p, p.shape[:-1], what)
    if torch.isnan(result).any():
        raise AssertionError(f"{what}: nan where some probabilities are 0. {ZERO_LOG_ZERO}")
    if _close(result, expected, p.dtype):
        return
    if _close(result, expected / LN2, p.dtype):
        raise AssertionError(f"{what}: the values are in bits (log base 2); use the natural log (nats)")
    if _close(result, -expected, p.dtype):
        raise AssertionError(f"{what}: the sign is flipped; H(P) = -sum p log p >= 0")
    if p.shape[-1] > 1 and _close(result, expected / p.shape[-1], p.dtype):
        raise AssertionError(f"{what}: the mean over the last dimension; entropy sums p log p")
    if torch.isinf(result).any():
        raise AssertionError(f"{what}: inf where some probabilities are 0. {ZERO_LOG_ZERO}")
    raise AssertionError(f"{what}: wrong values (largest difference {_gap(result, expected):.3g})")


def check_entropy(entropy):
    for device in devices():
        g = generator(90)
        p = _distributions((5, 6), g).to(device)
        before = p.clone()
        what = "entropy of a (5, 6) batch of distributions with some zero probabilities"
        result = _call(entropy, p, what=what)
        _unchanged(before, p, what, "p")
        _check_entropy_values(result, p, what)

        no_zeros = _distributions((4, 7), g, zeros=False).to(device)
        what = "entropy of a (4, 7) batch without zeros"
        _check_entropy_values(_call(entropy, no_zeros, what=what), no_zeros, what)

        p3 = _distributions((2, 3, 4), g, dtype=torch.float64).to(device)
        what = "entropy of a (2, 3, 4) float64 batch"
        _check_entropy_values(_call(entropy, p3, what=what), p3, what)

        single = torch.tensor([0.5, 0.25, 0.125, 0.125, 0.0], device=device)
        what = "entropy of one distribution of shape (5,)"
        result = _call(entropy, single, what=what)
        _check_entropy_values(result, single, what)

        k = 8
        special = torch.zeros(3, k, dtype=torch.float64, device=device)
        special[0, 3] = 1.0  # certain: entropy 0
        special[1] = 1.0 / k  # uniform: log k
        special[2, :2] = 0.5  # a fair coin among zeros: log 2
        what = "entropy of a one-hot, a uniform and a two-point distribution"
        result = _call(entropy, special, what=what)
        _check_entropy_values(result, special, what)
        assert abs(result[1].item() - math.log(k)) < 1e-12, f"{what}: the uniform over {k} must give log {k}"

        empty = torch.zeros(0, 4, device=device)
        what = "entropy of an empty batch of shape (0, 4)"
        _expect_result(_call(entropy, empty, what=what), empty, (0,), what)

        pt = _distributions((3, 6), g).to(device).T.contiguous().T  # same values, column-major
        what = "entropy of a non-contiguous batch"
        _check_entropy_values(_call(entropy, pt, what=what), pt, what)

    g = generator(91)
    _expect_vectorised(
        entropy, (_distributions((2, 3), g),), (_distributions((40, 30), g),),
        "entropy", _shape_of,
    )


# -- conditional entropy -----------------------------------------------------------------------


def _joint(rows, cols, g, dtype=torch.float32, zero_row=True):
    """A random joint table with some zero cells and, with ``zero_row``, a row of zeros."""
    table = _distributions((rows * cols,), g).reshape(rows, cols).double()
    if zero_row and rows > 2:
        table[1] = 0.0
    return (table / table.sum()).to(dtype)


def _check_conditional_values(result, joint, what):
    assert isinstance(result, torch.Tensor), f"{what}: expected a torch.Tensor, got {type(result).__name__}"
    if result.shape != ():
        if result.shape in (joint.shape[:1], joint.shape[1:]):
            raise AssertionError(
                f"{what}: returned shape {tuple(result.shape)}, expected a single number (0-dim): "
                "H(Y | X) = -sum over x AND y of P(x, y) log P(y | x); summing over one variable "
                "only (seed 003 writes the integral with dX alone) leaves a vector"
            )
        raise AssertionError(
            f"{what}: expected a 0-dim tensor (a single number), got shape {tuple(result.shape)}"
        )
    _expect_result(result, joint, (), what)
    if torch.isnan(result).any():
        raise AssertionError(
            f"{what}: nan for a table with zero cells and a row with P(x) = 0. {ZERO_LOG_ZERO}; "
            "and P(y | x) = P(x, y) / P(x) is 0/0 in a zero row: skip it, or use H(X, Y) - H(X)"
        )
    dt = joint.dtype
    j = joint.double()
    expected = _cond(joint)
    if _close(result, expected, dt):
        return
    h_xy, h_x, h_y = _h(j.reshape(-1)), _h(j.sum(dim=1)), _h(j.sum(dim=0))
    p_x = j.sum(dim=1)
    rows_h = _h(j / p_x.clamp(min=1e-300)[:, None])  # H(Y | X = x) of each row (0 for zero rows)
    if _close(result, expected / LN2, dt):
        raise AssertionError(f"{what}: the value is in bits (log base 2); use the natural log (nats)")
    if _close(result, -expected, dt):
        raise AssertionError(f"{what}: the sign is flipped; H(Y | X) = -sum P(x, y) log P(y | x) >= 0")
    if _close(result, h_xy - h_y, dt):
        raise AssertionError(
            f"{what}: that is H(X | Y), with rows and columns swapped: X is on the rows, so "
            "P(x) = joint.sum(dim=1) and P(y | x) = P(x, y) / P(x) normalises each row"
        )
    if _close(result, h_xy, dt):
        raise AssertionError(f"{what}: that is the joint entropy H(X, Y); H(Y | X) = H(X, Y) - H(X)")
    if _close(result, h_y, dt):
        raise AssertionError(f"{what}: that is H(Y), the entropy of the column sums; condition on X")
    if _close(result, h_x, dt):
        raise AssertionError(f"{what}: that is H(X), the entropy of the row sums; H(Y | X) = H(X, Y) - H(X)")
    if _close(result, h_x - h_xy, dt):
        raise AssertionError(f"{what}: that is H(X) - H(X, Y), the negative of H(Y | X)")
    nonzero_rows = (p_x > 0).sum()
    if _close(result, rows_h.sum(), dt) or _close(result, rows_h.sum() / nonzero_rows, dt) or _close(
        result, rows_h.mean(), dt
    ):
        raise AssertionError(
            f"{what}: the entropies H(Y | X = x) of the rows were added or averaged with equal weights; "
            "weight each by P(x): H(Y | X) = sum_x P(x) H(Y | X = x)"
        )
    if torch.isinf(result).any():
        raise AssertionError(f"{what}: inf for a table with zero cells. {ZERO_LOG_ZERO}")
    raise AssertionError(f"{what}: wrong value (difference {_gap(result, expected):.3g})")


def check_conditional_entropy(conditional_entropy):
    for device in devices():
        g = generator(92)
        joint = _joint(4, 5, g).to(device)
        before = joint.clone()
        what = "conditional_entropy of a (4, 5) joint table with zero cells and a zero row"
        result = _call(conditional_entropy, joint, what=what)
        _unchanged(before, joint, what, "joint")
        _check_conditional_values(result, joint, what)

        full = _joint(3, 6, g, zero_row=False)
        full = (full + 0.01) / (full + 0.01).sum()  # no zero cell
        full = full.to(device)
        what = "conditional_entropy of a (3, 6) joint table without zeros"
        _check_conditional_values(_call(conditional_entropy, full, what=what), full, what)

        tall = _joint(6, 2, g, dtype=torch.float64).to(device)
        what = "conditional_entropy of a (6, 2) float64 joint table"
        _check_conditional_values(_call(conditional_entropy, tall, what=what), tall, what)

        p_x = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
        p_y = torch.tensor([0.1, 0.6, 0.3, 0.0], dtype=torch.float64)
        independent = (p_x[:, None] * p_y[None, :]).to(device)
        what = "conditional_entropy of independent X and Y (then H(Y | X) = H(Y))"
        result = _call(conditional_entropy, independent, what=what)
        _check_conditional_values(result, independent, what)

        function = torch.tensor([[0.3, 0.0, 0.0], [0.0, 0.0, 0.25], [0.0, 0.0, 0.45]],
                                dtype=torch.float64, device=device)  # fmt: skip
        what = "conditional_entropy when Y is a function of X (then H(Y | X) = 0)"
        result = _call(conditional_entropy, function, what=what)
        _check_conditional_values(result, function, what)

        strided = _joint(5, 4, g).to(device).T  # a non-contiguous view: X has 4 values
        what = "conditional_entropy of a non-contiguous (transposed) table"
        _check_conditional_values(_call(conditional_entropy, strided, what=what), strided, what)

    g = generator(93)
    _expect_vectorised(
        conditional_entropy, (_joint(3, 4, g),), (_joint(30, 40, g),),
        "conditional_entropy", _shape_of,
    )


# -- KL divergence -----------------------------------------------------------------------------


def _check_kl_values(result, p, q, what):
    _expect_result(result, p, p.shape[:-1], what)
    dt = p.dtype
    expected = _kl(p, q)
    inf_rows = torch.isinf(expected)
    if torch.isnan(result).any():
        if torch.isnan(result[inf_rows]).any():
            raise AssertionError(
                f"{what}: nan where p > 0 and q = 0; the divergence is +inf there (p log(p/0))"
            )
        raise AssertionError(
            f"{what}: nan where p = 0 (and q = 0): terms with p = 0 contribute 0, whatever q; "
            "p * log(p / q) gives 0 * nan, and xlogy(p, p / q) gives nan for 0/0: use "
            "xlogy(p, p) - xlogy(p, q) or torch.where on p > 0"
        )
    if inf_rows.any():
        if not torch.isposinf(result[inf_rows]).all():
            raise AssertionError(
                f"{what}: a finite value where p > 0 and q = 0; KL(P || Q) is +inf there "
                "(no eps added to q, no clamp)"
            )
    if _close(result, expected, dt):
        return
    swapped = _kl(q, p)
    if not inf_rows.any() and _close(result, swapped, dt):
        raise AssertionError(
            f"{what}: that is KL(Q || P): the arguments are swapped; KL(P || Q) = sum p log(p / q)"
        )
    if _close(result, expected / LN2, dt):
        raise AssertionError(f"{what}: the values are in bits (log base 2); use the natural log (nats)")
    if _close(result, -expected, dt):
        raise AssertionError(f"{what}: the sign is flipped; KL(P || Q) = sum p log(p / q) >= 0")
    if _close(result, expected + _h(p), dt):
        raise AssertionError(
            f"{what}: that is the cross-entropy H(P, Q) = -sum p log q; KL(P || Q) = H(P, Q) - H(P)"
        )
    if (torch.isinf(result) & ~inf_rows).any():
        raise AssertionError(
            f"{what}: inf in a row where q > 0 wherever p > 0; terms with p = 0 contribute 0"
        )
    raise AssertionError(
        f"{what}: wrong values (largest difference {_gap(result, expected):.3g}); KL(P || Q) = "
        "sum p log(p / q) exactly, with no epsilon added to p or q"
    )


def check_kl_divergence(kl_divergence):
    for device in devices():
        g = generator(94)
        p = _distributions((5, 6), g).to(device)
        q = _distributions((5, 6), g, zeros=False).to(device)
        p[0, -1] = 0.0
        p[0] = p[0] / p[0].sum()
        q[0] = torch.where(p[0] > 0, q[0], 0.0)  # q = 0 where p = 0 too: still finite
        q[0] = q[0] / q[0].sum()
        p_before, q_before = p.clone(), q.clone()
        what = "kl_divergence of (5, 6) batches where p has zeros"
        result = _call(kl_divergence, p, q, what=what)
        _unchanged(p_before, p, what, "p")
        _unchanged(q_before, q, what, "q")
        _check_kl_values(result, p, q, what)

        p_inf = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.0, 0.4, 0.6]], device=device)
        q_inf = torch.tensor([[0.5, 0.0, 0.5], [0.3, 0.3, 0.4], [0.0, 0.5, 0.5]], device=device)
        what = "kl_divergence where p > 0 and q = 0 in the first row (KL = inf there)"
        result = _call(kl_divergence, p_inf, q_inf, what=what)
        _unchanged(torch.tensor([[0.5, 0.0, 0.5], [0.3, 0.3, 0.4], [0.0, 0.5, 0.5]], device=device),
                   q_inf, what, "q")
        _check_kl_values(result, p_inf, q_inf, what)

        p2 = _distributions((4, 5), g, zeros=False).to(device)
        q2 = _distributions((4, 5), g, zeros=False).to(device)
        what = "kl_divergence of (4, 5) batches without zeros"
        _check_kl_values(_call(kl_divergence, p2, q2, what=what), p2, q2, what)

        what = "kl_divergence(p, p)"
        same = _call(kl_divergence, p2, p2.clone(), what=what)
        _check_kl_values(same, p2, p2, what)

        p3 = _distributions((2, 3, 4), g, dtype=torch.float64).to(device)
        q3 = _distributions((2, 3, 4), g, zeros=False, dtype=torch.float64).to(device)
        what = "kl_divergence of (2, 3, 4) float64 batches"
        _check_kl_values(_call(kl_divergence, p3, q3, what=what), p3, q3, what)

        single_p = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64, device=device)
        single_q = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64, device=device)
        what = "kl_divergence of two distributions of shape (3,)"
        _check_kl_values(_call(kl_divergence, single_p, single_q, what=what), single_p, single_q, what)

        empty = torch.zeros(0, 3, device=device)
        what = "kl_divergence of empty batches of shape (0, 3)"
        _expect_result(_call(kl_divergence, empty, empty.clone(), what=what), empty, (0,), what)

        pt = _distributions((4, 3), g).to(device).T  # non-contiguous (3, 4) views ...
        pt = pt / pt.sum(dim=-1, keepdim=True)
        qt = _distributions((4, 3), g, zeros=False).to(device).T
        qt = qt / qt.sum(dim=-1, keepdim=True)
        pt, qt = pt.T.contiguous().T, qt.T.contiguous().T  # ... that stay non-contiguous
        what = "kl_divergence of non-contiguous batches"
        _check_kl_values(_call(kl_divergence, pt, qt, what=what), pt, qt, what)

    g = generator(95)
    small = (_distributions((2, 3), g), _distributions((2, 3), g, zeros=False))
    large = (_distributions((40, 30), g), _distributions((40, 30), g, zeros=False))
    _expect_vectorised(kl_divergence, small, large, "kl_divergence", _shape_of)
