"""Helpers shared by the chapter checks: devices to test on and comparisons with clear messages.

Call the student's code through :func:`call`: besides turning a crash into a clear message, it
fails the test when the code under test monkeypatched torch, builtins or the checks while it ran
(when the grader's guard is installed, see ``autograder/kernel_guard.py``), and when it returned
a subclass of a tensor or a number, whose overridden methods could fake any comparison.

It also enforces what an exercise's instructions promise, each rule opt-in per call:

- ``forbid=("torch.nn.functional.mse_loss", "aten.mse_loss", ...)``: "don't call X", the
  built-in the exercise re-implements, however it is reached (an alias, a method, an ``nn``
  module that calls it; ``aten.*`` names catch ``torch.ops``, ``torch._C._nn`` and TorchScript);
- ``by_hand=True``: "no autograd": no autograd graph is built and no backward is run, even under
  ``torch.enable_grad()`` inside the student's function;
- ``probe_device=True``: "on x's device": the call is repeated on copies of its arguments with
  tensors made without ``device=`` landing on the ``meta`` device, so that a forgotten
  ``device=`` shows on a CPU-only grader too;
- ``stay_on_device=True``: on a GPU, no silent round trip through the CPU.

The watches follow the calling thread only, so with ``forbid`` or ``by_hand`` starting a thread
fails too.
"""

import contextlib
import copy
import importlib
import inspect
import random
import sys
import weakref

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

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


# What "by hand, no autograd" rules out besides building a graph: every way to run a backward.
AUTOGRAD_ENTRY_POINTS = (
    "torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward",
    "torch.autograd.functional.jacobian", "torch.autograd.functional.vjp",
    "torch.autograd.functional.jvp", "torch.autograd.functional.hessian",
    "torch.func.grad", "torch.func.grad_and_value", "torch.func.vjp", "torch.func.jvp",
    "torch.func.jacrev", "torch.func.jacfwd", "torch.func.hessian",
    "torch.autograd.forward_ad.make_dual", "torch.autograd.forward_ad.unpack_dual",
)  # fmt: skip
# Work in another thread escapes the watches, which are per thread: no solution needs one.
THREADS = ("threading.Thread.start",)
# sys.setprofile as it was when the checks were loaded (the student may rebind the name).
_setprofile, _getprofile = sys.setprofile, sys.getprofile


def _resolve(name: str):
    """``"torch.nn.functional.mse_loss"`` -> the object (the longest importable module prefix,
    then attributes); ``"aten.mse_loss"`` -> the operator ``torch.ops.aten.mse_loss``."""
    if name.startswith("aten."):
        return getattr(torch.ops.aten, name.removeprefix("aten."))
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


class Watch(TorchFunctionMode):
    """While active, records calls of the forbidden functions and, with ``by_hand``, any autograd
    graph built or backward run. torch's functions (C functions, tensor methods, Python functions
    that dispatch ``__torch_function__``) are seen by this mode whatever name they are reached by;
    plain Python functions (``nn.init``, the course's helpers) by their code, through a profile
    hook. Findings are recorded, not raised, so that a ``try``/``except`` cannot hide them."""

    def __init__(self, forbid=(), by_hand=False):
        super().__init__()
        names = tuple(forbid) + (AUTOGRAD_ENTRY_POINTS if by_hand else ()) + THREADS
        self.by_hand = by_hand
        self.objects, self.codes, operators = {}, {}, {}
        for name in names:
            obj = _resolve(name)
            if isinstance(obj, torch._ops.OpOverloadPacket):
                operators[obj] = name
                continue
            self.objects[obj] = name
            code = getattr(inspect.unwrap(obj), "__code__", None)
            if code is not None:
                self.codes[code] = name
        self.found, self.graph, self.unhooked = [], None, False
        self.operators = _OperatorWatch(operators, by_hand, self)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = self.objects.get(func) if _hashable(func) else None
        if name is not None:
            self._record(name)
        out = func(*args, **(kwargs or {}))
        if self.by_hand and self.graph is None:
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor) and t.grad_fn is not None:
                    self.graph = f"{getattr(func, '__name__', func)} built an autograd graph"
                    break
        return out

    def _profile(self, frame, event, arg):
        if event == "call":
            name = self.codes.get(frame.f_code)
        elif event == "c_call":
            name = self.objects.get(arg) if _hashable(arg) else None
        else:
            return
        if name is not None:
            self._record(name)

    def _record(self, name):
        if name not in self.found:
            self.found.append(name)

    def __enter__(self):
        super().__enter__()
        self.operators.__enter__()
        self.previous = _getprofile()
        _setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        self.unhooked = _getprofile() != self._profile
        _setprofile(self.previous)
        self.operators.__exit__(*exc)
        return super().__exit__(*exc)

    def verdict(self, what: str):
        """Raise the AssertionError that names what the call did against the rules."""
        if THREADS[0] in self.found:
            raise AssertionError(
                f"{what}: starts a thread; compute the result in the function itself"
            )
        if self.found:
            shown = ", ".join(self.found)
            if self.by_hand and any(n in AUTOGRAD_ENTRY_POINTS for n in self.found):
                raise AssertionError(
                    f"{what}: calls {shown}; this exercise computes the gradient by hand, "
                    "without autograd"
                )
            raise AssertionError(
                f"{what}: calls {shown}, which this exercise asks you to write yourself; "
                "use basic tensor operations instead"
            )
        if self.graph is not None:
            raise AssertionError(
                f"{what}: used autograd ({self.graph}); this exercise computes the gradient by "
                "hand: no requires_grad, backward or torch.autograd, not even under "
                "torch.enable_grad()"
            )
        if self.unhooked:
            raise AssertionError(
                f"{what}: the code under test removed the grader's profile hook (sys.setprofile)"
            )


class _OperatorWatch(TorchDispatchMode):
    """The aten level of :class:`Watch`: the forbidden operators, however the call reached them
    (``torch.ops.aten``, ``torch._C._nn``, TorchScript, a disabled ``__torch_function__``), and,
    with ``by_hand``, any operator run by autograd's engine (a backward pass)."""

    def __init__(self, operators, by_hand, watch):
        super().__init__()
        self.operators, self.by_hand, self.watch = operators, by_hand, watch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = self.operators.get(func.overloadpacket)
        if name is not None:
            self.watch._record(name)
        if self.by_hand and self.watch.graph is None and torch._C._current_graph_task_id() != -1:
            self.watch.graph = "a backward pass"
        return func(*args, **(kwargs or {}))


def _hashable(obj) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


class UnplacedOnMeta(TorchFunctionMode):
    """Tensors made without ``device=`` (``torch.zeros(3)``, ``torch.tensor([1.0])``) land on
    the ``meta`` device, as they would land on the CPU next to a GPU input: a forgotten
    ``device=`` then breaks the call on a CPU-only grader too.

    Two kinds stay on the CPU, as they must or may next to a GPU input: tensors drawn from an
    explicit (CPU) generator, and tensors made from a Python number by ``torch.tensor``/
    ``torch.as_tensor`` (a 0-dim CPU constant works next to a GPU tensor). They, and what is
    computed from them alone, are remembered in ``unplaced``: a result among them would stay on
    the CPU next to a GPU input (``w = torch.tensor(0.0)`` returned by a loop that never ran).
    Moving one with ``.to(device)`` places it.

    Most operations refuse to mix ``meta`` with CPU tensors, as CUDA ones refuse CPU ones; a few
    (``cpu @ meta``) silently return a CPU tensor, so any operation that mixes them is recorded
    in ``mixed``, except indexing, where CPU indices into a GPU tensor are allowed."""

    def __init__(self):
        super().__init__()
        self.mixed = None
        self.unplaced = _TensorSet()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        if self.mixed is None and func not in _INDEXING:
            if any(t.is_meta for t in tensors) and any(not t.is_meta and t.dim() for t in tensors):
                self.mixed = getattr(func, "__name__", str(func))
        unplaced = False
        if func in _device_constructors() and kwargs.get("device") is None:
            number = func in (torch.tensor, torch.as_tensor) and args and isinstance(args[0], _PLAIN_NUMBERS)
            unplaced = number or kwargs.get("generator") is not None
            if not unplaced and not (func in (torch.tensor, torch.as_tensor) and tensors):
                kwargs["device"] = "meta"
        elif tensors and all(t in self.unplaced for t in tensors):
            unplaced = not (func in (torch.Tensor.to, torch.Tensor.cuda) and any(
                isinstance(a, (torch.device, str)) for a in tree_leaves((args[1:], kwargs))
            ))  # fmt: skip
        out = func(*args, **kwargs)
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):  # .to() may return its input itself
                self.unplaced.add(t) if unplaced else self.unplaced.discard(t)
        return out


class _TensorSet:
    """A set of tensors by identity that does not keep them alive (a WeakSet compares tensors
    with ``==``, which is elementwise)."""

    def __init__(self):
        self._refs = {}

    def add(self, t):
        self._refs[id(t)] = weakref.ref(t)

    def discard(self, t):
        self._refs.pop(id(t), None)

    def __contains__(self, t):
        ref = self._refs.get(id(t))
        return ref is not None and ref() is t


_INDEXING = (torch.Tensor.__getitem__, torch.Tensor.__setitem__)


def _copy(value):
    """A copy of the call's arguments for a second run: tensors cloned (leaves keep
    ``requires_grad``), generators with the same state, modules deep-copied."""
    def one(x):
        if isinstance(x, torch.Tensor):
            return x.detach().clone().requires_grad_(x.requires_grad)
        if isinstance(x, torch.Generator):
            return torch.Generator(x.device).set_state(x.get_state())
        if isinstance(x, torch.nn.Module):
            return copy.deepcopy(x)
        return x

    return tree_map(one, value)


def _run(fn, args, kwargs, what, watch):
    try:
        with watch:
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{what}: the function is not implemented yet") from None
    except AssertionError:
        raise
    except Exception as err:
        raise AssertionError(f"{what}: raised {type(err).__name__}: {err}") from None


def call(fn, *args, what: str, stay_on_device: bool = False, forbid=(), by_hand: bool = False,
         probe_device: bool = False, **kwargs):
    """Call the student's function; turn a crash into an AssertionError naming the case, and
    fail if the call patched what the checks rely on or returned a disguised tensor or number.
    The rules the instructions promise (see the module's docstring) are opt-in:
    ``forbid`` (names of functions not to call), ``by_hand`` (no autograd), ``probe_device``
    (no tensor made without ``device=``) and ``stay_on_device`` (no GPU -> CPU round trip)."""
    guard = _guard  # read before the student's code runs: it may rebind the module's names
    copies = _copy((args, kwargs)) if probe_device else None
    watch = Watch(forbid, by_hand) if forbid or by_hand else contextlib.nullcontext()
    trips = CpuRoundTrips() if stay_on_device and _on_gpu(args, kwargs) else contextlib.nullcontext()
    with trips:
        result = _run(fn, args, kwargs, what, watch)
    if guard is not None:
        guard.check_untouched(what)
    if isinstance(watch, Watch):
        watch.verdict(what)
    expect_plain(result, what)
    if getattr(trips, "found", None):
        raise AssertionError(
            f"{what}: copied GPU tensors to the CPU on the way ({', '.join(sorted(set(trips.found)))}); "
            "compute on the input's device: no .cpu(), .numpy() or .tolist() round trips"
        )
    if copies is not None:
        expect_device_respected(fn, *copies[0], what=what, **copies[1])
    return result


def expect_device_respected(fn, *args, what: str, **kwargs):
    """Run ``fn`` once more with tensors made without ``device=`` landing on ``meta``: it must
    neither fail nor return a tensor off its inputs' device."""
    hint = (
        "a tensor was made without device= (torch.zeros, torch.ones, torch.arange, "
        "torch.tensor([...]) ...), which lands on the CPU when the inputs are on a GPU; "
        "pass device=x.device, or use zeros_like/ones_like"
    )
    try:
        with UnplacedOnMeta() as probe:
            result = fn(*args, **kwargs)
            if inspect.isgenerator(result):  # a generator function: its batches are the result
                result = list(result)  # run its body under the probe too
        leaves = [t for t in tree_leaves(result) if isinstance(t, torch.Tensor)]
    except Exception as err:
        raise AssertionError(f"{what}: {hint} (with the default device changed, it raised "
                             f"{type(err).__name__}: {str(err)[:200]})") from None
    if probe.mixed is not None:
        raise AssertionError(f"{what}: {hint} ({probe.mixed} mixed it with the inputs' device)")
    if any(t in probe.unplaced for t in leaves):
        raise AssertionError(
            f"{what}: returned a tensor made without device= (torch.tensor(number), or drawn "
            "from a CPU generator), which stays on the CPU when the inputs are on a GPU; "
            "pass device=x.device or move it with .to(x.device)"
        )
    if any(t.device.type == "meta" for t in leaves):
        raise AssertionError(f"{what}: {hint} (the result landed on another device)")
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


# -- the global random state (torch, Python, NumPy) -----------------------------------------
# For exercises that take a generator: the check saves and restores the state around the
# student's code, and tells whether the code reseeded or drew from the global generators.


def global_rng_state():
    return torch.get_rng_state(), random.getstate(), np.random.get_state()


def set_global_rng_state(state) -> None:
    torch.set_rng_state(state[0])
    random.setstate(state[1])
    np.random.set_state(state[2])


def reseed_globally(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def same_global_rng_state(before, after) -> bool:
    numpy_same = all(
        np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
        for a, b in zip(before[2], after[2], strict=True)
    )
    return torch.equal(before[0], after[0]) and before[1] == after[1] and numpy_same
