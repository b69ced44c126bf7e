"""The ch16 hidden checks pass the reference optimizers and fail realistic mistakes."""

import math
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch.optim.adam import adam as functional_adam

from autograder.checks import ch16_optimizers as checks
from autograder.checks.ch16_optimizers import (
    check_AdaGrad,
    check_Adam,
    check_Momentum,
    check_RMSprop,
    check_SGD,
)
from tests.notebooks import solution_namespace

# A realistic wrong submission for the end-to-end grading test (tests/test_grading_chapters.py):
# Adam without the bias correction.
WRONG_SUBMISSION = {
    "Adam": '''class Adam(torch.optim.Optimizer):
    """Adam with bias correction, step for step equal to torch.optim.Adam(params, lr, betas, eps)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if lr < 0.0:
            raise ValueError(f"invalid learning rate: {lr}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                m, v = state["m"], state["v"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.addcdiv_(m, v.sqrt() + group["eps"], value=-group["lr"])
        return loss
'''
}

NAMES = ["SGD", "Momentum", "AdaGrad", "RMSprop", "Adam"]
CHECKS = {
    "SGD": check_SGD, "Momentum": check_Momentum, "AdaGrad": check_AdaGrad,
    "RMSprop": check_RMSprop, "Adam": check_Adam,
}  # fmt: skip


@pytest.fixture(scope="module")
def reference():
    return solution_namespace("ch16_optimizers")


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(reference, name):
    CHECKS[name](reference[name])


@pytest.mark.parametrize("name", NAMES)
def test_update_rules_used_for_diagnosis_match_torch(name):
    """The functional rules that name mistakes are themselves right (else the hints would lie)."""
    spec = checks.SPECS[name]
    for dtype in (torch.float64, torch.float32):
        for number, kwargs in enumerate(spec.settings):
            params0, grads = checks._scenario(100 + number, dtype, torch.device("cpu"))
            reference = checks._make_reference(spec, checks._leaves(params0), kwargs)
            expected = checks._run_steps(
                reference, reference.param_groups[0]["params"], grads, "torch", forbid=()
            )
            simulated = checks._simulate(spec.rule, {**spec.defaults, **kwargs}, params0, grads)
            assert checks._paths_match(simulated, expected, checks.TOLERANCE[dtype])
            for options, hint in spec.mistakes:  # and every mistake is visibly different
                wrong = checks._simulate(spec.rule, {**spec.defaults, **kwargs}, params0, grads, **options)
                assert not checks._paths_match(wrong, expected, checks.MATCH_TOLERANCE[dtype]), hint


# ---------------------------------------------------------------------------------------------
# Wrong versions share the reference skeleton; each overrides the one thing it gets wrong.


class _Loop(torch.optim.Optimizer):
    """The loop of the reference solutions; subclasses define update(p, g, state, group)."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, self.state[p], group)
        return loss


class _SGD(_Loop):
    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))


class _Momentum(_Loop):
    def __init__(self, params, lr, momentum=0.9):
        super().__init__(params, dict(lr=lr, momentum=momentum))


class _AdaGrad(_Loop):
    def __init__(self, params, lr, eps=1e-10):
        super().__init__(params, dict(lr=lr, eps=eps))


class _RMSprop(_Loop):
    def __init__(self, params, lr, alpha=0.99, eps=1e-8):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps))


class _Adam(_Loop):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))


def not_implemented(base):
    class NotImplementedYet(base):
        def step(self, closure=None):
            raise NotImplementedError()

    return NotImplementedYet


# --- SGD ---


class SGDUphill(_SGD):
    def update(self, p, g, state, group):
        p.add_(g, alpha=group["lr"])


class SGDCrashesOnNone(_SGD):
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.add_(p.grad, alpha=-group["lr"])


class SGDWithoutNoGrad(_SGD):
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p -= group["lr"] * p.grad


class SGDRebindsLocalName(_SGD):
    def update(self, p, g, state, group):
        return p - group["lr"] * g  # a new tensor that nobody uses


class SGDIgnoresClosure(_SGD):
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])


class SGDClosureWithoutEnableGrad(_SGD):
    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
        return loss


class SGDBrokenZeroGrad(_SGD):
    def update(self, p, g, state, group):
        p.add_(g, alpha=-group["lr"])

    def zero_grad(self, set_to_none=True):
        pass


class SGDScalesGradInPlace(_SGD):
    def update(self, p, g, state, group):
        g.mul_(group["lr"])  # the caller's p.grad is now lr * g
        p.sub_(g)


class SGDDelegatesToTorch(_SGD):
    """Right iterates, but torch.optim.SGD does the work."""

    def __init__(self, params, lr):
        super().__init__(params, lr)
        self.inner = torch.optim.SGD(self.param_groups, lr=lr)

    @torch.no_grad()
    def step(self, closure=None):
        return self.inner.step(closure)


class SGDThroughCPU(_SGD):
    def update(self, p, g, state, group):
        p.data = p.data.cpu() - group["lr"] * g.cpu()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (SGDUphill, "uphill"),
        (SGDCrashesOnNone, "p.grad is None"),
        (SGDWithoutNoGrad, "torch.no_grad"),
        (SGDRebindsLocalName, "did not change the parameters"),
        (SGDIgnoresClosure, "return the loss"),
        (SGDClosureWithoutEnableGrad, "enable_grad"),
        (SGDBrokenZeroGrad, "zero_grad"),
        (SGDScalesGradInPlace, "modified p.grad"),
        (SGDDelegatesToTorch, r"calls torch\.optim\.sgd\.sgd.*write yourself"),
        (not_implemented(_SGD), "not implemented"),
    ],
)
def test_sgd_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_SGD(wrong)


class SGDReadsDefaults(_SGD):
    def update(self, p, g, state, group):
        p.add_(g, alpha=-self.defaults["lr"])  # ignores the group's own lr


class SGDLearningRateAttribute(_SGD):
    def __init__(self, params, lr):
        super().__init__(params, lr)
        self.lr = lr

    def update(self, p, g, state, group):
        p.add_(g, alpha=-self.lr)


class AdamInherited(torch.optim.Adam):
    pass


class MomentumInherited(torch.optim.SGD):
    def __init__(self, params, lr, momentum=0.9):
        super().__init__(params, lr=lr, momentum=momentum)


@pytest.mark.parametrize(
    ("check", "wrong"),
    [(check_SGD, SGDReadsDefaults), (check_SGD, SGDLearningRateAttribute)],
)
def test_one_learning_rate_for_all_groups_fails(check, wrong):
    with pytest.raises(AssertionError, match=r"second parameter group.*group\['lr'\]"):
        check(wrong)


@pytest.mark.parametrize(
    ("check", "wrong"), [(check_Adam, AdamInherited), (check_Momentum, MomentumInherited)]
)
def test_inheriting_torch_step_fails(check, wrong):
    with pytest.raises(AssertionError, match="write step"):
        check(wrong)


def test_sgd_cpu_round_trip_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_SGD(SGDThroughCPU)


# --- Momentum ---


class MomentumBufferRecreated(_Momentum):
    def update(self, p, g, state, group):
        v = torch.zeros_like(p)  # a new buffer every step
        v.mul_(group["momentum"]).add_(g)
        p.add_(v, alpha=-group["lr"])


class MomentumBufferInAttribute(_Momentum):
    def __init__(self, params, lr, momentum=0.9):
        super().__init__(params, lr, momentum)
        self.velocities = {}  # not in self.state: state_dict() cannot see it

    def update(self, p, g, state, group):
        v = self.velocities.setdefault(p, torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g)
        p.add_(v, alpha=-group["lr"])


class MomentumDampened(_Momentum):
    def update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g, alpha=1 - group["momentum"])
        p.add_(v, alpha=-group["lr"])


class MomentumNoneAsZero(_Momentum):
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                v = self.state[p].setdefault("v", torch.zeros_like(p))
                v.mul_(group["momentum"]).add_(g)
                p.add_(v, alpha=-group["lr"])


class MomentumStateOnCPU(_Momentum):
    def update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros(p.shape, dtype=p.dtype))  # on the CPU
        v.mul_(group["momentum"]).add_(g)
        p.add_(v, alpha=-group["lr"])


class MomentumUphill(_Momentum):
    def update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g)
        p.add_(v, alpha=group["lr"])


class MomentumNotesForm(_Momentum):
    """Accepted: the notes' m <- gamma m + lr g, p <- p - m gives the same iterates."""

    def update(self, p, g, state, group):
        m = state.setdefault("m", torch.zeros_like(p))
        m.mul_(group["momentum"]).add_(g, alpha=group["lr"])
        p.sub_(m)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (MomentumBufferRecreated, "not kept between steps"),
        (MomentumBufferInAttribute, "load_state_dict"),
        (MomentumDampened, r"without a \(1 - momentum\) factor"),
        (MomentumNoneAsZero, "had no gradient"),
        (MomentumUphill, "uphill"),
        (not_implemented(_Momentum), "not implemented"),
    ],
)
def test_momentum_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_Momentum(wrong)


def test_momentum_in_the_notes_form_passes():
    check_Momentum(MomentumNotesForm)


def test_momentum_state_on_cpu_fails_on_gpu(cuda_device):
    with pytest.raises(AssertionError, match="device"):
        check_Momentum(MomentumStateOnCPU)


def test_state_made_without_device_fails_on_a_cpu_only_grader_too():
    """torch.zeros(p.shape) works on the CPU, and lands on the CPU next to a GPU parameter."""
    with pytest.raises(AssertionError, match=r"its state: a tensor was made without device=.*zeros_like"):
        check_Momentum(MomentumStateOnCPU)


class MomentumStateWithDevice(_Momentum):
    """Accepted: torch.zeros with the parameter's device and dtype."""

    def update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros(p.shape, dtype=p.dtype, device=p.device))
        v.mul_(group["momentum"]).add_(g)
        p.add_(v, alpha=-group["lr"])


def test_momentum_state_made_with_device_passes():
    check_Momentum(MomentumStateWithDevice)


# --- AdaGrad ---


class AdaGradNotAccumulating(_AdaGrad):
    def update(self, p, g, state, group):
        p.addcdiv_(g, (g * g).sqrt() + group["eps"], value=-group["lr"])


class AdaGradEpsInside(_AdaGrad):
    def update(self, p, g, state, group):
        s = state.setdefault("sum", torch.zeros_like(p))
        s.addcmul_(g, g)
        p.addcdiv_(g, (s + group["eps"]).sqrt(), value=-group["lr"])


class AdaGradSumsInList(_AdaGrad):
    def __init__(self, params, lr, eps=1e-10):
        super().__init__(params, lr, eps)
        self.sums = [torch.zeros_like(p) for group in self.param_groups for p in group["params"]]

    @torch.no_grad()
    def step(self, closure=None):
        params = [(p, group) for group in self.param_groups for p in group["params"]]
        for (p, group), s in zip(params, self.sums, strict=True):
            if p.grad is not None:
                s.addcmul_(p.grad, p.grad)
                p.addcdiv_(p.grad, s.sqrt() + group["eps"], value=-group["lr"])


class AdaGradDividesGradInPlace(_AdaGrad):
    def update(self, p, g, state, group):
        s = state.setdefault("sum", torch.zeros_like(p))
        s.addcmul_(g, g)
        g.div_(s.sqrt() + group["eps"])  # reuses p.grad as scratch space
        p.add_(g, alpha=-group["lr"])


class AdaGradStateWithoutDevice(_AdaGrad):
    def update(self, p, g, state, group):
        s = state.setdefault("sum", torch.zeros(p.shape, dtype=p.dtype))
        s.addcmul_(g, g)
        p.addcdiv_(g, s.sqrt() + group["eps"], value=-group["lr"])


class AdaGradOutOfPlace(_AdaGrad):
    """Accepted: plain arithmetic instead of addcmul_/addcdiv_."""

    def update(self, p, g, state, group):
        state["sum"] = state.get("sum", 0) + g**2
        p -= group["lr"] * g / (torch.sqrt(state["sum"]) + group["eps"])


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (AdaGradNotAccumulating, "must accumulate"),
        (AdaGradEpsInside, "after the square root"),
        (AdaGradSumsInList, "load_state_dict"),
        (AdaGradDividesGradInPlace, "modified p.grad"),
        (AdaGradStateWithoutDevice, "without device="),
        (not_implemented(_AdaGrad), "not implemented"),
    ],
)
def test_adagrad_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_AdaGrad(wrong)


def test_adagrad_with_plain_arithmetic_passes():
    check_AdaGrad(AdaGradOutOfPlace)


# --- RMSprop ---


class RMSpropAlphaSwapped(_RMSprop):
    def update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(1 - group["alpha"]).addcmul_(g, g, value=group["alpha"])
        p.addcdiv_(g, v.sqrt() + group["eps"], value=-group["lr"])


class RMSpropEpsInside(_RMSprop):
    def update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
        p.addcdiv_(g, (v + group["eps"]).sqrt(), value=-group["lr"])


class RMSpropAverageForgotten(_RMSprop):
    def update(self, p, g, state, group):
        v = (1 - group["alpha"]) * g * g  # a fresh average every step
        p.addcdiv_(g, v.sqrt() + group["eps"], value=-group["lr"])


class RMSpropStateWithoutDevice(_RMSprop):
    def update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros(p.shape, dtype=p.dtype))
        v.mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
        p.addcdiv_(g, v.sqrt() + group["eps"], value=-group["lr"])


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (RMSpropStateWithoutDevice, "without device="),
        (RMSpropAlphaSwapped, "swapped"),
        (RMSpropEpsInside, "after the square root"),
        (RMSpropAverageForgotten, "not kept between steps"),
        (not_implemented(_RMSprop), "not implemented"),
    ],
)
def test_rmsprop_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_RMSprop(wrong)


# --- Adam ---


class _AdamVariant(_Adam):
    """Adam with switches for the typical mistakes."""

    bias_correction, eps_inside, swap_betas, first_t, direction = True, False, False, 1, -1

    def update(self, p, g, state, group):
        beta1, beta2 = reversed(group["betas"]) if self.swap_betas else group["betas"]
        if not state:
            state.update(step=self.first_t - 1, m=torch.zeros_like(p), v=torch.zeros_like(p))
        t = state["step"] = state["step"] + 1
        t = self.t if hasattr(self, "t") else t
        m, v = state["m"], state["v"]
        m.mul_(beta1).add_(g, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        m_hat, v_hat = (m / (1 - beta1**t), v / (1 - beta2**t)) if self.bias_correction else (m, v)
        denom = (v_hat + group["eps"]).sqrt() if self.eps_inside else v_hat.sqrt() + group["eps"]
        p.addcdiv_(m_hat, denom, value=self.direction * group["lr"])


class AdamUphill(_AdamVariant):
    direction = 1


class AdamWithoutBiasCorrection(_AdamVariant):
    bias_correction = False


class AdamEpsInside(_AdamVariant):
    eps_inside = True


class AdamBetasSwapped(_AdamVariant):
    swap_betas = True


class AdamCountsFromZero(_AdamVariant):
    first_t = 0


class AdamGlobalStepCount(_AdamVariant):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr, betas, eps)
        self.t = 0  # one counter for all parameters

    def step(self, closure=None):
        self.t += 1
        return super().step(closure)


class AdamForgetsState(_AdamVariant):
    def update(self, p, g, state, group):
        state.clear()  # m, v and t start over every step
        super().update(p, g, state, group)


class AdamWeightDecayOnGrad(_AdamVariant):
    """Weight decay added to p.grad in place, as many hand-written optimizers do; with a decay
    of 0 the iterates are right, and p.grad is still written."""

    weight_decay = 0.0

    def update(self, p, g, state, group):
        g.add_(p, alpha=self.weight_decay)
        super().update(p, g, state, group)


class AdamScalesGradInPlace(_AdamVariant):
    def update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
        state["step"] += 1
        t = state["step"]
        state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        state["m"].mul_(beta1).add_(g.mul_(1 - beta1))  # p.grad becomes (1 - beta1) g
        m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
        p.addcdiv_(m_hat, v_hat.sqrt() + group["eps"], value=-group["lr"])


class AdamFunctional(_Adam):
    """Right iterates, from torch.optim's functional Adam."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if not self.state[p]:
                    self.state[p].update(step=torch.tensor(0.0), m=torch.zeros_like(p), v=torch.zeros_like(p))
            states = [self.state[p] for p in params]
            beta1, beta2 = group["betas"]
            functional_adam(
                params,
                [p.grad for p in params],
                [s["m"] for s in states],
                [s["v"] for s in states],
                [],
                [s["step"] for s in states],
                foreach=False,
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
            )


class AdamStateWithoutDevice(_AdamVariant):
    def update(self, p, g, state, group):
        if not state:
            state.update(step=0, m=torch.zeros(p.shape, dtype=p.dtype), v=torch.zeros(p.shape, dtype=p.dtype))
        super().update(p, g, state, group)


class AdamTensorStepCount(_Adam):
    """Accepted: the step count as a float32 tensor (as torch.optim.Adam keeps it), used as is,
    so that 1 - beta**t is computed in float32 even for float64 parameters."""

    def update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=torch.tensor(0.0), m=torch.zeros_like(p), v=torch.zeros_like(p))
        state["step"] += 1
        t = state["step"]
        m, v = state["m"], state["v"]
        m.mul_(beta1).add_(g, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        p.addcdiv_(m_hat, v_hat.sqrt() + group["eps"], value=-group["lr"])


class AdamTorchStyle(_Adam):
    """Accepted: torch.optim.Adam's own arrangement of the arithmetic, with a tensor step."""

    def update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        state["step"] += 1
        t = state["step"].item()
        state["exp_avg"].lerp_(g, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])
        p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1**t))


class AdamFusedOperator(_Adam):
    """Right iterates, from the fused kernel reached as an aten operator."""

    def update(self, p, g, state, group):
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=torch.zeros((), device=p.device), m=torch.zeros_like(p), v=torch.zeros_like(p))
        state["step"] += 1
        torch.ops.aten._fused_adam_(
            [p], [g], [state["m"]], [state["v"]], [], [state["step"]], lr=group["lr"], beta1=beta1,
            beta2=beta2, weight_decay=0.0, eps=group["eps"], amsgrad=False, maximize=False,
        )  # fmt: skip


class AdamInAThread(_Adam):
    """Right iterates, from a torch.optim.Adam sharing the state and stepped in a worker thread,
    out of sight of the watches, which follow the calling thread."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        inner = torch.optim.Adam([torch.zeros(1, requires_grad=True)], foreach=False)
        for group in self.param_groups:
            for key, value in inner.defaults.items():
                group.setdefault(key, value)
            group["foreach"] = False
        inner.param_groups, inner.state = self.param_groups, self.state
        with ThreadPoolExecutor(1) as pool:
            pool.submit(inner.step).result()
        return loss


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (AdamWithoutBiasCorrection, "bias correction is missing"),
        (AdamEpsInside, "after the square root"),
        (AdamBetasSwapped, "betas are swapped"),
        (AdamCountsFromZero, "Count t from 1"),
        (AdamGlobalStepCount, "per parameter"),
        (AdamForgetsState, "not kept between steps"),
        (AdamUphill, "uphill"),
        (AdamWeightDecayOnGrad, "modified p.grad"),
        (AdamScalesGradInPlace, "modified p.grad"),
        (AdamFunctional, r"calls torch\.optim\.adam\.adam.*write yourself"),
        (AdamFusedOperator, r"calls aten\._fused_adam_.*write yourself"),
        (AdamInAThread, "starts a thread"),
        (AdamStateWithoutDevice, "without device="),
        (not_implemented(_Adam), "not implemented"),
    ],
)
def test_adam_mistakes_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_Adam(wrong)


def test_adam_in_torch_style_passes():
    check_Adam(AdamTorchStyle)


def test_adam_with_a_float32_tensor_step_count_passes():
    check_Adam(AdamTensorStepCount)


def test_a_float32_tensor_step_count_needs_the_looser_float64_tolerance():
    """The acceptance above is no accident: in float64 this correct Adam misses the tolerance
    of the other optimizers, and the mistakes stay far outside Adam's."""
    spec = checks.SPECS["Adam"]
    params0, grads = checks._scenario(100, torch.float64, torch.device("cpu"))
    reference = checks._make_reference(spec, checks._leaves(params0), {})
    expected = checks._run_steps(reference, reference.param_groups[0]["params"], grads, "torch", forbid=())
    params = checks._leaves(params0)
    actual = checks._run_steps(AdamTensorStepCount(params), params, grads, "tensor step")
    assert not checks._paths_match(actual, expected, checks.TOLERANCE[torch.float64])
    assert checks._paths_match(actual, expected, spec.tolerance(torch.float64))


def test_wrong_submission_fails_adam():
    namespace = {"torch": torch}
    exec(WRONG_SUBMISSION["Adam"], namespace)
    with pytest.raises(AssertionError, match="bias correction is missing"):
        check_Adam(namespace["Adam"])
