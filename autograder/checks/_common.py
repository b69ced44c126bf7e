"""Helpers shared by the chapter checks: devices to test on and comparisons with clear messages."""

import torch


def devices() -> list[torch.device]:
    """CPU always, and CUDA when a GPU is present."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def call(fn, *args, what: str, **kwargs):
    """Call the student's function; turn a crash into an AssertionError naming the case."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise AssertionError(f"{what}: the function is not implemented yet") from None
    except AssertionError:
        raise
    except Exception as err:
        raise AssertionError(f"{what}: raised {type(err).__name__}: {err}") from None


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
