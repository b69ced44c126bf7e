"""Hidden checks for ch14_dropout: dropout_layer and DropoutMLP.

``dropout_layer`` is random, so its promises are checked statistically on a large tensor
(1000 x 1000 at p = 0.3: the fraction dropped within 0.005 of p, ten standard deviations; every
row and every column within eight; neighbours uncorrelated within six), exactly on the survivors
(X / (1 - p)), and exactly for the cases that are not random (p = 0, p = 1, training=False).
Reproducibility: two generators seeded alike give the same mask and leave torch's global random
state alone; without a generator, ``torch.manual_seed`` decides the mask; every call draws anew.
The checks run inside ``torch.random.fork_rng``: the notebook's random state stays as it was.

``DropoutMLP`` is checked through a spy: while the check runs, the name ``dropout_layer`` in the
namespace where the class was defined points at a correct dropout that records its calls, so the
class is graded on its own (a wrong ``dropout_layer`` costs the points of its own exercise only),
and each call shows what was dropped, with which p and in which mode. In training mode the
calls must come after each hidden layer's ReLU, with ``dropouts[i]``, and the output must be the
last ``nn.Linear`` of the dropped activations; after ``eval()`` the output must be deterministic
and equal to the network without dropout.

The rules the exercises state are enforced on every call: no torch dropout and no Bernoulli
sampler (``forbid=``: the mask is made from uniform numbers), no NumPy, no tensor made off the
input's device (``probe_device=``) and no trip through the CPU on a GPU (``stay_on_device=``).
"""

import contextlib
import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks._common import call, devices, expect_close, expect_tensor


def _aten(*names: str) -> tuple[str, ...]:
    """The aten operators among ``names`` that this torch build has."""
    return tuple(f"aten.{name}" for name in names if hasattr(torch.ops.aten, name))


# torch's dropouts (nn.Dropout and its relatives call these) and its Bernoulli samplers, the
# torch functions (the clearest message) and the aten operators every other way ends in: on the
# CPU torch.ops.aten.dropout decomposes into bernoulli_ before a Python mode sees it, and on a
# GPU F.dropout runs aten.native_dropout. torch.distributions.Bernoulli samples with
# torch.bernoulli. The exercise makes the Bernoulli mask from uniform numbers (torch.rand).
DROPOUTS = (
    "torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout", "torch.dropout", "torch.dropout_",
    "torch.feature_dropout", "torch.feature_dropout_", "torch.alpha_dropout", "torch.alpha_dropout_",
    "torch.feature_alpha_dropout", "torch.feature_alpha_dropout_", "torch.native_dropout",
    "torch.bernoulli", "torch.Tensor.bernoulli", "torch.Tensor.bernoulli_",
) + _aten(
    "dropout", "dropout_", "native_dropout", "_fused_dropout", "feature_dropout", "feature_dropout_",
    "alpha_dropout", "alpha_dropout_", "feature_alpha_dropout", "feature_alpha_dropout_",
    "bernoulli", "bernoulli_",
)  # fmt: skip
# "No NumPy": a mask drawn with numpy.random ignores torch's generators and the device.
NUMPY = ("torch.Tensor.numpy", "torch.from_numpy")

P_RULE = "p is a probability: a p outside [0, 1] must raise ValueError"


def _cuda_indices() -> list[int]:
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def _generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator on ``device``, as torch.rand(..., device=device, generator=g) needs."""
    return torch.Generator(device=device).manual_seed(seed)


def _rng_states(device: torch.device) -> list[torch.Tensor]:
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


def _same_states(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _describe(X, p, training=None, generator=False) -> str:
    dtype = str(X.dtype).removeprefix("torch.")
    parts = [f"X of shape {tuple(X.shape)} ({dtype}, {X.device.type})", f"p={p}"]
    if training is not None:
        parts.append(f"training={training}")
    if generator:
        parts.append("generator=g")
    return "dropout_layer(" + ", ".join(parts) + ")"


def _call(dropout_layer, *args, what, **kwargs):
    return call(dropout_layer, *args, what=what, forbid=DROPOUTS + NUMPY, probe_device=True,
                stay_on_device=True, **kwargs)


def _expect_unchanged(X, X_before, what):
    if not torch.equal(X, X_before):
        raise AssertionError(
            f"{what} modified X in place; return a new tensor (no X *= ..., X[mask] = 0, "
            "X.mul_(...) or X.masked_fill_(...) on the input)"
        )


def _raises(fn, args, kwargs):
    """The name of the exception that ``fn(*args, **kwargs)`` raised, or None."""
    try:
        fn(*args, **kwargs)
    except Exception as err:  # the exception is the result here
        return type(err).__name__
    return None


def _expect_value_error(dropout_layer, X, p, training):
    what = _describe(X, p, training)
    raised = call(_raises, dropout_layer, (X, p), {"training": training}, what=what)
    if raised == "ValueError":
        return
    if raised is None:
        hint = (" Check p first, before looking at training." if not training else "")
        raise AssertionError(f"{what} returned a result: {P_RULE}.{hint}")
    if raised == "NotImplementedError":
        raise AssertionError(f"{what}: the function is not implemented yet")
    if raised == "AssertionError":
        raise AssertionError(
            f"{what} raised AssertionError (an assert statement): {P_RULE}, "
            "e.g. if not 0 <= p <= 1: raise ValueError(...). Asserts are for bugs in your own code, "
            "and python -O removes them"
        )
    raise AssertionError(f"{what} raised {raised}: {P_RULE}")


def _expect_values_of_X(Y, X, what, why):
    expect_tensor(Y, X, what)
    if not torch.equal(Y, X):
        if torch.isnan(Y).any():
            raise AssertionError(f"{what}: the result contains nan; {why}")
        dropped = ((Y == 0) & (X != 0)).float().mean().item()
        raise AssertionError(
            f"{what}: the result differs from X ({dropped:.0%} of the elements zeroed); {why}"
        )


def _scale_hint(scale: float, p: float) -> str:
    """Names the factor applied to the survivors when it is not 1 / (1 - p)."""
    known = {
        1.0: "the survivors are not rescaled: divide them by 1 - p (inverted dropout), so that "
        "the expected value of each element stays X",
        p: "the survivors are multiplied by p; divide them by 1 - p instead",
        1 / p: "the survivors are divided by p; divide them by 1 - p, the probability of keeping one",
        1 - p: "the survivors are multiplied by 1 - p (what the original dropout does at test "
        "time); inverted dropout divides them by 1 - p during training",
    }
    for factor, hint in known.items():
        if math.isclose(scale, factor, rel_tol=1e-3):
            return hint
    return f"the survivors are multiplied by {scale:.4g}; they must be X / (1 - p) = X * {1 / (1 - p):.4g}"


def _expect_inverted_dropout(Y, X, p, what, tol, independence=False):
    """Y is X with a fraction p of the elements zeroed (within ``tol``) and the rest X / (1 - p);
    with ``independence``, the zeros are spread like independent draws over a 2-D X."""
    expect_tensor(Y, X, what)
    if not torch.isfinite(Y).all():
        raise AssertionError(f"{what}: the result contains inf or nan")
    dropped = Y == 0
    if independence:
        _expect_no_shared_mask(dropped, what)
    fraction = dropped.double().mean().item()
    if fraction < min(tol, p / 2):
        raise AssertionError(
            f"{what}: nothing was dropped; in training mode zero each element with probability p"
        )
    if abs(fraction - (1 - p)) < tol and abs(p - 0.5) > 2 * tol:
        raise AssertionError(
            f"{what}: {fraction:.1%} of the elements were zeroed, about 1 - p: the mask keeps each "
            "element with probability p instead of dropping it with probability p; keep an element "
            "when a uniform number is >= p (or < 1 - p)"
        )
    if abs(fraction - p) > tol:
        raise AssertionError(
            f"{what}: {fraction:.1%} of the elements were zeroed, expected about {p:.0%}: zero each "
            "element with probability p"
        )
    kept = ~dropped
    survivors, originals = Y[kept], X[kept]
    scale = (survivors[:10_000].double() / originals[:10_000].double()).median().item()
    rel = 1e-5 if Y.dtype in (torch.float32, torch.float64) else 1e-2
    if not math.isclose(scale, 1 / (1 - p), rel_tol=10 * rel):
        raise AssertionError(f"{what}: {_scale_hint(scale, p)}")
    expect_close(survivors, originals / (1 - p), f"{what}: the survivors", hint="They must be X / (1 - p).",
                 rtol=rel, atol=0)
    if independence:
        _expect_independent(dropped, p, what)


def _expect_no_shared_mask(dropped, what):
    """A 2-D mask is not one row broadcast over the rows, nor one draw per row."""
    if bool((dropped == dropped[:1]).all()):
        raise AssertionError(
            f"{what}: every row has the same mask (drawn with the shape of one row and broadcast); "
            "draw one random number per element: a mask of shape X.shape"
        )
    if bool((dropped == dropped[:, :1]).all()):
        raise AssertionError(
            f"{what}: each row is dropped or kept as a whole (one random number per row); draw one "
            "random number per element: a mask of shape X.shape"
        )


def _expect_independent(dropped, p, what):
    """Rows and columns of a 2-D mask drop about p each, and neighbours are uncorrelated."""
    M = dropped.double()
    n_rows, n_cols = M.shape
    sd_row, sd_col = math.sqrt(p * (1 - p) / n_cols), math.sqrt(p * (1 - p) / n_rows)
    rows, cols = M.mean(dim=1), M.mean(dim=0)
    if (rows - p).abs().max() > 8 * sd_row or (cols - p).abs().max() > 8 * sd_col:
        raise AssertionError(
            f"{what}: some rows or columns are dropped far more often than others; the elements must "
            "be dropped independently, each with probability p"
        )
    for a, b in ((M[:, :-1], M[:, 1:]), (M[:-1], M[1:])):
        a, b = a - a.mean(), b - b.mean()
        corr = (a * b).mean() / (a.std() * b.std())
        if abs(corr) > 6 / math.sqrt(a.numel()):  # six standard deviations of independent draws
            raise AssertionError(
                f"{what}: neighbouring elements are dropped together (correlation {corr:.2f}); each "
                "element must be dropped independently of the others"
            )


def check_dropout_layer(dropout_layer):
    with torch.random.fork_rng(devices=_cuda_indices()):
        torch.manual_seed(140)
        for device in devices():
            _check_dropout_layer_on(dropout_layer, torch.device(device))


def _check_dropout_layer_on(dropout_layer, device):  # noqa: PLR0915 (one promise after another)
    g = torch.Generator().manual_seed(141)
    X = torch.randn(8, 5, generator=g).to(device)

    # p outside [0, 1]: ValueError, in both modes.
    for p, training in ((1.5, True), (-0.1, True), (2, False), (-0.5, False)):
        _expect_value_error(dropout_layer, X, p, training)

    # p = 0 and training=False: X's values; p = 1: zeros, without nan.
    cases = ((0, {}), (0.0, {"training": True}), (0.5, {"training": False}), (1.0, {"training": False}))
    for p, kwargs in cases:
        X_before = X.clone()
        training = kwargs.get("training")
        what = _describe(X, p, training)
        Y = _call(dropout_layer, X, p, what=what, **kwargs)
        why = ("with training=False dropout does nothing: return X's values unchanged"
               if training is False else "p = 0 drops nothing: return X's values unchanged")
        _expect_values_of_X(Y, X, what, why)
        _expect_unchanged(X, X_before, what)
    for p in (1, 1.0):
        for Xp in (X, X.double()):
            what = _describe(Xp, p)
            Y = _call(dropout_layer, Xp, p, what=what)
            expect_tensor(Y, Xp, what)
            if torch.isnan(Y).any():
                raise AssertionError(
                    f"{what}: the result contains nan: X * mask / (1 - p) computes 0 / 0 at p = 1; "
                    "return zeros (torch.zeros_like(X)) when p == 1"
                )
            if not (Y == 0).all():
                raise AssertionError(f"{what}: p = 1 drops every element: the result must be all zeros")

    # The mask: independent Bernoulli draws, survivors scaled by 1 / (1 - p).
    X = (torch.rand(1000, 1000, generator=g) + 0.5).to(device)  # no zeros, positive
    X_before = X.clone()
    what = _describe(X, 0.3, generator=True)
    Y = _call(dropout_layer, X, 0.3, what=what, generator=_generator(device, 1))
    _expect_unchanged(X, X_before, what)
    _expect_inverted_dropout(Y, X, 0.3, what, tol=0.005, independence=True)

    X = (torch.rand(200, 500, generator=g) + 0.5).to(device)
    for p, args, kwargs in ((0.8, (True,), {}), (0.5, (), {})):
        what = _describe(X, p, True if args else None)
        Y = _call(dropout_layer, X, p, *args, what=what, **kwargs)
        _expect_inverted_dropout(Y, X, p, what, tol=0.01, independence=True)

    # Any shape: a batch of 4-D feature maps, each example with its own mask; a transposed view.
    X = (torch.rand(16, 3, 20, 20, generator=g) + 0.5).to(device)
    what = _describe(X, 0.4)
    Y = _call(dropout_layer, X, 0.4, what=what)
    _expect_inverted_dropout(Y, X, 0.4, what, tol=0.03)
    masks = (Y == 0).reshape(16, -1)
    assert not (masks == masks[:1]).all(), (
        f"{what}: every example got the same mask; draw one random number per element of X"
    )
    Xt = (torch.rand(300, 200, generator=g) + 0.5).to(device).t()
    what = _describe(Xt, 0.5) + " with a transposed (non-contiguous) X"
    _expect_inverted_dropout(_call(dropout_layer, Xt, 0.5, what=what), Xt, 0.5, what, tol=0.02)
    X0 = torch.randn(0, 7, generator=g).to(device)
    what = _describe(X0, 0.5) + " on an empty batch"
    expect_tensor(_call(dropout_layer, X0, 0.5, what=what), X0, what)

    # dtypes: the result keeps X's (no .float() on the mask).
    for dtype in (torch.float64, torch.bfloat16, torch.float16):
        Xd = (torch.rand(100, 100, generator=g, dtype=torch.float64) + 0.5).to(device=device, dtype=dtype)
        what = _describe(Xd, 0.5, generator=True)
        Y = _call(dropout_layer, Xd, 0.5, what=what, generator=_generator(device, 2))
        _expect_inverted_dropout(Y, Xd, 0.5, what, tol=0.05)

    # The generator: reproducible, and the global random state is left alone.
    X = torch.randn(64, 100, generator=g).to(device)
    what = _describe(X, 0.5, generator=True)
    before = _rng_states(device)
    Y1 = _call(dropout_layer, X, 0.5, what=what, generator=_generator(device, 7))
    Y2 = _call(dropout_layer, X, 0.5, True, _generator(device, 7),
               what=what + " (generator passed positionally)")
    if not torch.equal(Y1, Y2):
        raise AssertionError(
            f"{what}: two generators seeded alike gave different masks: draw the mask from the "
            "generator you are given, torch.rand(X.shape, generator=generator, device=X.device)"
        )
    if not _same_states(before, _rng_states(device)):
        raise AssertionError(
            f"{what}: the global random state changed although a generator was given: draw "
            "every random number from the generator (generator=generator)"
        )
    Y3 = _call(dropout_layer, X, 0.5, what=what, generator=_generator(device, 8))
    assert not torch.equal(Y1, Y3), f"{what}: generators with different seeds gave the same mask"
    shared = _generator(device, 9)
    Y4 = _call(dropout_layer, X, 0.5, what=what, generator=shared)
    Y5 = _call(dropout_layer, X, 0.5, what=what, generator=shared)
    assert not torch.equal(Y4, Y5), (
        f"{what}: two calls with the same generator gave the same mask; draw from it as it is "
        "(do not reseed it or copy it), so that its state moves on"
    )

    # Without a generator: torch's global generator, a new mask every call.
    what = _describe(X, 0.5)
    torch.manual_seed(3)
    Y1 = _call(dropout_layer, X, 0.5, what=what)
    torch.manual_seed(3)
    Y2 = _call(dropout_layer, X, 0.5, what=what)
    if not torch.equal(Y1, Y2):
        raise AssertionError(
            f"{what}: after the same torch.manual_seed the masks differ; without a generator, draw "
            "from torch's global generator (torch.rand without generator=), not from a new one"
        )
    Y3 = _call(dropout_layer, X, 0.5, what=what)
    assert not torch.equal(Y1, Y3), (
        f"{what}: two calls in a row dropped the same elements; draw a new mask every call "
        "(no fixed seed or fresh torch.Generator inside the function)"
    )

    # Differentiable: the gradient flows through the survivors, scaled by 1 / (1 - p).
    X = torch.randn(50, 40, generator=g, dtype=torch.float64).to(device).requires_grad_()
    what = _describe(X, 0.4, generator=True)
    Y = _call(dropout_layer, X, 0.4, what=what, generator=_generator(device, 4))
    expect_tensor(Y, X, what)
    assert Y.requires_grad and Y.grad_fn is not None, (
        f"{what}: the result is detached from the autograd graph, so no gradient reaches the layers "
        "below; compute it from X with tensor operations (no .detach(), .data or torch.tensor(...))"
    )
    upstream = torch.randn(Y.shape, generator=g, dtype=Y.dtype).to(device)
    (grad,) = torch.autograd.grad(Y, X, upstream)
    expected = upstream * (Y.detach() != 0) / (1 - 0.4)
    expect_close(grad, expected, f"{what}: the gradient with respect to X",
                 hint="It is the upstream gradient times mask / (1 - p).", rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------ DropoutMLP


def _reference_dropout(X, p, training=True, generator=None):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return X
    if p == 1:
        return torch.zeros_like(X)
    mask = torch.rand(X.shape, device=X.device, generator=generator) >= p
    return X * mask / (1 - p)


class _Spy:
    """Stands in for the student's dropout_layer: a correct dropout that records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, X, p, training=True, generator=None):
        out = _reference_dropout(X, p, training, generator)
        self.calls.append(
            {"X": X.detach().clone(), "p": p, "training": training, "out": out.detach().clone()}
        )
        return out


def _namespaces(cls) -> list[dict]:
    """The global namespaces of the class's own functions (the notebook's, where dropout_layer is)."""
    found = []
    for klass in inspect.getmro(cls):
        if klass.__module__.split(".")[0] == "torch":  # nn.Module and torch's layers
            continue
        for attr in vars(klass).values():
            func = getattr(attr, "__func__", attr)
            func = inspect.unwrap(func) if callable(func) else None
            namespace = getattr(func, "__globals__", None)
            if isinstance(namespace, dict) and "dropout_layer" in namespace and not any(
                namespace is seen for seen in found
            ):
                found.append(namespace)
    return found


@contextlib.contextmanager
def _spying(cls):
    namespaces = _namespaces(cls)
    if not namespaces:
        raise AssertionError(
            "DropoutMLP: no function named dropout_layer where DropoutMLP is defined; the class must "
            "call your dropout_layer (exercise 1) in forward"
        )
    spy = _Spy()
    saved = [(namespace, namespace["dropout_layer"]) for namespace in namespaces]
    for namespace in namespaces:
        namespace["dropout_layer"] = spy
    try:
        yield spy
    finally:
        for namespace, original in saved:
            namespace["dropout_layer"] = original


def _close(a, b) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5)


def _make_model(DropoutMLP, args, kwargs):  # noqa: N803 (the graded name is a class)
    what = "DropoutMLP(" + ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) + ")"
    model = call(DropoutMLP, *args, what=what, **kwargs)
    assert isinstance(model, nn.Module), f"{what}: DropoutMLP must be an nn.Module subclass"
    return model, what


def _expect_layers(model, what, sizes):
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    expected = list(zip(sizes[:-1], sizes[1:], strict=True))
    if len(linears) != len(expected):
        raise AssertionError(
            f"{what}: found {len(linears)} nn.Linear layers, expected {len(expected)}: one per entry "
            "of num_hiddens and the output layer, made with nn.Linear from num_inputs, num_hiddens "
            "and num_outputs, and kept as attributes or in an nn.ModuleList or nn.Sequential (not "
            "in a plain Python list, where model.parameters() does not find them)"
        )
    for i, (layer, (n_in, n_out)) in enumerate(zip(linears, expected, strict=True), start=1):
        if (layer.in_features, layer.out_features) != (n_in, n_out):
            raise AssertionError(
                f"{what}: linear layer {i} is nn.Linear({layer.in_features}, {layer.out_features}), "
                f"expected nn.Linear({n_in}, {n_out}); create the layers in the order they are "
                "applied, with the sizes from the arguments"
            )
    return linears


def _run(model, X, what):
    try:
        return call(model, X, what=what, forbid=DROPOUTS, stay_on_device=True)
    except AssertionError as err:
        message = str(err)
        if "which this exercise asks you to write yourself" in message:
            raise AssertionError(
                f"{message}. DropoutMLP drops with your dropout_layer, not nn.Dropout or F.dropout"
            ) from None
        if "raised" in message and X.dim() > 2:
            raise AssertionError(
                f"{message}. Flatten X of shape (n, ...) to (n, num_inputs) first "
                "(X.reshape(len(X), -1) or nn.Flatten())"
            ) from None
        raise


def _expect_training_forward(model, linears, X, dropouts, spy, what):
    """In training mode: flatten, then per hidden layer Linear, ReLU, dropout_layer(dropouts[i]);
    the output is the last Linear of the dropped activations."""
    spy.calls.clear()
    Y = _run(model, X, what)
    calls = list(spy.calls)
    k = len(dropouts)
    if not calls:
        raise AssertionError(
            f"{what}: in training mode dropout_layer was never called; apply your dropout_layer to "
            "the output of each hidden layer's ReLU (nn.Dropout and F.dropout are not allowed)"
        )
    with torch.no_grad():
        H = X.reshape(len(X), -1)
        for i, layer in enumerate(linears[:-1]):
            Z = layer(H)
            expected = F.relu(Z)
            if i >= len(calls):
                raise AssertionError(
                    f"{what}: dropout_layer was called {len(calls)} time(s), expected {k}: once after "
                    "the ReLU of each hidden layer"
                )
            c = calls[i]
            if not _close(c["X"], expected):
                if _close(c["X"], Z):
                    raise AssertionError(
                        f"{what}: hidden layer {i + 1} is dropped before its ReLU; apply dropout_layer "
                        "to the ReLU's output (the order Linear, ReLU, dropout_layer that the exercise "
                        "asks for; with ReLU the values agree, with other activations they do not)"
                    )
                if i == 0 and c["X"].numel() == H.numel() and _close(c["X"].reshape(H.shape), H):
                    raise AssertionError(
                        f"{what}: dropout_layer is applied to the input X; drop the hidden layers' "
                        "outputs (after each ReLU), as D2L's network does"
                    )
                raise AssertionError(
                    f"{what}: call {i + 1} of dropout_layer did not get the ReLU output of hidden "
                    f"layer {i + 1}; the order is Linear, ReLU, dropout_layer for each hidden layer"
                )
            p = c["p"]
            if not isinstance(p, (int, float)) or not math.isclose(p, dropouts[i]):
                hint = (
                    "the probabilities are in the wrong order"
                    if k > 1 and math.isclose(p, dropouts[k - 1 - i]) else
                    "use the dropouts argument (not fixed numbers or globals such as dropout1)"
                )
                raise AssertionError(
                    f"{what}: hidden layer {i + 1} is dropped with p={p!r}, expected "
                    f"dropouts[{i}] = {dropouts[i]}; {hint}"
                )
            if not c["training"]:
                raise AssertionError(
                    f"{what}: in training mode dropout_layer was called with training={c['training']!r}; "
                    "pass training=self.training"
                )
            H = c["out"]
        if len(calls) > k:
            if _close(calls[k]["X"], linears[-1](H)):
                raise AssertionError(
                    f"{what}: dropout is applied after the output layer; the logits are never "
                    "dropped, only the hidden layers' outputs"
                )
            raise AssertionError(
                f"{what}: dropout_layer was called {len(calls)} times, expected {k}: once after the "
                "ReLU of each hidden layer"
            )
        expected = linears[-1](H)
    expect_tensor(Y, expected, what)
    if not _close(Y, expected):
        if _close(Y, F.relu(expected)):
            raise AssertionError(
                f"{what}: a ReLU is applied to the output; return the logits of the last layer"
            )
        raise AssertionError(
            f"{what}: the output is not the last nn.Linear of the dropped hidden activations"
        )
    assert Y.requires_grad and Y.grad_fn is not None, (
        f"{what}: the output is detached from the autograd graph; the model cannot be trained"
    )


def _expect_eval_forward(model, linears, X, spy, what):
    """After eval(): no dropping, the same output twice, equal to the network without dropout."""
    spy.calls.clear()
    Y1 = _run(model, X, what)
    Y2 = _run(model, X, what)
    dropping = [c for c in spy.calls if c["training"] and c["p"] != 0]
    if dropping:
        raise AssertionError(
            f"{what}: after model.eval() dropout_layer is still called with training=True, so the "
            "evaluation is random; pass training=self.training (nn.Module keeps the mode in "
            "self.training, which train() and eval() set)"
        )
    with torch.no_grad():
        H = X.reshape(len(X), -1)
        for layer in linears[:-1]:
            H = F.relu(layer(H))
        expected = linears[-1](H)
    expect_tensor(Y1, expected, what)
    if not torch.equal(Y1, Y2):
        raise AssertionError(f"{what}: two evaluations of the same X differ; after eval() nothing is random")
    if not _close(Y1, expected):
        raise AssertionError(
            f"{what}: after eval() the output differs from the same network without dropout; "
            "inverted dropout needs no rescaling at test time: evaluate Linear and ReLU only"
        )


MLP_CASES = [
    # args, kwargs, input shape (None: the defaults on Fashion-MNIST images), expected sizes, dropouts
    ((), {}, (64, 1, 28, 28), (784, 256, 256, 10), (0.2, 0.5)),
    ((20, 3, (16, 8), (0.6, 0.1)), {}, (32, 20), (20, 16, 8, 3), (0.6, 0.1)),
    ((), {"num_inputs": 12, "num_outputs": 5, "num_hiddens": (32, 16, 8), "dropouts": (0.1, 0.3, 0.5)},
     (40, 3, 4), (12, 32, 16, 8, 5), (0.1, 0.3, 0.5)),
    ((6,), {"num_outputs": 2, "num_hiddens": [10], "dropouts": [0.25]}, (30, 6), (6, 10, 2), (0.25,)),
]


def check_DropoutMLP(DropoutMLP):  # noqa: N802, N803 (the graded name is a class)
    with torch.random.fork_rng(devices=_cuda_indices()), _spying(DropoutMLP) as spy:
        torch.manual_seed(142)
        for device in devices():
            for args, kwargs, shape, sizes, dropouts in MLP_CASES:
                model, what = _make_model(DropoutMLP, args, kwargs)
                linears = _expect_layers(model, what, sizes)
                model.to(device)
                X = torch.rand(shape, device=device)
                applied = f"{what} applied to X of shape {shape}"
                trained = model.train()
                assert trained is model and model.training, (
                    f"{what}: model.train() must return the model in training mode; do not override "
                    "train(), eval() or the training attribute's meaning"
                )
                _expect_training_forward(model, linears, X, dropouts, spy, f"{applied} in training mode")
                model.eval()
                _expect_eval_forward(model, linears, X, spy, f"{applied} after model.eval()")
                model.train()
                _expect_training_forward(model, linears, X, dropouts, spy,
                                         f"{applied} in training mode again, after eval() and train()")
