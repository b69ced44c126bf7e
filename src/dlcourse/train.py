"""A training loop for classifiers, with a progress bar and a history of the curves.

It follows D2L's ``train_ch3``/``train_ch6``: the same loop works for a from-scratch model
(a function and a hand-written updater) and for an ``nn.Module`` with a ``torch.optim`` optimizer.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from dlcourse.plot import LivePlot


@dataclass
class History:
    """Per-epoch curves recorded by :func:`train`."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    def to_frame(self):
        """The history as a pandas DataFrame indexed by epoch (1, 2, ...)."""
        import pandas as pd

        frame = pd.DataFrame(vars(self))
        frame.index = range(1, len(frame) + 1)
        frame.index.name = "epoch"
        return frame


def _to(device, *tensors):
    return [t.to(device) for t in tensors] if device is not None else list(tensors)


class _Totals:
    """Running sums over batches: summed loss, correct predictions, examples seen."""

    def __init__(self):
        self.loss, self.correct, self.count = 0.0, 0, 0

    def add(self, mean_loss: torch.Tensor, y_hat: torch.Tensor, y: torch.Tensor):
        self.loss += float(mean_loss.detach()) * len(y)
        self.correct += int((y_hat.argmax(dim=-1) == y).sum())
        self.count += len(y)

    def means(self) -> tuple[float, float]:
        """Mean loss and accuracy so far."""
        if self.count == 0:
            raise ValueError("the data iterator yielded no examples")
        return self.loss / self.count, self.correct / self.count


@torch.no_grad()
def evaluate(net: Callable, data_iter: Iterable, loss: Callable, device=None) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` over ``data_iter``, in evaluation mode."""
    was_training = isinstance(net, nn.Module) and net.training
    if isinstance(net, nn.Module):
        net.eval()
    totals = _Totals()
    for X, y in data_iter:
        X, y = _to(device, X, y)
        y_hat = net(X)
        totals.add(loss(y_hat, y).mean(), y_hat, y)
    if was_training:
        net.train()
    return totals.means()


def train(
    net: Callable,
    train_iter: Iterable,
    test_iter: Iterable,
    loss: Callable,
    num_epochs: int,
    updater,
    device=None,
    plot: bool = True,
) -> History:
    """Train a classifier for ``num_epochs`` and return its :class:`History`.

    ``loss(y_hat, y)`` may return per-example losses or their mean; the mean is minimised.
    ``updater`` is a ``torch.optim.Optimizer``, or a function of no arguments that updates the
    parameters from their ``.grad`` and zeroes the gradients (the from-scratch way).
    ``device``: where to train; an ``nn.Module`` is moved there, scratch parameters must be there.
    With ``plot`` the curves are drawn live, one point per epoch.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    if isinstance(net, nn.Module) and device is not None:
        net.to(device)
    history = History()
    live = LivePlot(xlim=(0.8, num_epochs + 0.2), ylim=(0, 1.05)) if plot else None
    steps = num_epochs * len(train_iter)
    with tqdm(total=steps, desc="training", unit="batch") as bar:
        for epoch in range(1, num_epochs + 1):
            if isinstance(net, nn.Module):
                net.train()
            totals = _Totals()
            for X, y in train_iter:
                X, y = _to(device, X, y)
                y_hat = net(X)
                batch_loss = loss(y_hat, y).mean()
                if isinstance(updater, torch.optim.Optimizer):
                    updater.zero_grad()
                    batch_loss.backward()
                    updater.step()
                else:
                    batch_loss.backward()
                    updater()
                totals.add(batch_loss, y_hat, y)
                bar.update()
            train_loss, train_acc = totals.means()
            test_loss, test_acc = evaluate(net, test_iter, loss, device)
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
            bar.set_postfix(loss=f"{train_loss:.3f}", test_acc=f"{test_acc:.3f}")
            if live is not None:
                live.add(
                    epoch,
                    train_loss=history.train_loss[-1],
                    train_acc=history.train_acc[-1],
                    test_acc=test_acc,
                )
    return history
