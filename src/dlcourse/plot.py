"""Figures for the notebooks: live training curves and image grids."""

import matplotlib.pyplot as plt


def _ipython_display():
    """IPython's ``display`` when running inside a kernel, else None (plain scripts, pytest)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    return display if get_ipython() is not None else None


class LivePlot:
    """Curves that redraw in place as points arrive, e.g. one point per epoch.

    In JupyterLab and Colab the figure is replaced through a display handle, so the cell shows one
    figure that grows; a notebook saved after the run (and so the book's static page) keeps the
    final figure. Outside a kernel nothing is displayed; ``plot.figure`` still holds the figure.
    ``ylim`` is the range shown at least: it grows to fit a value outside it (a loss above 1 on
    an accuracy-sized axis stays on the chart).
    """

    def __init__(self, xlabel="epoch", ylabel=None, xlim=None, ylim=None, figsize=(5, 3.5)):
        self.figure, self.axes = plt.subplots(figsize=figsize)
        plt.close(self.figure)  # shown through the handle only, not again at the end of the cell
        self.xlabel, self.ylabel, self.xlim, self.ylim = xlabel, ylabel, xlim, ylim
        self.series: dict[str, tuple[list, list]] = {}
        self._handle = None

    def add(self, x, **values):
        """Append the point ``(x, value)`` to each named curve and redraw."""
        for name, value in values.items():
            xs, ys = self.series.setdefault(name, ([], []))
            xs.append(x)
            ys.append(float(value))
        self._redraw()

    def _redraw(self):
        ax = self.axes
        ax.cla()
        for name, (xs, ys) in self.series.items():
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=name)
        ax.set_xlabel(self.xlabel)
        if self.ylabel:
            ax.set_ylabel(self.ylabel)
        if self.xlim:
            ax.set_xlim(self.xlim)
        if self.ylim:
            bottom, top = self.ylim
            values = [y for _, ys in self.series.values() for y in ys] or [bottom]
            margin = 0.05 * (max(values + [top]) - min(values + [bottom]))
            low, high = min(values), max(values)
            ax.set_ylim(bottom if low >= bottom else low - margin, top if high <= top else high + margin)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
        display = _ipython_display()
        if display is None:
            return
        if self._handle is None:
            self._handle = display(self.figure, display_id=True)
        else:
            self._handle.update(self.figure)


def show_images(images, num_rows, num_cols, titles=None, scale=1.5):
    """A grid of images (N, H, W) or (N, 1, H, W), with optional titles; returns the axes.

    This is D2L's ``show_images``; single-channel images are squeezed and moved to the CPU first.
    """
    from d2l import torch as d2l

    images = [img.detach().cpu().squeeze(0) if hasattr(img, "detach") else img for img in images]
    if len(images) > num_rows * num_cols:
        images = images[: num_rows * num_cols]
    return d2l.show_images(images, num_rows, num_cols, titles=titles, scale=scale)
