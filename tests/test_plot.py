import torch

from dlcourse.plot import LivePlot, show_images


def test_live_plot_keeps_every_curve():
    plot = LivePlot(ylim=(0, 1))
    plot.add(1, train_loss=0.9, test_acc=0.5)
    plot.add(2, train_loss=0.4, test_acc=0.7)
    assert plot.series["test_acc"] == ([1, 2], [0.5, 0.7])
    labels = [line.get_label() for line in plot.axes.get_lines()]
    assert labels == ["train_loss", "test_acc"]


def test_live_plot_range_grows_to_fit_every_value():
    plot = LivePlot(ylim=(0, 1.05))
    plot.add(1, train_loss=2.85, test_acc=0.1)
    bottom, top = plot.axes.get_ylim()
    assert bottom == 0 and top > 2.85
    plot = LivePlot(ylim=(0, 1.05))
    plot.add(1, test_acc=0.5)
    assert plot.axes.get_ylim() == (0, 1.05)


def test_show_images_draws_a_titled_grid():
    axes = show_images(torch.rand(6, 1, 28, 28), 2, 3, titles=list("abcdef"))
    assert len(axes) == 6 and axes[5].get_title() == "f"
