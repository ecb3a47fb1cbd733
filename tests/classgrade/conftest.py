"""Fixtures of the class command's tests: the fixture course, made once per
session with nbgrader's generate_assignment, and a fresh copy per test."""

import shutil

import nbformat
import pytest
from classgrade.fixture_course import master_notebook

from autograder.classgrade.app import run_nbgrader_app


@pytest.fixture(scope="session")
def template_course(tmp_path_factory):
    from nbgrader.apps.generateassignmentapp import GenerateAssignmentApp

    root = tmp_path_factory.mktemp("template") / "course"
    (root / "source" / "one_neuron").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "fixture"\nc.Execute.timeout = 120\n'
    )
    nbformat.write(master_notebook(), root / "source/one_neuron/one_neuron.ipynb")
    run_nbgrader_app(GenerateAssignmentApp, root, ["one_neuron"])
    return root


@pytest.fixture
def course(template_course, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(template_course, root)
    return root
