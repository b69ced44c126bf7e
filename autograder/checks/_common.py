"""Helpers shared by the chapter checks: devices to test on and comparisons with clear messages.

Call the student's code through :func:`call`: besides turning a crash into a clear message, it
fails the test when the code under test monkeypatched torch, builtins or the checks while it ran
(when the grader's guard is installed, see ``autograder/kernel_guard.py``), and when it returned
a subclass of a tensor or a number, whose overridden methods could fake any comparison.
"""

import contextlib

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

# Set by the grader's protected cell in the student's kernel; None elsewhere (e.g. under pytest).
_guard = None

try:
    import numpy

    _NUMPY_SCALARS = frozenset(numpy.sctypeDict.values())
except ImportError:  # pragma: no cover
    _NUMPY_SCALARS = frozenset()
_PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)
_PLAIN_NUMBERS = (bool, int, float, complex)


def devices() -> list[torch.device]:
    """CPU always, and CUDA when a GPU is present."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class CpuRoundTrips(TorchDispatchMode):
    """Records the operations that copy a tensor (more than one element: ``.item()`` is fine)
    from a GPU to the CPU while active: a result can come back on the GPU after a silent trip."""

    def __init__(self):
        super().__init__()
        self.found = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if any(t.device.type != "cpu" and t.numel() > 1 for t in inputs) and any(
            t.device.type == "cpu" and t.numel() > 1 for t in outputs
        ):
            self.found.append(str(func.overloadpacket.__name__))
        return out


def _on_gpu(args, kwargs) -> bool:
    leaves = tree_leaves((args, kwargs))
    return any(isinstance(t, torch.Tensor) and t.device.type != "cpu" for t in leaves)


def call(fn, *args, what: str, stay_on_device: bool = False, **kwargs):
    """Call the student's function; turn a crash into an AssertionError naming the case, and
    fail if the call patched what the checks rely on or returned a disguised tensor or number.
    With ``stay_on_device``, also fail if it copied GPU tensors to the CPU on the way."""
    guard = _guard  # read before the student's code runs: it may rebind the module's names
    watch = CpuRoundTrips() if stay_on_device and _on_gpu(args, kwargs) else contextlib.nullcontext()
    try:
        with watch:
            result = fn(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{what}: the function is not implemented yet") from None
    except AssertionError:
        raise
    except Exception as err:
        raise AssertionError(f"{what}: raised {type(err).__name__}: {err}") from None
    if guard is not None:
        guard.check_untouched(what)
    expect_plain(result, what)
    if getattr(watch, "found", None):
        raise AssertionError(
            f"{what}: copied GPU tensors to the CPU on the way ({', '.join(sorted(set(watch.found)))}); "
            "compute on the input's device: no .cpu(), .numpy() or .tolist() round trips"
        )
    return result


def expect_plain(value, what: str, _depth: int = 0):
    """Tensors are plain ``torch.Tensor`` (or ``nn.Parameter``) and numbers plain Python or
    NumPy numbers, also inside lists, tuples and dicts: a subclass could override ``__eq__``,
    ``sum`` or ``__torch_function__`` and pass any comparison."""
    kind = type(value)
    if isinstance(value, torch.Tensor):
        if kind not in _PLAIN_TENSORS:
            raise AssertionError(
                f"{what}: returned a {kind.__name__}, a subclass of torch.Tensor; "
                "return a plain torch.Tensor"
            )
    elif isinstance(value, _PLAIN_NUMBERS):
        if kind not in _PLAIN_NUMBERS and kind not in _NUMPY_SCALARS:
            raise AssertionError(
                f"{what}: returned a {kind.__name__}, a subclass of a number type; "
                "return a plain Python number (e.g. with .item())"
            )
    elif _depth < 3 and isinstance(value, (list, tuple)):
        for item in value:
            expect_plain(item, what, _depth + 1)
    elif _depth < 3 and isinstance(value, dict):
        for item in value.values():
            expect_plain(item, what, _depth + 1)


def expect_tensor(result, like: torch.Tensor, what: str, shape=None):
    """The result is a tensor with the expected shape, on ``like``'s device with its dtype."""
    assert isinstance(result, torch.Tensor), (
        f"{what}: expected a torch.Tensor, got {type(result).__name__}"
    )
    shape = like.shape if shape is None else torch.Size(shape)
    assert result.shape == shape, (
        f"{what}: expected shape {tuple(shape)}, got {tuple(result.shape)}"
    )
    assert result.device == like.device, (
        f"{what}: the result is on {result.device} but the input was on {like.device}; "
        "keep every tensor on the input's device"
    )
    assert result.dtype == like.dtype, (
        f"{what}: the result has dtype {result.dtype} but the input was {like.dtype}; "
        "do not hard-code a dtype"
    )


def expect_close(actual, expected, what: str, hint: str = "", rtol=1e-5, atol=1e-6):
    """``actual`` equals ``expected`` within tolerance; the message shows the largest gap."""
    actual = torch.as_tensor(actual).detach()
    expected = torch.as_tensor(expected).detach().to(actual.device)
    assert actual.shape == expected.shape, (
        f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
    )
    if not torch.isfinite(actual).all():
        raise AssertionError(f"{what}: the result contains inf or nan. {hint}".strip())
    if not torch.allclose(actual.to(expected.dtype), expected, rtol=rtol, atol=atol):
        gap = (actual.to(expected.dtype) - expected).abs().max().item()
        raise AssertionError(f"{what}: wrong values (largest difference {gap:.3g}). {hint}".strip())
