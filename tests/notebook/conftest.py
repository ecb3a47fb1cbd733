"""Fixtures of the notebook tests: the master, and the tools that read it (tools/ is not a package)."""

import importlib.util
import sys
from types import ModuleType

import nbformat
import pytest
from nbgrader_helpers import ROOT, SOURCE_NOTEBOOK


def load_tool(name: str) -> ModuleType:
    """Import tools/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sync_reference() -> ModuleType:
    return load_tool("sync_reference")


@pytest.fixture(scope="session")
def check_master() -> ModuleType:
    return load_tool("check_master")


@pytest.fixture
def master() -> nbformat.NotebookNode:
    """A fresh copy of the committed master notebook (tests may change it)."""
    return nbformat.read(SOURCE_NOTEBOOK, as_version=4)
