"""Verdict attacks: submissions built from the release that try to gain points or harm
others, with the scores they must get (those of the same answers without the tampering).
Shared by test_tamper_verdicts.py (plain autograde) and test_tamper_class_command.py."""

import copy

from integration.graded_course import POINTS, REFERENCE_ANSWERS, grade_id
from nbformat.v4 import new_code_cell
from nbgrader_helpers import ROOT

ZERO = {name: 0.0 for name in POINTS}
STUB_SIGMOID = "def sigmoid(x):\n    raise NotImplementedError()\n"

IPYTHON_HOOKS = (
    STUB_SIGMOID
    + """
import sys
ip = get_ipython()
# every later cell becomes `pass`, so no visible or hidden test can fail in the kernel
ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"])
ip.input_transformers_post.append(lambda lines: ["pass\\n"])
def _forget_errors(result):
    result.error_in_exec = None
ip.events.register("post_run_cell", _forget_errors)
ip.events.register("pre_run_cell", lambda info: None)
ip.showtraceback = lambda *args, **kwargs: None
sys.excepthook = lambda *args: None
"""
)

ALWAYS_EQUAL = '''
class Anything(float):
    """Equal to everything, of any length, convertible to anything."""
    def __new__(cls):
        return float.__new__(cls, 0.5)
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = float.__hash__
    def __len__(self):
        return 4
    def __getitem__(self, index):
        return self
    def __iter__(self):
        return iter([self] * 4)
    def __array__(self, dtype=None, copy=None):
        return np.full(4, 0.5)

def random_sample(X, y, fraction=0.8):
    return Anything()

def BCELoss(x, y, eps=1e-5):
    return [Anything()]

def backprop(net, x, y, lr=0.01):
    net.w, net.b = Anything(), Anything()

class Liar(np.ndarray):
    """An ndarray subclass that claims to equal anything it is compared with."""
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
    def __array_function__(self, func, types, args, kwargs):
        return True
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.ones(np.shape(inputs[0]), dtype=bool)

def sigmoid(x):
    return np.zeros(np.shape(x)).view(Liar)
'''

BUILTINS_PATCH = (
    STUB_SIGMOID
    + '''
import builtins
class _Never(Exception):
    pass
_isinstance = builtins.isinstance
def _lenient_isinstance(obj, cls):
    """True for any check against numpy types, honest otherwise (the kernel keeps working)."""
    classes = cls if type(cls) is tuple else (cls,)
    if any(getattr(c, "__module__", "").startswith("numpy") for c in classes):
        return True
    return _isinstance(obj, cls)
builtins.isinstance = _lenient_isinstance
builtins.AssertionError = _Never
'''
)

NUMPY_PATCH = """
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
np.array_equal = lambda *args, **kwargs: True

def sigmoid(x):
    return np.zeros(np.shape(x))
"""

FAKE_CHECKS = (
    STUB_SIGMOID
    + """
import os, sys, types
names = ["check_random_sample", "check_sigmoid_values", "check_sigmoid_stability",
         "check_bce_loss", "check_backprop", "check_final_accuracy"]
fake = types.ModuleType("autograder.assignment.checks")
for name in names:
    setattr(fake, name, lambda *args, **kwargs: None)
package = types.ModuleType("autograder")
package.__path__ = []
package.checks = fake
sys.modules["autograder"] = package
sys.modules["autograder.assignment.checks"] = fake
os.makedirs("autograder", exist_ok=True)
open("autograder/__init__.py", "w").close()
with open("autograder/checks.py", "w") as handle:
    handle.write("def __getattr__(name):\\n    return lambda *args, **kwargs: None\\n")
sys.path.insert(0, os.getcwd())
"""
)

STEAL = '''
import glob, json, sqlite3

def _steal():
    """Solutions from the grader's files: the reference module, the master, the gradebook."""
    stolen = {{"np": np}}
    try:
        import autograder.assignment.reference as ref
        return vars(ref)
    except ImportError:
        pass
    for path in [{root!r} + "/autograder/assignment/reference.py"] + glob.glob(
        "/work/*/autograder/assignment/reference.py"):
        try:
            exec(open(path).read(), stolen)
            return stolen
        except OSError:
            pass
    for path in [{course!r} + "/source/one_neuron/one_neuron.ipynb",
                 {root!r} + "/source/one_neuron/one_neuron.ipynb"]:
        try:
            notebook = json.load(open(path))
        except OSError:
            continue
        for cell in notebook["cells"]:
            if cell["metadata"].get("nbgrader", {{}}).get("solution"):
                exec("".join(cell["source"]), stolen)
        return stolen
    try:
        database = sqlite3.connect("file:" + {course!r} + "/gradebook.db?mode=ro", uri=True)
        for (source,) in database.execute("SELECT source FROM source_cell"):
            if "def " in source:
                exec(source, stolen)
        return stolen
    except sqlite3.Error:
        return stolen

STOLEN = _steal()
random_sample = STOLEN.get("random_sample")
sigmoid = STOLEN.get("sigmoid")
BCELoss = STOLEN.get("BCELoss")
backprop = STOLEN.get("backprop")
'''

# An unstable sigmoid (nan for x > 709) whose cell, once it runs in the trusted worker, rewrites what the worker
# would report (warnings, numpy's error state, stderr, the wire codec's view of errors).
# Nothing the worker reports decides a verdict, so it keeps exactly that sigmoid's score.
SILENCE_THE_WORKER = """
def sigmoid(x):
    e = np.exp(x)
    return e / (1 + e)

import sys, warnings
warnings.simplefilter("ignore")
np.seterr(all="ignore")
_wire = sys.modules.get("wire")
if _wire is not None:  # inside the worker
    sys.stderr = open("/dev/null", "w")
    _encode = _wire.encode
    _wire.encode = lambda value, *args, **kwargs: _encode(
        np.nan_to_num(value) if isinstance(value, np.ndarray) else value, *args, **kwargs)
"""

KILL_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"


def _cell(nb, name):
    (cell,) = [c for c in nb.cells if grade_id(c) == name]
    return cell


def _set_points(nb):
    _cell(nb, "test_backprop").metadata.nbgrader["points"] = 1000
    return nb


def _rename_graded_cell(nb):
    cell = _cell(nb, "test_sigmoid_values")
    cell.metadata.nbgrader["grade_id"] = "test_sigmoid_values_mine"
    cell.source = "pass"
    return nb


def _duplicate_graded_cell(nb):
    cell = _cell(nb, "test_bce_loss")
    index = nb.cells.index(cell)
    for offset in (0, 2):
        twin = copy.deepcopy(cell)
        twin.source = "pass"
        nb.cells.insert(index + offset, twin)
    return nb


def _add_graded_cell(nb):
    bonus = new_code_cell("print('бонус')")
    bonus.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "bonus",
        "points": 1000,
        "schema_version": 3,
    }
    nb.cells.append(bonus)
    twin = new_code_cell("pass")  # a second cell claiming an existing graded id
    twin.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": False,
        "grade_id": "net",
        "points": 1000,
        "schema_version": 3,
    }
    nb.cells.insert(1, twin)
    return nb


def _delete_graded_cells(nb):
    nb.cells = [c for c in nb.cells if grade_id(c) not in POINTS]
    return nb


def _graded_cells_to_markdown(nb):
    for cell in nb.cells:
        if grade_id(cell) in POINTS:
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return nb


def _answer_cell_graded(nb):
    meta = _cell(nb, "sigmoid").metadata.nbgrader
    meta.update(grade=True, points=100)
    return nb


def _kill_kernel_at_end(nb):
    nb.cells.append(new_code_cell(KILL_KERNEL))
    return nb


def _kill_kernel_in_answer(nb):
    _cell(nb, "random_sample").source += "\n" + KILL_KERNEL
    return nb


def steal_answers(course):
    """The theft payload aimed at this course's files."""
    return STEAL.format(root=str(ROOT), course=str(course))


# name -> (answers, notebook edit, expected scores)
SCENARIOS = {
    "ipython_input_transformers_events_excepthook": ({"sigmoid": IPYTHON_HOOKS}, None, ZERO),
    "objects_equal_to_everything_and_lying_ndarray": ({"sigmoid": ALWAYS_EQUAL}, None, ZERO),
    "builtins_isinstance_and_AssertionError": ({"sigmoid": BUILTINS_PATCH}, None, ZERO),
    "numpy_assert_allclose_allclose_isclose": ({"sigmoid": NUMPY_PATCH}, None, ZERO),
    "fake_autograder_checks_module_and_package": ({"sigmoid": FAKE_CHECKS}, None, ZERO),
    "read_solutions_gradebook_import_grader": ("steal", None, ZERO),
    "points_1000_on_a_test_cell": (REFERENCE_ANSWERS, _set_points, POINTS),
    "grade_id_of_a_test_cell_changed": ({}, _rename_graded_cell, ZERO),
    "test_cell_duplicated": ({}, _duplicate_graded_cell, ZERO),
    "graded_cells_added": ({}, _add_graded_cell, ZERO),
    "test_cells_deleted": (REFERENCE_ANSWERS, _delete_graded_cells, POINTS),
    "test_cells_turned_markdown": ({}, _graded_cells_to_markdown, ZERO),
    "answer_cell_made_graded_100_points": (REFERENCE_ANSWERS, _answer_cell_graded, POINTS),
    "kernel_killed_after_correct_answers": (REFERENCE_ANSWERS, _kill_kernel_at_end, POINTS),
    "kernel_killed_in_answer_cell": ({}, _kill_kernel_in_answer, ZERO),
    "worker_silenced_from_an_answer_cell": (
        dict(REFERENCE_ANSWERS, sigmoid=SILENCE_THE_WORKER),
        None,
        dict(POINTS, test_sigmoid_stability=0.0),
    ),
}
