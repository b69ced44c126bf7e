"""dlcourse.tabular: the CSV datasets (diabetes, titanic) found, checked and fetched by SHA-256."""

import io
import shutil
import urllib.error

import pytest

from autograder import datasets
from dlcourse import data, tabular


def test_data_root_is_the_one_of_dlcourse_data(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    assert tabular.data_root() == data.data_root() == tmp_path
    monkeypatch.delenv("DLCOURSE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert tabular.data_root() == data.data_root()


@pytest.mark.parametrize("name", sorted(tabular.FILES))
def test_the_shared_files_are_in_place(name, data_root):
    assert tabular.problems(data_root, name) == []
    for file in tabular.FILES[name]:
        path = tabular.dataset_file(name, file, download=False)
        assert path == data_root / name / file and path.is_file()


def test_missing_and_corrupt_files_are_named_and_never_used(monkeypatch, tmp_path, data_root):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    (problem,) = tabular.problems(tmp_path, "diabetes")
    assert "diabetes.csv.gz missing" in problem and str(tmp_path / "diabetes") in problem
    with pytest.raises(FileNotFoundError, match="missing"):
        tabular.dataset_file("diabetes", "diabetes.csv.gz", download=False)
    (tmp_path / "titanic").mkdir()
    for file in tabular.FILES["titanic"]:
        shutil.copyfile(data_root / "titanic" / file, tmp_path / "titanic" / file)
    with open(tmp_path / "titanic" / "train.csv", "r+b") as f:
        f.write(b"X")
    (problem,) = tabular.problems(tmp_path, "titanic")
    assert "train.csv corrupt" in problem and "test.csv" not in problem
    with pytest.raises(FileNotFoundError, match="corrupt"):
        tabular.dataset_file("titanic", "train.csv", download=False)


def test_a_missing_file_is_downloaded_and_checked(monkeypatch, tmp_path, data_root):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    payload = (data_root / "diabetes" / "diabetes.csv.gz").read_bytes()
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(tabular.urllib.request, "urlopen", fake_urlopen)
    path = tabular.dataset_file("diabetes", "diabetes.csv.gz")
    assert path.read_bytes() == payload and urls == [tabular.FILES["diabetes"]["diabetes.csv.gz"][1]]
    tabular.dataset_file("diabetes", "diabetes.csv.gz")  # in place: not downloaded again
    assert len(urls) == 1

    payload = b"not the file"
    (tmp_path / "diabetes" / "diabetes.csv.gz").unlink()
    with pytest.raises(RuntimeError, match="SHA-256"):
        tabular.dataset_file("diabetes", "diabetes.csv.gz")
    assert list((tmp_path / "diabetes").iterdir()) == []  # nothing half-written is left


def test_offline_the_error_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tabular.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="DLCOURSE_DATA"):
        tabular.dataset_file("titanic", "train.csv")
    assert list((tmp_path / "titanic").iterdir()) == []


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown dataset"):
        tabular.dataset_file("iris", "iris.csv")
    with pytest.raises(ValueError, match="no file"):
        tabular.dataset_file("titanic", "titanic.csv")


def test_the_grader_checks_tabular_datasets(tmp_path, data_root):
    assert datasets.problems(data_root, ["diabetes", "titanic"]) == []
    (missing,) = datasets.problems(tmp_path, ["diabetes"])
    assert missing.startswith("diabetes: diabetes.csv.gz missing")
