"""nbgrader set-up shared by the coordinator and the grading tasks: the course's
app, in-process nbgrader sub-commands and the sandbox check."""

from __future__ import annotations

import os
from pathlib import Path

from autograder.classgrade.results import GradeClassError


def make_app(course_dir: Path, log_level: str = "WARN"):
    """An initialised ``AutogradeApp``: loads the course's nbgrader_config.py
    exactly as ``nbgrader autograde`` run in ``course_dir`` does.

    The root is also put into the app's config, so that preprocessors building
    their own ``CourseDirectory(config=...)`` see this course, not the cwd. A
    configuration that fails to load raises (nbgrader only logs it and grades
    with its defaults: no sandbox, no trusted verdicts)."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    course_dir = Path(course_dir).resolve()
    cwd = os.getcwd()
    os.chdir(course_dir)
    try:
        app = AutogradeApp(raise_config_file_errors=True)
        try:
            app.initialize([f"--log-level={log_level}", f"--CourseDirectory.root={course_dir}"])
        except Exception as exc:
            raise GradeClassError(
                f"{course_dir / 'nbgrader_config.py'}: cannot load: {type(exc).__name__}: {exc}"
            ) from exc
    finally:
        os.chdir(cwd)
    app.coursedir.root = str(course_dir)
    return app


def check_sandbox(app, unsafe: bool) -> None:
    """Refuse to start (rather than fail every notebook) when the course's
    pipeline runs kernels in the sandbox and bubblewrap cannot run here."""
    config = app.config.Autograde
    preprocessors = config.autograde_preprocessors if "autograde_preprocessors" in config else []
    if "SandboxedExecute" not in {getattr(p, "__name__", str(p)) for p in preprocessors}:
        return
    from autograder.sandbox import bubblewrap as sandbox

    try:
        sandbox.require_sandbox(True if unsafe else None)
    except sandbox.SandboxUnavailableError as exc:
        raise GradeClassError(str(exc)) from exc


def run_nbgrader_app(app_class, course_dir: Path, argv: list[str]) -> None:
    """Run an nbgrader app in-process in course_dir (no 6 s CLI start-up per call)."""
    cwd = os.getcwd()
    os.chdir(course_dir)
    try:
        app = app_class()
        app.initialize(["--log-level=WARN", *argv])
        app.start()
    except SystemExit as exc:  # nbgrader apps call sys.exit on failure
        if exc.code not in (0, None):
            raise GradeClassError(f"nbgrader {app_class.name} failed (see the log above)") from exc
    finally:
        os.chdir(cwd)
        app_class.clear_instance()
