"""Do environment.yml (conda) and pyproject.toml (pip) list the same dependencies?"""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Packages that only one of the two installers needs: conda provides the
# interpreter, pip and the system sandbox; pip installs the package itself.
CONDA_ONLY = {"python", "pip", "bubblewrap"}
# conda's psycopg ships libpq; pip needs the binary wheel for it.
PIP_ONLY = {"psycopg-binary"}


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_pins():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        requirements += extra
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", requirement.strip())
        assert match, f"pyproject.toml: pin {requirement!r} exactly (name==version)"
        pins[_normalise(match[1])] = match[2]
    return pins


def _conda_pins():
    pins = {}
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        match = re.fullmatch(r"  - ([A-Za-z0-9_.-]+)(?:=([^=\s]+))?\s*", line)
        if in_deps and match:
            pins[_normalise(match[1])] = match[2]
    return pins


def test_same_packages_and_versions():
    pip_pins = _pyproject_pins()
    conda_pins = {n: v for n, v in _conda_pins().items() if n not in CONDA_ONLY}
    assert conda_pins == {n: v for n, v in pip_pins.items() if n not in PIP_ONLY}


def test_conda_environment_pins_every_package():
    unpinned = [n for n, v in _conda_pins().items() if v is None and n != "pip"]
    assert unpinned == [], f"environment.yml: pin a version for {unpinned}"


def test_installed_versions_match_the_pins():
    """Does the running venv hold what pyproject.toml pins (so CI tests what we ship)?"""
    from importlib.metadata import version

    mismatched = {
        name: (pin, version(name))
        for name, pin in _pyproject_pins().items()
        if version(name) != pin
    }
    assert mismatched == {}
