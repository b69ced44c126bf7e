"""The conda/Binder environment and the Makefile install the same pinned packages."""

import re

import yaml

from autograder.course import ROOT


def test_environment_yml_uses_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert python == "python=3.11" and "-r requirements.lock" in pip
    assert "requirements-nodeps.txt" in (ROOT / "postBuild").read_text()


def test_lock_pins_every_direct_requirement():
    lock = {
        re.split(r"==", line)[0].lower().replace("_", "-"): line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = re.split(r"[=<>\[ ]", line.strip())[0].lower().replace("_", "-")
        if name and not name.startswith("#"):
            assert name in lock, f"{name} is in requirements.txt but not pinned in requirements.lock"
    assert lock["torch"] == "torch==2.14.1" and lock["torchvision"] == "torchvision==0.29.1"
