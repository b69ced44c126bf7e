"""Small tabular datasets as plain files under the data root, checked by SHA-256.

``dataset_file("diabetes", "diabetes.csv.gz")`` returns the path of the seed course's diabetes
CSV, ``dataset_file("titanic", "train.csv")`` Kaggle's Titanic training set. A file that is in
place with the right checksum is used as it is; a missing one is downloaded once from the pinned
commit its ``SOURCE.md`` names (on Colab, say). Offline, copy ``../shared/data/<name>/`` into the
data root (``make data`` does) or point ``$DLCOURSE_DATA`` at a folder that has it.

The chapters read the files with their usual readers (``np.loadtxt``, ``pandas.read_csv``);
this module only finds and checks them, like torchvision does for its archives.
"""

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

DATA_ENV = "DLCOURSE_DATA"

_RAW = "https://raw.githubusercontent.com"
# name -> file -> (sha256, URL of the pinned copy described in the data's SOURCE.md)
FILES = {
    "diabetes": {
        "diabetes.csv.gz": (
            "398214d0f6b7f4a722f598d8e424f28bc078abbd16ebdeea0f8e264492325aa4",
            f"{_RAW}/hunkim/PyTorchZeroToAll/e5a260fac0b4ff1e2ec434fc6f0d962ac97fc289/data/diabetes.csv.gz",
        ),
    },
    "titanic": {
        name: (digest, f"{_RAW}/sebastianlueders/Titanic-Survivor-Prediction-Model/"
                       f"158c5f4d7f2af6c838991dceb9de3c244990a989/titanic/{name}")
        for name, digest in (
            ("train.csv", "7d118fef8b6ccf7f81111877bc388536f7b1e498a655e3d649d19aaa010e9f6f"),
            ("test.csv", "56023b9948236f3c7a1c9448fcf418b283e109ef177fa8c7e069158dd7dd52b2"),
            ("gender_submission.csv", "7a262a7f4cb807f53911dccc84257ed3976b21b7b50ffc468b58446bff8bb6a4"),
        )
    },
}


def data_root() -> Path:
    """:func:`dlcourse.data.data_root`, without importing torchvision (tested equal)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlcourse"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _known(name: str, file: str) -> tuple[str, str]:
    if name not in FILES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(FILES)}")
    if file not in FILES[name]:
        raise ValueError(f"{name} has no file {file!r}; choose one of {sorted(FILES[name])}")
    return FILES[name][file]


def problems(root: Path, name: str) -> list[str]:
    """What is missing or corrupt among the files of dataset ``name`` under ``root``
    (``[]``: all in place). The grader runs this before grading: its kernels have no network."""
    if name not in FILES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(FILES)}")
    folder = Path(root) / name
    bad = []
    for file, (digest, _) in FILES[name].items():
        path = folder / file
        if not path.is_file():
            bad.append(f"{file} missing")
        elif sha256(path) != digest:
            bad.append(f"{file} corrupt (SHA-256 mismatch)")
    return [f"{name}: {', '.join(bad)} in {folder}"] if bad else []


def dataset_file(name: str, file: str, download: bool = True) -> Path:
    """The path of ``file`` of dataset ``name`` under :func:`~dlcourse.data.data_root`, checked
    against its SHA-256; downloaded first (with ``download``) when missing or corrupt."""
    digest, url = _known(name, file)
    path = data_root() / name / file
    if path.is_file() and sha256(path) == digest:
        return path
    state = "corrupt (SHA-256 mismatch)" if path.exists() else "missing"
    if not download:
        raise FileNotFoundError(f"{path} is {state}; copy it from ../shared/data/{name}/ or set {DATA_ENV}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{file}.", delete=False) as tmp:
        partial = Path(tmp.name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, tmp)
        except OSError as err:
            tmp.close()
            partial.unlink()
            raise RuntimeError(
                f"{path} is {state} and could not be downloaded from {url} ({err}). Without internet, "
                f"copy ../shared/data/{name}/ there, or point {DATA_ENV} at a folder that has {name}/{file}."
            ) from err
    if sha256(partial) != digest:
        partial.unlink()
        raise RuntimeError(f"the download of {url} does not have the expected SHA-256; not using it")
    partial.replace(path)
    return path
