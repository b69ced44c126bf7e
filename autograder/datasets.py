"""The datasets an assignment needs, checked before grading.

The students' kernels have no network, so a dataset missing from the data root (or corrupt)
makes every cell that loads it fail, and the scores meaningless. Each source notebook lists the
datasets it loads in its metadata, ``dlcourse.datasets``: torchvision dataset names as
``dlcourse.data.image_dataset`` takes them, or the tabular ones of ``dlcourse.tabular``
(``[]`` for none).

``python -m autograder.datasets ROOT NAME...`` prints, as JSON, what keeps each dataset from
loading offline from ROOT (``[]``: all in place). The grader runs it as a process of its own,
which keeps torch out of the grading process.
"""

import json
import sys
from pathlib import Path

import nbformat


def needed(notebook: Path) -> list[str]:
    """The datasets a source notebook loads (its metadata ``dlcourse.datasets``)."""
    meta = nbformat.read(notebook, as_version=4).metadata.get("dlcourse", {})
    if "datasets" not in meta:
        raise ValueError(f"{notebook} does not say which datasets it loads: add the notebook "
                         "metadata dlcourse.datasets, e.g. [\"FashionMNIST\"] ([] for none)")  # fmt: skip
    return list(meta["datasets"])


def problems(root: Path, names: list[str]) -> list[str]:
    """What keeps torchvision's loader (as ``dlcourse.data`` calls it, ``download=True``) from
    loading each dataset from ``root`` without network; ``[]`` when every one is in place."""
    import torchvision.datasets
    from torchvision.datasets.utils import check_integrity

    from dlcourse import tabular  # CSV files (diabetes, titanic), checked by SHA-256

    found = []
    for name in names:
        if name in tabular.FILES:
            found += tabular.problems(root, name)
            continue
        loader = getattr(torchvision.datasets, name, None)
        if not (isinstance(loader, type) and issubclass(loader, torchvision.datasets.MNIST)):
            found.append(f"{name}: not a dataset the grader knows how to check")
            continue
        raw = root / name / "raw"
        # The loader uses the extracted files when all are there (MNIST._check_exists); else it
        # "downloads" every archive, which offline works only when each archive's MD5 matches.
        if all(check_integrity(str(raw / Path(file).stem)) for file, _ in loader.resources):
            continue
        bad = [f"{file} {'corrupt (MD5 mismatch)' if (raw / file).exists() else 'missing'}"
               for file, md5 in loader.resources if not check_integrity(str(raw / file), md5)]  # fmt: skip
        if bad:
            found.append(f"{name}: {', '.join(bad)} in {raw}")
    return found


def fetch_code(names: list[str]) -> str:
    """Python that downloads the datasets into the data root, for a machine with internet."""
    from dlcourse import tabular  # only on this error path: dlcourse imports torch

    calls = []
    for name in names:
        if name in tabular.FILES:
            calls += [f"tabular.dataset_file({name!r}, {file!r})" for file in tabular.FILES[name]]
        else:
            calls.append(f"data.image_dataset({name!r}, True)")
    return "from dlcourse import data, tabular; " + "; ".join(calls)


def main(argv=None) -> int:
    root, *names = argv if argv is not None else sys.argv[1:]
    print(json.dumps(problems(Path(root), names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
