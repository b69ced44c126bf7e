"""Numerical gradient checking: compare a hand-derived gradient with finite differences.

torch.autograd.gradcheck does this for whole functions with autograd; these helpers check a
gradient you computed *by hand*, which is what the backpropagation chapters need.
"""

import torch


def finite_difference_grad(f, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Central-difference gradient of a scalar function ``f`` at ``x`` (computed in float64).

    Costs two evaluations of ``f`` per element of ``x``: use it on small tensors only.
    """
    # A contiguous copy: a transposed x keeps its strides under .clone() and .view(-1) fails.
    x = x.detach().to(torch.float64).clone(memory_format=torch.contiguous_format)
    grad = torch.empty_like(x)
    flat, grad_flat = x.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            original = flat[i].item()
            flat[i] = original + h
            up = float(f(x))
            flat[i] = original - h
            down = float(f(x))
            flat[i] = original
            grad_flat[i] = (up - down) / (2 * h)
    return grad


def relative_error(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> float:
    """max |a - b| / max(|a|, |b|): about 1e-7 or less in float64 means the gradients agree."""
    a, b = a.detach().to(torch.float64).cpu(), b.detach().to(torch.float64).cpu()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    scale = torch.maximum(a.abs().max(), b.abs().max()).clamp_min(eps)
    return float((a - b).abs().max() / scale)


def check_gradient(f, x: torch.Tensor, grad: torch.Tensor, h: float = 1e-6, tol: float = 1e-6):
    """Raise ``AssertionError`` unless ``grad`` matches ``f``'s finite-difference gradient at ``x``.

    Returns the relative error, so a notebook can print it.
    """
    error = relative_error(grad, finite_difference_grad(f, x, h))
    if error > tol:
        raise AssertionError(f"gradient differs from finite differences: relative error {error:.2e}")
    return error
