import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlcourse.train import History, evaluate, train


def blobs(n=200, seed=0):
    """Two well-separated Gaussian blobs: any working training loop learns them."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    X = torch.randn(n, 2, generator=g) + 4 * y[:, None] - 2
    return DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, generator=g)


def test_train_module_with_optimizer():
    torch.manual_seed(0)
    net = nn.Linear(2, 2)
    history = train(net, blobs(), blobs(seed=1), nn.CrossEntropyLoss(), 3,
                    torch.optim.SGD(net.parameters(), lr=0.1), plot=False)
    assert len(history.train_loss) == len(history.test_acc) == 3
    assert history.test_acc[-1] > 0.95
    assert history.train_loss[-1] < history.train_loss[0]


def test_train_from_scratch_with_hand_written_updater():
    W = torch.zeros(2, 2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)

    def net(X):
        return X @ W + b

    def updater():
        with torch.no_grad():
            for p in (W, b):
                p -= 0.1 * p.grad
                p.grad.zero_()

    loss = nn.CrossEntropyLoss(reduction="none")  # per-example losses are averaged by train()
    history = train(net, blobs(), blobs(seed=1), loss, 2, updater, plot=True)
    assert history.test_acc[-1] > 0.95


def test_history_as_table():
    frame = History([1.0, 0.5], [0.5, 0.8], [1.1, 0.6], [0.4, 0.7]).to_frame()
    assert list(frame.index) == [1, 2] and frame.loc[2, "test_acc"] == 0.7


def test_evaluate_restores_training_mode():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    net.train()
    _, acc = evaluate(net, blobs(), nn.CrossEntropyLoss())
    assert net.training and 0 <= acc <= 1


def test_bad_arguments_are_explained():
    net = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="num_epochs"):
        train(net, blobs(), blobs(), nn.CrossEntropyLoss(), 0, None)
    with pytest.raises(ValueError, match="no examples"):
        evaluate(net, [], nn.CrossEntropyLoss())
