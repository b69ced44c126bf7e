"""The grader's protected first cell: runs inside the student's kernel before any student code.

The grader sends this file's source into the kernel (``autograder.guard.protected_cell``); it is
not imported by the grader itself, only by the unit tests. It

1. loads the hidden checks from source text held in memory (no check file exists in the
   sandbox, so ``inspect.getsource`` finds nothing to print), with a private copy of the
   builtins so that replacing ``builtins.abs`` cannot change what a check computes;
2. imports torch and the other modules the checks rely on before the student's files are
   importable (the kernel starts in an empty folder);
3. takes a snapshot of what the checks rely on: the attributes of builtins, math, torch,
   torch.nn.functional, torch.testing... and of torch.Tensor, nn.Module and the other torch.nn /
   torch.optim classes; the code of every Python function among them; the ``sys.modules``
   entries of those modules and of the checks.

Every test cell then runs through :func:`run_test`: put the snapshot back (undoing any
monkeypatching done before the test), drop torch function modes and tracing hooks, run the
test's code in a namespace with the private builtins, check that nothing was patched while it
ran (``autograder.checks._common.call`` also checks after each call of the student's function),
and print a per-test random token that tells the grader the test ran to its end.

What this does not stop: code written against the grader itself (walking stack frames into the
check, rewriting the guard's functions, ctypes). The grader runs the student's code and the
checks in one process; only a separate process for the checks would stop that.
"""

import builtins
import importlib
import importlib.abc
import importlib.util
import linecache
import os
import sys
import types

MISSING = object()

# Modules whose attributes the checks use, directly or through torch's own Python code.
PROTECTED_MODULES = (
    "builtins", "math", "cmath", "operator", "functools", "itertools", "numbers", "copy",
    "random", "numpy", "torch", "torch._C", "torch._C._nn", "torch._C._linalg",
    "torch._C._special", "torch._C._fft", "torch._tensor", "torch.functional", "torch.overrides",
    "torch.random", "torch.cuda", "torch.nn", "torch.nn.functional", "torch.nn.init",
    "torch.nn.modules.module", "torch.nn.parameter", "torch.testing", "torch.testing._comparison",
    "torch.linalg", "torch.special", "torch.fft", "torch.autograd", "torch.autograd.grad_mode",
    "torch.autograd.functional", "torch.optim", "torch.optim.optimizer", "torch.utils.data",
    "torch.library",
)  # fmt: skip
# Imported before the snapshot because importing them rebinds torch functions: torch._dynamo,
# which torch.optim imports lazily when the first Adam is created, wraps torch.manual_seed.
SIDE_EFFECT_MODULES = ("torch._dynamo",)
# Modules whose classes (torch.nn.Linear, torch.optim.SGD...) are protected attribute by attribute.
CLASS_MODULES = ("torch.nn", "torch.optim", "torch.utils.data", "torch.autograd")
# Set and removed by IPython around every cell: not the student's doing.
IPYTHON_BUILTINS = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__"}
# torch's global module hooks: any hook the student registers is removed before a test.
GLOBAL_HOOKS = (
    "_global_backward_pre_hooks", "_global_backward_hooks", "_global_forward_pre_hooks",
    "_global_forward_hooks", "_global_forward_hooks_with_kwargs",
    "_global_forward_hooks_always_called", "_global_module_registration_hooks",
    "_global_parameter_registration_hooks", "_global_buffer_registration_hooks",
)  # fmt: skip


class SourceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports modules from source text held in memory: ``{name: (is_package, source)}``."""

    def __init__(self, sources, private_builtins):
        self.sources = dict(sources)
        self.builtins = private_builtins

    def find_spec(self, name, path=None, target=None):
        if name not in self.sources:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=self.sources[name][0])

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        _, source = self.sources[module.__name__]
        module.__builtins__ = self.builtins
        exec(compile(source, f"<hidden {module.__name__}>", "exec", dont_inherit=True), module.__dict__)


class Snapshot:
    """What the checks rely on, and how to verify and restore it."""

    def __init__(self, modules, classes, private_builtins):
        self.private_builtins = private_builtins
        self.dicts = []  # (label, dict, keys, values)
        for module in modules:
            items = [(k, v) for k, v in vars(module).items()
                     if not (module is builtins and k in IPYTHON_BUILTINS)]  # fmt: skip
            self.dicts.append((module.__name__, vars(module), *_unzip(items)))
        items = [(k, v) for k, v in private_builtins.items() if k not in IPYTHON_BUILTINS]
        self.dicts.append(("builtins", private_builtins, *_unzip(items)))
        self.classes = []  # (label, class, keys, values)
        for cls in classes:
            self.classes.append((f"{cls.__module__}.{cls.__qualname__}", cls, *_unzip(vars(cls).items())))
        self.functions = []  # (label, function, code, defaults, kwdefaults copy)
        seen = set()
        for label, _, keys, values in self.dicts + self.classes:
            for key, value in zip(keys, values, strict=True):
                value = getattr(value, "__func__", value)  # classmethod, staticmethod
                if isinstance(value, types.FunctionType) and id(value) not in seen:
                    seen.add(id(value))
                    kwdefaults = value.__kwdefaults__
                    self.functions.append((f"{label}.{key}", value, value.__code__, value.__defaults__,
                                           dict(kwdefaults) if kwdefaults else kwdefaults))  # fmt: skip
        self.modules = {m.__name__: m for m in modules if sys.modules.get(m.__name__) is m}
        self.meta_path, self.path_hooks = list(sys.meta_path), list(sys.path_hooks)
        self.recursion_limit = sys.getrecursionlimit()
        import torch

        self.torch = torch
        self.default_dtype = torch.get_default_dtype()
        hooks = sys.modules["torch.nn.modules.module"]
        self.hooks = [(name, getattr(hooks, name)) for name in GLOBAL_HOOKS if hasattr(hooks, name)]
        self.impls = self._operator_overrides()

    @staticmethod
    def _operator_overrides():
        """Kernels registered with torch.library for PyTorch's own operators (``aten``), other
        than shape-only (Meta) ones: libraries such as torchvision register their own namespaces."""
        library = sys.modules.get("torch.library")
        impls = getattr(library, "_impls", ())
        return {i for i in impls if i.startswith("aten/") and not i.endswith("/Meta")}

    def changed(self):
        """Names of what differs from the snapshot (empty when nothing was patched)."""
        found = []
        for label, d, keys, values in self.dicts:
            get = d.get
            for key, value in zip(keys, values, strict=True):
                if get(key, MISSING) is not value:
                    found.append(f"{label}.{key}")
        for label, cls, keys, values in self.classes:
            d = vars(cls)
            for key, value in zip(keys, values, strict=True):
                if d.get(key, MISSING) is not value:
                    found.append(f"{label}.{key}")
            if len(d) != len(keys):
                found += [f"{label}.{key}" for key in set(d).difference(keys)]
        for label, fn, code, defaults, kwdefaults in self.functions:
            if fn.__code__ is not code or fn.__defaults__ is not defaults or fn.__kwdefaults__ != kwdefaults:
                found.append(f"{label} (its code)")
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                found.append(f"sys.modules[{name!r}]")
        if sys.meta_path != self.meta_path or sys.path_hooks != self.path_hooks:
            found.append("the import system (sys.meta_path)")
        torch = self.torch
        if torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack():
            found.append("torch's dispatch (an active TorchFunctionMode or TorchDispatchMode)")
        if any(hooks for _, hooks in self.hooks):
            found.append("torch.nn's global module hooks")
        if self._operator_overrides() != self.impls:
            found.append("a PyTorch operator (a torch.library registration for aten)")
        return found

    def restore(self):
        """Put back everything :meth:`changed` looks at (operator registrations excepted)."""
        for _, d, keys, values in self.dicts:
            for key, value in zip(keys, values, strict=True):
                if d.get(key, MISSING) is not value:
                    d[key] = value
        for _, cls, keys, values in self.classes:
            d = vars(cls)
            for key in set(d).difference(keys):
                try:
                    delattr(cls, key)
                except (AttributeError, TypeError):
                    pass
            for key, value in zip(keys, values, strict=True):
                if d.get(key, MISSING) is not value:
                    try:
                        setattr(cls, key, value)
                    except (AttributeError, TypeError):
                        pass
        for _, fn, code, defaults, kwdefaults in self.functions:
            if fn.__code__ is not code:
                fn.__code__ = code
            if fn.__defaults__ is not defaults:
                fn.__defaults__ = defaults
            if fn.__kwdefaults__ != kwdefaults:
                fn.__kwdefaults__ = dict(kwdefaults) if kwdefaults else kwdefaults
        for name, module in self.modules.items():
            sys.modules[name] = module
        sys.meta_path[:] = self.meta_path
        sys.path_hooks[:] = self.path_hooks
        sys.setrecursionlimit(self.recursion_limit)
        torch = self.torch
        while torch._C._len_torch_function_stack():
            torch._C._pop_torch_function_stack()
        while torch._C._len_torch_dispatch_stack():
            torch._C._pop_torch_dispatch_stack()
        for _, hooks in self.hooks:
            hooks.clear()
        torch.set_default_dtype(self.default_dtype)
        torch.set_grad_enabled(True)


def _unzip(items):
    items = list(items)
    return tuple(k for k, _ in items), tuple(v for _, v in items)


def _classes(modules):
    """The mutable classes the checks may use: torch.Tensor, torch.nn.Parameter, every class
    that torch.nn, torch.optim... export, and the classes the checks define."""
    import torch

    found = {torch.Tensor: None, torch.nn.Parameter: None}
    for module in modules:
        exported = module.__name__ in CLASS_MODULES or module.__name__.startswith("autograder")
        if not exported:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and (value.__module__ or "").startswith(("torch", "autograder")):
                found[value] = None
    mutable = []
    for cls in found:
        try:  # C types such as torch._C.TensorBase are immutable: nothing to protect
            cls.__dlcourse_probe__ = None
            delattr(cls, "__dlcourse_probe__")
        except (TypeError, AttributeError):
            continue
        mutable.append(cls)
    return mutable


def _hook_optimizer_steps(classes):
    """torch wraps an optimiser class's ``step`` for its profiler when the first instance is
    created (``Optimizer._patch_step_function``); wrap them now, as torch would, so that creating
    a torch.optim.SGD in a test is not taken for patching."""
    import torch

    optimizer = torch.optim.Optimizer
    for cls in classes:
        if issubclass(cls, optimizer) and not getattr(cls.step, "hooked", None):
            cls.step = optimizer.profile_hook_step(cls.step)
            cls.step.hooked = True


class Guard:
    """What the protected cell leaves behind, under a random name in the user namespace."""

    def __init__(self, snapshot, stdout):
        self.snapshot = snapshot
        self.stdout = stdout  # the kernel's own stdout, whatever the student does to sys.stdout
        self.getframe = sys._getframe
        self.settrace, self.setprofile = sys.settrace, sys.setprofile
        self.linecache = linecache.cache

    def check_untouched(self, what):
        """Called after each call of the student's code in a check: fail if it patched anything."""
        changed = self.snapshot.changed()
        if changed:
            self.snapshot.restore()
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            raise AssertionError(
                f"{what}: the code under test changed {shown}; the grader restored it and does "
                "not count this test. Do not replace library functions."
            )

    def run_test(self, name, source, token):
        """Run one test cell's code with the grader's state restored; print ``token`` at the end."""
        cell = self.getframe(1)
        self.linecache.pop(cell.f_code.co_filename, None)  # the cell's code: not for the student
        self.settrace(None)
        self.setprofile(None)
        self.snapshot.restore()
        namespace = dict(cell.f_globals)
        namespace["__builtins__"] = self.snapshot.private_builtins
        code = compile(source, f"<test {name}>", "exec", dont_inherit=True)
        # Tensor subclasses lose their __torch_function__ overrides during the test: one cannot
        # make torch.allclose or torch.equal answer True.
        with self.snapshot.torch._C.DisableTorchFunctionSubclass():
            exec(code, namespace)
        self.check_untouched(f"test {name}")
        self.stdout.write(f"\n{token}\n")
        self.stdout.flush()


def install(sources, preload, workdir=None):
    """Load the checks from ``sources``, snapshot, and return the :class:`Guard`.

    ``sources``: ``{module name: (is_package, source text)}``; ``preload``: the modules to
    import now (the checks the test cells use). Then change to ``workdir``, the notebook's folder.
    """
    private_builtins = dict(vars(builtins))
    saved_path = list(sys.path)
    here = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", here, workdir)]
    finder = SourceFinder(sources, private_builtins)
    sys.meta_path.insert(0, finder)
    try:
        modules = []
        for name in SIDE_EFFECT_MODULES + PROTECTED_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            if name in PROTECTED_MODULES:
                modules.append(module)
        for name in preload:
            importlib.import_module(name)
        modules += [sys.modules[name] for name in sorted(sources) if name in sys.modules]
    finally:
        sys.meta_path.remove(finder)
        finder.sources.clear()
        sys.path[:] = saved_path
    guard = Guard(None, sys.stdout)
    common = sys.modules.get("autograder.checks._common")
    if common is not None:
        common._guard = guard
    classes = _classes(modules)
    _hook_optimizer_steps(classes)
    guard.snapshot = Snapshot(modules, classes, private_builtins)
    if workdir:
        os.chdir(workdir)
    return guard
