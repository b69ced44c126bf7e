import pytest
import torch

from dlcourse.gradcheck import check_gradient, finite_difference_grad, relative_error


def f(x):
    return (x**3).sum()


def test_finite_differences_match_the_derivative():
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    assert relative_error(finite_difference_grad(f, x), 3 * x**2) < 1e-8


def test_check_gradient_accepts_right_and_rejects_wrong():
    x = torch.randn(5, dtype=torch.float64)
    assert check_gradient(f, x, 3 * x**2) < 1e-6
    with pytest.raises(AssertionError, match="relative error"):
        check_gradient(f, x, 2 * x**2)


def test_relative_error_needs_equal_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(torch.zeros(2), torch.zeros(3))


def test_finite_differences_of_a_transposed_tensor():
    x = torch.arange(6.0).reshape(2, 3).T
    grad = finite_difference_grad(lambda t: (t**2).sum(), x)
    assert torch.allclose(grad, 2 * x.double(), atol=1e-6)
