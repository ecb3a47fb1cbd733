"""Build the master notebook ``source/one_neuron/one_neuron.ipynb``.

The text and the given code live here; the solution cells and the read-only
model cell are injected from ``autograder.assignment.reference`` (the single source of
truth), so the notebook cannot drift from the reference. The committed master is
exactly what ``render()`` returns (``tests/test_notebook_sync.py`` checks it).

    python tools/build_master.py           # write the master
    python tools/build_master.py --check   # exit 1 if the committed master differs
"""

import argparse
import ast
import inspect
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.assignment import reference
from autograder.assignment.checks import CHECKS
from fixtures.catalog import POINTS

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "source" / "one_neuron" / "one_neuron.ipynb"

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"

# Graded test cells and their points: the catalog's table (one source for the notebook,
# the demo and the tests); whole points are written as integers, as nbgrader shows them.
TEST_POINTS = {
    grade_id: int(points) if float(points).is_integer() else points
    for grade_id, points in POINTS.items()
}


def hidden_call(grade_id):
    """(check name, call arguments) of a test cell's hidden part, from checks.CHECKS."""
    check, names = CHECKS[grade_id]
    arguments = names[0] if len(names) == 1 else ", ".join(f"{n}={n}" for n in names)
    return check.__name__, arguments


# Answer cells: grade_id -> reference function.
ANSWERS = {
    "random_sample": reference.random_sample,
    "sigmoid": reference.sigmoid,
    "bce_loss": reference.BCELoss,
    "backprop": reference.backprop,
}


def reference_source(obj):
    """Source of a reference object, without the trailing newline."""
    return inspect.getsource(obj).rstrip("\n")


def solution_source(function):
    """The reference function with its body (after the docstring) between the
    solution markers, so the release keeps the signature and the docstring."""
    source = reference_source(function)
    node = ast.parse(source).body[0]
    docstring_end = node.body[0].end_lineno
    lines = source.split("\n")
    indent = " " * node.body[0].col_offset
    return "\n".join(
        lines[:docstring_end]
        + [indent + BEGIN_SOLUTION]
        + lines[docstring_end:]
        + [indent + END_SOLUTION]
    )


def _metadata(grade_id, *, solution=False, grade=False, locked=True, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def md(grade_id, text):
    """Read-only markdown cell."""
    cell = new_markdown_cell(textwrap.dedent(text).strip("\n"), metadata=_metadata(grade_id))
    cell.id = grade_id
    return cell


def code(grade_id, source):
    """Read-only code cell."""
    cell = new_code_cell(textwrap.dedent(source).strip("\n"), metadata=_metadata(grade_id))
    cell.id = grade_id
    return cell


def answer(grade_id):
    """Autograded answer cell holding the reference solution."""
    cell = new_code_cell(
        solution_source(ANSWERS[grade_id]),
        metadata=_metadata(grade_id, solution=True, locked=False),
    )
    cell.id = grade_id
    return cell


def test(grade_id, visible):
    """Autograder test cell: visible sanity check, then the hidden check."""
    check, arguments = hidden_call(grade_id)
    source = (
        textwrap.dedent(visible).strip("\n")
        + "\n\n### BEGIN HIDDEN TESTS\n"
        + f"from autograder.assignment.checks import {check}\n"
        + f"{check}({arguments})\n"
        + "### END HIDDEN TESTS"
    )
    cell = new_code_cell(
        source, metadata=_metadata(grade_id, grade=True, points=TEST_POINTS[grade_id])
    )
    cell.id = grade_id
    return cell


# --------------------------------------------------------------------------
# Visible sanity checks (student-facing messages in Russian).
# --------------------------------------------------------------------------

VISIBLE_RANDOM_SAMPLE = r'''
# Видимая проверка random_sample: только быстрая самопроверка, оценку ставят скрытые тесты.
# Метки не отсортированы, классы разного размера: 15 элементов False и 5 элементов True.
rs_labels = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
rs_points = np.arange(20) * 0.5 - 4.75  # все значения разные: по ним видно, какие пары попали куда
rs_points_before, rs_labels_before = rs_points.copy(), rs_labels.copy()


def rs_rows(A):
    return [tuple(np.ravel(row).tolist()) for row in A]


def rs_check_split(parts, X, y, fraction):
    """Checks one split of (X, y): types, sizes, classes, disjoint and covering parts, pairs kept."""
    assert isinstance(parts, tuple) and len(parts) == 4, (
        "random_sample должна вернуть кортеж из четырёх массивов (X_train, X_test, y_train, y_test), "
        f"получено: {type(parts).__name__}"
    )
    assert all(isinstance(part, np.ndarray) for part in parts), (
        f"random_sample должна вернуть массивы numpy, получено: {[type(part).__name__ for part in parts]}"
    )
    X_tr, X_te, y_tr, y_te = parts
    classes, class_sizes = np.unique(y, return_counts=True)
    expected_train = {label.item(): int(fraction * size) for label, size in zip(classes, class_sizes)}
    n_train = sum(expected_train.values())
    sizes = [len(X_tr), len(X_te), len(y_tr), len(y_te)]
    expected_sizes = [n_train, len(y) - n_train, n_train, len(y) - n_train]
    assert sizes == expected_sizes, (
        f"fraction={fraction}, размеры классов {dict(zip(classes.tolist(), class_sizes.tolist()))}: длины "
        f"(X_train, X_test, y_train, y_test) = {sizes}, ожидалось {expected_sizes}. Проверьте порядок "
        "возвращаемых массивов и число элементов каждого класса в train: int(fraction * размер класса)."
    )
    assert X_tr.shape[1:] == X.shape[1:] and X_te.shape[1:] == X.shape[1:], (
        f"Для X формы {X.shape} получены X_train формы {X_tr.shape} и X_test формы {X_te.shape}: "
        "выбирайте строки X по индексам."
    )
    label_of = dict(zip(rs_rows(X), y.tolist()))
    assert sorted(rs_rows(X_tr) + rs_rows(X_te)) == sorted(label_of), (
        "train и test должны не пересекаться и вместе содержать каждый элемент X ровно один раз; "
        f"получены X_train={X_tr.tolist()}, X_test={X_te.tolist()}"
    )
    broken = [
        (row, label)
        for row, label in zip(rs_rows(X_tr) + rs_rows(X_te), y_tr.tolist() + y_te.tolist())
        if label_of[row] != label
    ]
    assert not broken, (
        f"Пары (x, y) разорваны: {broken[:3]}... X и y нужно выбирать по одним и тем же индексам."
    )
    got_train = {label.item(): int(np.sum(y_tr == label)) for label in classes}
    assert got_train == expected_train, (
        f"fraction={fraction}: в train по классам {got_train}, ожидалось {expected_train} "
        "(int(fraction * размер класса) из каждого класса). Метки могут идти в любом порядке, "
        "классов может быть больше двух, и они могут быть разного размера."
    )


np.random.seed(0)
rs_check_split(random_sample(rs_points, rs_labels, fraction=0.8), rs_points, rs_labels, 0.8)
rs_check_split(random_sample(rs_points, rs_labels, fraction=0.5), rs_points, rs_labels, 0.5)
assert np.array_equal(rs_points, rs_points_before) and np.array_equal(rs_labels, rs_labels_before), (
    "random_sample не должна изменять входные массивы X и y"
)
# X may be a matrix (n, d): rows are selected, columns kept.
rs_matrix = np.column_stack([rs_points, -rs_points])
rs_check_split(random_sample(rs_matrix, rs_labels, fraction=0.8), rs_matrix, rs_labels, 0.8)
# Three classes of sizes 10, 5 and 5.
rs_three = np.array([2, 0, 0, 1, 0, 2, 0, 1, 0, 0, 2, 1, 0, 2, 0, 1, 0, 2, 1, 0])
rs_check_split(random_sample(rs_points, rs_three, fraction=0.8), rs_points, rs_three, 0.8)

rs_splits = set()
for rs_seed in (1, 2, 3):
    np.random.seed(rs_seed)
    rs_splits.add(tuple(sorted(np.asarray(random_sample(rs_points, rs_labels, fraction=0.8)[0]).tolist())))
assert len(rs_splits) > 1, (
    "Три вызова random_sample дали одно и то же разбиение: элементы нужно выбирать случайно "
    "(например, np.random.permutation), без фиксированного seed внутри функции."
)
print("Видимые проверки random_sample пройдены.")
'''
VISIBLE_SIGMOID_VALUES = r"""
# Видимая проверка значений sigmoid: только быстрая самопроверка, оценку ставят скрытые тесты.
import math
import warnings


def sv_expected(values):
    return np.array([1.0 / (1.0 + math.exp(-v)) for v in np.ravel(values)]).reshape(np.shape(values))


with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    sv_scalar = sigmoid(0.0)
    sv_points = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    sv_points_before = sv_points.copy()
    sv_values = sigmoid(sv_points)
    sv_matrix = np.array([[-1.0, 0.0, 1.0], [3.0, -3.0, 0.25]])
    sv_matrix_values = sigmoid(sv_matrix)
    sv_integers = np.array([-2, 0, 2])
    sv_integer_values = sigmoid(sv_integers)

assert np.ndim(sv_scalar) == 0 and math.isclose(float(sv_scalar), 0.5), (
    f"sigmoid(0.0) должна вернуть число 0.5, получено {sv_scalar!r}"
)
assert np.shape(sv_values) == sv_points.shape, (
    f"sigmoid должна сохранять форму входа: для формы {sv_points.shape} получено {np.shape(sv_values)}"
)
assert np.allclose(sv_values, sv_expected(sv_points), rtol=1e-7, atol=0), (
    f"sigmoid({sv_points}) = {sv_values}, ожидалось {sv_expected(sv_points)}. "
    "Проверьте формулу 1 / (1 + exp(-x)): знак в показателе и множитель при x."
)
assert np.array_equal(sv_points, sv_points_before), "sigmoid не должна изменять входной массив"
assert np.shape(sv_matrix_values) == sv_matrix.shape and np.allclose(
    sv_matrix_values, sv_expected(sv_matrix), rtol=1e-7, atol=0
), (
    f"Для матрицы {sv_matrix.tolist()} получено {np.asarray(sv_matrix_values).tolist()}, "
    f"ожидалось {sv_expected(sv_matrix).tolist()}: форма и значения должны сохраняться."
)
assert np.allclose(sv_integer_values, sv_expected(sv_integers), rtol=1e-7, atol=0), (
    f"sigmoid(np.array([-2, 0, 2])) = {sv_integer_values}, ожидалось {sv_expected(sv_integers)}. "
    "Целочисленный вход: результат должен быть вещественным (не создавайте массив результата с dtype входа)."
)
print("Видимые проверки значений sigmoid пройдены.")
"""

VISIBLE_SIGMOID_STABILITY = r"""
# Видимая проверка устойчивости sigmoid: только быстрая самопроверка, оценку ставят скрытые тесты.
import warnings

ss_points = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
with warnings.catch_warnings(record=True) as ss_caught:
    warnings.simplefilter("always")
    ss_values = np.asarray(sigmoid(ss_points), dtype=float)
    ss_scalar = sigmoid(-1000.0)
ss_warnings = [f"{w.category.__name__}: {w.message}" for w in ss_caught]
assert not ss_warnings, (
    f"sigmoid({ss_points}) выдаёт предупреждения {ss_warnings}: exp(-x) переполняется при x = -1000. "
    "Не вычисляйте exp от большого положительного числа (даже в ветке np.where, которая не будет выбрана)."
)
assert ss_values.shape == ss_points.shape and np.all(np.isfinite(ss_values)), (
    f"sigmoid({ss_points}) = {ss_values}: ожидались конечные значения той же формы"
)
assert np.allclose(ss_values, [0.0, 0.0, 0.5, 1.0, 1.0], rtol=0, atol=1e-12), (
    f"sigmoid({ss_points}) = {ss_values}, ожидалось примерно [0, 0, 0.5, 1, 1]"
)
assert np.ndim(ss_scalar) == 0 and abs(float(ss_scalar)) < 1e-12, (
    f"sigmoid(-1000.0) должна вернуть число около 0, получено {ss_scalar!r}"
)
print("Видимые проверки устойчивости sigmoid пройдены.")
"""

VISIBLE_BCE_LOSS = r"""
# Видимая проверка BCELoss: только быстрая самопроверка, оценку ставят скрытые тесты.
import math
import warnings

bce_p = np.array([0.5, 0.5, 0.8, 0.8, 0.1])
bce_y = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
bce_expected = np.array([math.log(2), math.log(2), -math.log(0.8), -math.log(0.2), -math.log(0.9)])
bce_p_before, bce_y_before = bce_p.copy(), bce_y.copy()
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    bce_values = BCELoss(bce_p, bce_y)
assert np.shape(bce_values) == bce_p.shape, (
    f"BCELoss должна вернуть потерю каждого элемента (массив формы {bce_p.shape}), "
    f"получена форма {np.shape(bce_values)}: не усредняйте и не суммируйте внутри функции."
)
assert np.allclose(bce_values[:2], math.log(2), rtol=1e-6, atol=0), (
    f"При p = 0.5 потеря должна быть ln 2 ≈ {math.log(2):.4f} для обеих меток, получено {bce_values[:2]}. "
    "Используйте натуральный логарифм np.log."
)
assert np.allclose(bce_values, bce_expected, rtol=1e-6, atol=0), (
    f"BCELoss({bce_p}, {bce_y}) = {bce_values}, ожидалось {bce_expected}. "
    "Проверьте знак и оба слагаемых: -(y * ln p + (1 - y) * ln(1 - p))."
)
assert np.array_equal(bce_p, bce_p_before) and np.array_equal(bce_y, bce_y_before), (
    "BCELoss не должна изменять входные массивы (np.clip без out=)"
)

# Confident answers: p = 0 and p = 1 must give finite values without warnings.
bce_edge_p = np.array([0.0, 1.0, 0.0, 1.0])
bce_edge_y = np.array([1.0, 0.0, 0.0, 1.0])
bce_eps = 1e-5
bce_edge_expected = np.array([-math.log(bce_eps), -math.log(bce_eps), -math.log(1 - bce_eps), -math.log(1 - bce_eps)])
with warnings.catch_warnings(record=True) as bce_caught:
    warnings.simplefilter("always")
    bce_edge = BCELoss(bce_edge_p, bce_edge_y)
    bce_custom_eps = BCELoss(np.array([0.0]), np.array([1.0]), eps=1e-3)
    bce_bool = BCELoss(bce_p, bce_y.astype(bool))
    bce_matrix = BCELoss(bce_p[:4].reshape(2, 2), bce_y[:4].reshape(2, 2))
bce_warnings = [f"{w.category.__name__}: {w.message}" for w in bce_caught]
assert not bce_warnings, (
    f"BCELoss выдаёт предупреждения {bce_warnings}: обрежьте p до [eps, 1 - eps] до вычисления логарифма."
)
assert np.all(np.isfinite(bce_edge)) and np.allclose(bce_edge, bce_edge_expected, rtol=1e-6, atol=1e-9), (
    f"BCELoss({bce_edge_p}, {bce_edge_y}) = {bce_edge}, ожидалось {bce_edge_expected}. "
    "Уверенная ошибка должна стоить дороже всего: -ln(eps) ≈ 11.51, а уверенный верный ответ почти 0."
)
assert np.allclose(bce_custom_eps, -math.log(1e-3), rtol=1e-6), (
    f"BCELoss([0.0], [1.0], eps=1e-3) = {bce_custom_eps}, ожидалось {-math.log(1e-3):.4f}: используйте аргумент eps."
)
assert np.allclose(bce_bool, bce_expected, rtol=1e-6, atol=0), (
    f"С метками типа bool получено {bce_bool}, ожидалось {bce_expected}: приведите y к float."
)
assert np.shape(bce_matrix) == (2, 2) and np.allclose(bce_matrix, bce_expected[:4].reshape(2, 2), rtol=1e-6), (
    f"Для входа формы (2, 2) получено {np.asarray(bce_matrix).tolist()}: форма и значения должны сохраняться."
)
print("Видимые проверки BCELoss пройдены.")
"""

VISIBLE_BACKPROP = r'''
# Видимая проверка backprop: только быстрая самопроверка, оценку ставят скрытые тесты.
import math
import warnings


class FixedNet:
    """Stand-in for Net that returns fixed probabilities, so the expected step
    is easy to compute by hand. Counts calls, and calls made after w or b changed."""

    def __init__(self, w, b, probabilities):
        self.w = w
        self.b = b
        self.start = (w, b)
        self.probabilities = probabilities
        self.calls = 0
        self.calls_after_update = 0

    def forward(self, x):
        self.calls += 1
        if (self.w, self.b) != self.start:
            self.calls_after_update += 1
        return self.probabilities.copy()

    def __call__(self, x):
        return self.forward(x)


bp_x = np.array([1.0, -2.0, 3.0])
bp_y = np.array([1.0, 0.0, 0.0])
bp_r = np.array([0.5, 0.25, 0.8])
# By hand: r - y = [-0.5, 0.25, 0.8]; mean((r - y) * x) = (-0.5 - 0.5 + 2.4) / 3 = 1.4 / 3;
# mean(r - y) = 0.55 / 3. With w = 0.3, b = -0.2:
bp_grad_w, bp_grad_b = 1.4 / 3, 0.55 / 3
# Results of typical mistakes with lr = 0.1, to name them in the messages.
bp_mistakes_w = {
    0.3 + 0.1 * bp_grad_w: "шаг сделан по градиенту, а не против него (нужно w -= lr * dL/dw)",
    0.3 - 0.1 * bp_grad_w * 3: "сумма по батчу вместо среднего",
    0.3 - 0.01 * bp_grad_w: "не использован аргумент lr",
    0.3 - 0.1 * bp_grad_b: "для w забыт множитель x (dL/dw = (r - y) * x)",
}
bp_mistakes_b = {
    -0.2 + 0.1 * bp_grad_b: "шаг сделан по градиенту, а не против него (нужно b -= lr * dL/db)",
    -0.2 - 0.1 * bp_grad_b * 3: "сумма по батчу вместо среднего",
    -0.2 - 0.01 * bp_grad_b: "не использован аргумент lr",
    -0.2 - 0.1 * bp_grad_w: "для b лишний множитель x (dL/db = r - y)",
}


def bp_diagnosis(got, mistakes):
    for value, mistake in mistakes.items():
        if math.isclose(got, value, rel_tol=1e-6):
            return " Похоже: " + mistake + "."
    return ""


# Float labels, bool labels, and the default learning rate (0.01).
for bp_labels, bp_lr in [(bp_y, 0.1), (bp_y.astype(bool), 0.1), (bp_y, None)]:
    bp_net = FixedNet(w=0.3, b=-0.2, probabilities=bp_r)
    bp_x_before, bp_labels_before = bp_x.copy(), bp_labels.copy()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        if bp_lr is None:
            backprop(bp_net, bp_x, bp_labels)
        else:
            backprop(bp_net, bp_x, bp_labels, lr=bp_lr)
    bp_case = f"y типа {bp_labels.dtype}, " + ("lr по умолчанию" if bp_lr is None else f"lr={bp_lr}")
    bp_step = 0.01 if bp_lr is None else bp_lr
    bp_expected_w, bp_expected_b = 0.3 - bp_step * bp_grad_w, -0.2 - bp_step * bp_grad_b
    bp_hint = (
        (lambda got, mistakes: " Проверьте значение lr по умолчанию: 0.01.")
        if bp_lr is None else bp_diagnosis
    )
    assert bp_net.calls >= 1, "backprop должна получать вероятности вызовом net(x)"
    assert bp_net.calls_after_update == 0, (
        "backprop вызывает net(x) после того, как изменила w или b: вычислите r = net(x) один раз "
        "в начале и по нему обновите оба параметра."
    )
    assert np.array_equal(bp_x, bp_x_before) and np.array_equal(bp_labels, bp_labels_before), (
        "backprop не должна изменять x и y"
    )
    bp_w, bp_b = float(bp_net.w), float(bp_net.b)
    assert (bp_w, bp_b) != (0.3, -0.2), (
        "backprop не изменила net.w и net.b: параметры нужно обновлять на месте (net.w -= ...)"
    )
    assert math.isclose(bp_w, bp_expected_w, rel_tol=1e-6), (
        f"{bp_case}: после шага w = {bp_w:.6f}, ожидалось {bp_expected_w:.6f}."
        + bp_hint(bp_w, bp_mistakes_w)
    )
    assert math.isclose(bp_b, bp_expected_b, rel_tol=1e-6), (
        f"{bp_case}: после шага b = {bp_b:.6f}, ожидалось {bp_expected_b:.6f}."
        + bp_hint(bp_b, bp_mistakes_b)
    )
print("Видимые проверки backprop пройдены.")
'''

VISIBLE_FINAL_ACCURACY = r"""
# Видимая проверка обучения целиком: только быстрая самопроверка, оценку ставят скрытые тесты.
import warnings

fa_x = np.linspace(-5, 5, 40)
fa_y = fa_x > 0
fa_net = Net(w=0.7, b=0.1)
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    for fa_step in range(1000):
        backprop(fa_net, fa_x, fa_y, lr=0.1)
    fa_accuracy = float(np.mean((np.asarray(fa_net(fa_x)) > 0.5) == fa_y))
assert np.isfinite(fa_net.w) and np.isfinite(fa_net.b), (
    f"После обучения параметры не конечны: w = {fa_net.w}, b = {fa_net.b}"
)
assert fa_accuracy >= 0.9, (
    f"Net(w=0.7, b=0.1) после 1000 шагов с lr=0.1 на 40 точках отрезка [-5, 5] угадывает "
    f"{fa_accuracy:.3f} ответов (ожидалось не меньше 0.9; w = {fa_net.w:.3f}, b = {fa_net.b:.3f}). "
    "Проверьте sigmoid и backprop: знак шага и среднее по батчу."
)
print(f"Видимая проверка обучения пройдена: доля верных ответов {fa_accuracy:.3f}.")
"""


def cells():
    """All cells of the master, in order."""
    r = reference
    return [
        md(
            "intro",
            """
            # Один нейрон с нуля

            В этом задании мы своими руками соберём и обучим самую маленькую нейронную сеть: один нейрон
            с сигмоидой на выходе. Никаких фреймворков, только `numpy`. По дороге напишем четыре функции:

            | функция | что делает | баллы |
            |---|---|---|
            | `random_sample` | стратифицированное разбиение выборки | 2 |
            | `sigmoid` | сигмоида: значения (1.5) и устойчивость к большим по модулю аргументам (0.5) | 2 |
            | `BCELoss` | бинарная кросс-энтропия для каждого элемента | 2 |
            | `backprop` | один шаг градиентного спуска | 3 |
            | обучение целиком | нейрон, обученный вашими `sigmoid` и `backprop`, классифицирует не хуже эталона | 1 |

            Всего 10 баллов.

            ## Как проверяется работа

            * Код пишется **только** в четырёх ячейках ответа, где стоит `# ВАШ КОД ЗДЕСЬ` и
              `raise NotImplementedError()`. Остальные ячейки доступны только для чтения; не удаляйте и не
              копируйте ячейки.
            * При оценке выполняется **только код этих четырёх ячеек**, отдельно от остального блокнота:
              доступны лишь `np` (numpy) и класс `Net`. Переменные, импорты и функции из других ячеек там не
              видны. Если нужна вспомогательная функция или импорт, поместите их в ту же ячейку ответа.
            * Не меняйте имена функций и их сигнатуры: тесты вызывают их по имени с указанными аргументами.
            * После каждой ячейки ответа идёт ячейка с **видимыми проверками** на маленьких примерах. Это
              лишь самопроверка: оценку ставят скрытые тесты на других входах, и пройденные видимые проверки
              не гарантируют баллы.
            * Функции не должны выдавать предупреждений numpy (например, о переполнении или делении на ноль)
              и не должны изменять переданные им массивы.
            * Перед сдачей выполните *Kernel → Restart & Run All* и убедитесь, что всё работает без ошибок.
            """,
        ),
        code(
            "imports",
            """
            import numpy as np
            import matplotlib.pyplot as plt
            """,
        ),
        md(
            "task",
            """
            ## 1. Задача

            Научим нейрон отличать положительные числа от остальных. Целевая функция
            $$f(x) = [x > 0],$$
            вход $x$ — вещественное число из отрезка $[-5, 5]$, ответ — логическое значение: `True` для
            положительных чисел, `False` для нуля и отрицательных. Это задача бинарной классификации.

            Прежде чем учить модель, полезно посмотреть, сколько объектов в каждом классе. Посчитаем это для
            целых чисел от $-5$ до $5$.
            """,
        ),
        code("target", reference_source(r.target)),
        code(
            "class_balance",
            """
            integers = np.arange(-5, 6)
            n_positive = int(np.sum(target(integers)))
            print(f"целых чисел на [-5, 5]: {integers.size}")
            print(f"класс True (x > 0): {n_positive}, класс False (x <= 0): {integers.size - n_positive}")
            """,
        ),
        md(
            "class_balance_remark",
            """
            Классы почти равны, но не совсем: ноль не положителен, поэтому в классе `False` на одно число
            больше (6 против 5). Баланс классов зависит от того, какие точки мы берём. На сетке из 100 точек
            `np.linspace(-5, 5, 100)`, которой мы воспользуемся дальше, нуля нет, а точки симметричны
            относительно нуля, так что классы будут ровно по 50.

            Это стоит помнить при оценке качества: если бы один класс занимал, скажем, 90% выборки, то
            модель, всегда отвечающая этим классом, уже угадывала бы 90% ответов. Доля верных ответов
            (accuracy) осмысленна только в сравнении с такой простейшей моделью.
            """,
        ),
        md(
            "data_intro",
            """
            ## 2. Данные и их разбиение

            Данные делят на три части:

            * **обучающая** (train) — на ней нейрон подбирает параметры;
            * **валидационная** (validation) — на ней мы следим за обучением: считаем потерю и точность по
              ходу дела и по ним выбираем настройки (скорость обучения, число шагов);
            * **тестовая** (test) — её не трогаем до самого конца и один раз оцениваем на ней итоговую
              модель. Раз по тестовой части ничего не настраивалось, её оценка честная.

            Делить будем **стратифицированно**: каждый класс делится в одной и той же пропорции, поэтому доли
            классов во всех частях такие же, как во всей выборке. При случайном делении без стратификации в
            маленькой части один класс может оказаться заметно реже другого.

            ### Задание 1: `random_sample` (2 балла)

            `random_sample(X, y, fraction=0.8)` возвращает кортеж `(X_train, X_test, y_train, y_test)`:

            * для **каждого** класса из `y` в train идут `int(fraction * n_k)` случайно выбранных элементов
              этого класса ($n_k$ — его размер), остальные — в test;
            * метки могут идти в любом порядке, классы могут быть разного размера;
            * `X` — массив формы `(n,)` или `(n, d)` (выбираются строки), `y` — форма `(n,)`; пары
              `(X[i], y[i])` не должны разрываться;
            * train и test не пересекаются и вместе содержат всю выборку; входные массивы не изменяются;
            * для случайности используйте глобальный генератор numpy (`np.random.permutation`,
              `np.random.choice`), тогда `np.random.seed(...)` делает разбиение воспроизводимым.
            """,
        ),
        answer("random_sample"),
        test("test_random_sample", VISIBLE_RANDOM_SAMPLE),
        md(
            "data_make",
            """
            Теперь сами данные: 100 равноотстоящих точек отрезка $[-5, 5]$ и их метки $f(x)$. Точки остаются
            вещественными: если округлить их до целых, все точки из $(-1, 1)$ превратятся в ноль и нейрон
            перестанет их различать. Генератор случайных чисел фиксируем один раз, чтобы весь блокнот давал
            одни и те же результаты при каждом запуске.
            """,
        ),
        code(
            "make_data",
            f"""
            np.random.seed(12)

            X = np.linspace({r.X_LOW:g}, {r.X_HIGH:g}, {r.N_POINTS})
            y = target(X)
            print(f"X: {{X.shape}}, {{X.dtype}}; y: {{y.shape}}, {{y.dtype}}; класс True: {{y.sum()}} из {{y.size}}")
            """,
        ),
        md(
            "split_intro",
            """
            Сначала откладываем тестовую часть (20%), затем оставшиеся 80% той же функцией делим на
            обучающую и валидационную части. Итого 64 точки для обучения, 16 для валидации и 20 для теста.
            """,
        ),
        code(
            "split",
            """
            X_trainval, X_test, y_trainval, y_test = random_sample(X, y, fraction=0.8)
            X_train, X_val, y_train, y_val = random_sample(X_trainval, y_trainval, fraction=0.8)

            for name, part in [("train", y_train), ("validation", y_val), ("test", y_test)]:
                print(f"{name:>10}: {part.size:3d} точек, класс True: {part.sum():2d}, класс False: {(~part).sum():2d}")
            """,
        ),
        md(
            "model",
            """
            ## 3. Модель: один нейрон

            Нейрон умножает вход на вес $w$, прибавляет смещение $b$ и пропускает результат через сигмоиду:
            $$l = w x + b, \\qquad r = \\sigma(l) = \\frac{1}{1 + e^{-l}}.$$
            Сигмоида переводит любое число в интервал $(0, 1)$, так что $r$ можно читать как вероятность
            класса `True`. Предсказанный класс — `True`, если $r > 0.5$, то есть если $l > 0$: граница между
            классами проходит в точке $x = -b / w$.

            ### Задание 2: `sigmoid` (1.5 + 0.5 балла)

            * `sigmoid(x)` принимает число или массив любой формы (в том числе целочисленный) и возвращает
              значения сигмоиды той же формы; для числа — число.
            * Формула «в лоб» `1 / (1 + np.exp(-x))` при $x = -1000$ считает $e^{1000}$: это переполнение,
              numpy выдаёт `RuntimeWarning`. Ответ при этом верный (0), но предупреждение — ошибка. Заметьте,
              что при $x < 0$
              $$\\sigma(x) = \\frac{e^{x}}{1 + e^{x}},$$
              и здесь экспонента от отрицательного числа переполниться не может. Считайте каждую
              половину входа своей формулой. Осторожно с `np.where`: он вычисляет **обе** ветки для всех
              элементов, и предупреждение всё равно появится.
            """,
        ),
        answer("sigmoid"),
        test("test_sigmoid_values", VISIBLE_SIGMOID_VALUES),
        test("test_sigmoid_stability", VISIBLE_SIGMOID_STABILITY),
        md(
            "net_intro",
            """
            Класс `Net` дан готовым (ячейка только для чтения): он хранит параметры `w`, `b` и при вызове
            `net(x)` возвращает $\\sigma(w x + b)$ для каждого элемента `x`, используя вашу `sigmoid`.
            """,
        ),
        code("net", reference_source(r.Net)),
        code(
            "net_demo",
            """
            demo_net = Net(w=0.5, b=1)
            print(demo_net(np.array([-4.0, -2.0, 0.0, 2.0])))
            """,
        ),
        md(
            "loss",
            """
            ## 4. Функция потерь: бинарная кросс-энтропия

            Для одного объекта с меткой $y \\in \\{0, 1\\}$ и предсказанной вероятностью $r$
            $$L(r, y) = -\\bigl(y \\ln r + (1 - y) \\ln(1 - r)\\bigr).$$
            При $y = 1$ остаётся $-\\ln r$: потеря близка к нулю, если $r \\approx 1$, и растёт без предела при
            $r \\to 0$. При $y = 0$ всё наоборот. Потеря на выборке — среднее потерь её объектов.

            **Зачем обрезать вероятности.** Сигмоида в числах с плавающей точкой может вернуть ровно 0 или 1.
            Тогда у уверенной ошибки (например, $r = 0$ при $y = 1$) получится $-\\ln 0 = \\infty$, а в
            среднем по выборке — `inf` или `nan`, и numpy выдаст предупреждение о делении на ноль. Поэтому
            перед логарифмом вероятности обрезают до отрезка $[\\varepsilon, 1 - \\varepsilon]$. Тогда
            уверенная ошибка стоит $-\\ln \\varepsilon \\approx 11.5$ при $\\varepsilon = 10^{-5}$ — больше
            любой другой потери, но конечное число, а уверенный верный ответ стоит почти 0. Обрезка не должна
            менять смысл потери: уверенная ошибка должна оставаться самой дорогой.

            ### Задание 3: `BCELoss` (2 балла)

            `BCELoss(x, y, eps=1e-5)`: `x` — вероятности любой формы, `y` — метки той же формы (`bool`, целые
            или вещественные 0/1). Возвращает массив потерь той же формы, что `x` (без усреднения),
            с обрезкой вероятностей до $[\\varepsilon, 1 - \\varepsilon]$ и натуральным логарифмом.
            """,
        ),
        answer("bce_loss"),
        test("test_bce_loss", VISIBLE_BCE_LOSS),
        code(
            "loss_demo",
            """
            probabilities = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
            print("вероятности:", probabilities)
            print("потери при y = 1:", BCELoss(probabilities, np.ones(5)))
            print("потери при y = 0:", BCELoss(probabilities, np.zeros(5)))
            """,
        ),
        md(
            "backprop_theory",
            """
            ## 5. Обратное распространение ошибки

            Вычисление идёт цепочкой $x \\to l = w x + b \\to r = \\sigma(l) \\to L(r, y)$. Чтобы уменьшить
            потерю, нужны её производные по параметрам $w$ и $b$; по правилу дифференцирования сложной
            функции они равны произведению производных звеньев цепочки, взятых с конца.

            1. Потеря по выходу нейрона:
               $$\\frac{\\partial L}{\\partial r} = -\\frac{y}{r} + \\frac{1 - y}{1 - r}.$$
            2. Сигмоида по своему аргументу выражается через своё же значение:
               $$\\frac{\\partial r}{\\partial l} = \\frac{e^{-l}}{(1 + e^{-l})^2}
                 = \\frac{1}{1 + e^{-l}} \\cdot \\frac{e^{-l}}{1 + e^{-l}} = r (1 - r).$$
            3. Линейная часть по параметрам:
               $$\\frac{\\partial l}{\\partial w} = x, \\qquad \\frac{\\partial l}{\\partial b} = 1.$$

            Перемножаем:
            $$\\frac{\\partial L}{\\partial w} = \\frac{\\partial L}{\\partial r} \\cdot r(1 - r) \\cdot x, \\qquad
              \\frac{\\partial L}{\\partial b} = \\frac{\\partial L}{\\partial r} \\cdot r(1 - r).$$
            Первые два множителя упрощаются:
            $$\\frac{\\partial L}{\\partial l} = \\left(-\\frac{y}{r} + \\frac{1 - y}{1 - r}\\right) r (1 - r)
              = -y (1 - r) + (1 - y) r = r - y,$$
            так что $\\dfrac{\\partial L}{\\partial w} = (r - y)\\,x$ и $\\dfrac{\\partial L}{\\partial b} = r - y$.

            Мы учим нейрон на всей обучающей выборке сразу (full batch). Потеря выборки — среднее потерь
            $n$ объектов, значит, и её градиент — среднее градиентов объектов. Шаг градиентного спуска со
            скоростью обучения $\\alpha$ (`lr`):
            $$w \\leftarrow w - \\alpha \\cdot \\frac{1}{n} \\sum_{i=1}^{n} (r_i - y_i)\\, x_i, \\qquad
              b \\leftarrow b - \\alpha \\cdot \\frac{1}{n} \\sum_{i=1}^{n} (r_i - y_i).$$

            ### Задание 4: `backprop` (3 балла)

            `backprop(net, x, y, lr=0.01)` делает **один** такой шаг: берёт вероятности `r = net(x)`
            (именно вызовом `net(x)`: `net` может быть любым объектом с атрибутами `w`, `b` и вызовом),
            и обновляет `net.w` и `net.b` **на месте**. Возвращаемое значение не используется. `x` и `y` —
            массивы формы `(n,)`, метки могут быть типа `bool`.

            Принимаются обе формы: произведение по цепочке (тогда защитите деление на $r$ и $1 - r$ от нуля)
            и упрощённая формула $r - y$. Важно, чтобы шаг совпадал с формулами выше.
            """,
        ),
        answer("backprop"),
        test("test_backprop", VISIBLE_BACKPROP),
        md(
            "training_intro",
            f"""
            ## 6. Обучение

            Всё готово. Начинаем с нейрона `Net(w={r.INITIAL_W:g}, b={r.INITIAL_B:g})` и делаем {r.N_STEPS} шагов
            градиентного спуска со скоростью обучения {r.LEARNING_RATE:g}, каждый раз по всей обучающей части
            (64 точки). Каждые 100 шагов считаем среднюю кросс-энтропию и долю верных ответов на
            валидационной части, печатаем их и сохраняем в `history` для графиков. Тестовую часть
            используем один раз, после обучения.

            Доля верных ответов (accuracy) — доля точек, где предсказанный класс ($r > 0.5$) совпал с меткой.
            """,
        ),
        code("accuracy", reference_source(r.accuracy)),
        code(
            "train",
            f"""
            LEARNING_RATE = {r.LEARNING_RATE!r}
            N_STEPS = {r.N_STEPS!r}
            EVAL_EVERY = 100


            def evaluate(net, X_part, y_part):
                \"\"\"Mean BCE and accuracy of net on one part of the data.\"\"\"
                probabilities = net(X_part)
                return float(np.mean(BCELoss(probabilities, y_part))), accuracy(probabilities, y_part)


            net = Net(w={r.INITIAL_W!r}, b={r.INITIAL_B!r})
            history = {{"step": [], "val_loss": [], "val_accuracy": []}}
            for step in range(N_STEPS + 1):
                if step > 0:
                    backprop(net, X_train, y_train, lr=LEARNING_RATE)
                if step % EVAL_EVERY == 0:
                    val_loss, val_accuracy = evaluate(net, X_val, y_val)
                    history["step"].append(step)
                    history["val_loss"].append(val_loss)
                    history["val_accuracy"].append(val_accuracy)
                    print(f"шаг {{step:4d}}: валидация BCE = {{val_loss:.4f}}, accuracy = {{val_accuracy:.3f}}")

            print(f"обученные параметры: w = {{net.w:.4f}}, b = {{net.b:.4f}}")
            """,
        ),
        code(
            "test_evaluation",
            """
            test_loss, test_accuracy = evaluate(net, X_test, y_test)
            print(f"тестовая выборка: BCE = {test_loss:.4f}, accuracy = {test_accuracy:.3f}")
            """,
        ),
        md(
            "final_accuracy_intro",
            """
            Последний балл — за обучение целиком: скрытый тест обучает нейрон вашими `sigmoid` и `backprop`
            с теми же настройками и сравнивает его точность на тестовой части с эталоном, обученным так же.
            """,
        ),
        test("test_final_accuracy", VISIBLE_FINAL_ACCURACY),
        md(
            "plots_intro",
            f"""
            ## 7. Графики

            Кривые обучения показывают, как менялись потеря и точность на валидации. Точность может с
            самого начала быть равной 1: у начального нейрона граница $x = -{r.INITIAL_B:g} / {r.INITIAL_W:g} \\approx {-r.INITIAL_B / r.INITIAL_W:.2f}$ уже
            близко к нулю, и ошибается он только на точках между ней и нулём, которых в валидационной части
            может не оказаться. Потеря при этом продолжает падать: нейрон становится увереннее в верных
            ответах. Второй график — сами данные и обученная сигмоида: видно, где нейрон проводит границу
            между классами.
            """,
        ),
        code(
            "plot_curves",
            """
            fig, (ax_loss, ax_accuracy) = plt.subplots(1, 2, figsize=(11, 3.5))
            ax_loss.plot(history["step"], history["val_loss"], marker="o")
            ax_loss.set_xlabel("шаг")
            ax_loss.set_ylabel("BCE на валидации")
            ax_loss.set_title("Потеря")
            ax_accuracy.plot(history["step"], history["val_accuracy"], marker="o", color="tab:green")
            ax_accuracy.set_xlabel("шаг")
            ax_accuracy.set_ylabel("accuracy на валидации")
            ax_accuracy.set_ylim(0, 1.05)
            ax_accuracy.set_title("Доля верных ответов")
            fig.tight_layout()
            plt.show()
            """,
        ),
        code(
            "plot_fit",
            """
            grid = np.linspace(-5, 5, 400)
            boundary = -net.b / net.w

            fig, ax = plt.subplots(figsize=(8, 4))
            for name, X_part, y_part, marker in [
                ("train", X_train, y_train, "o"),
                ("validation", X_val, y_val, "s"),
                ("test", X_test, y_test, "^"),
            ]:
                ax.scatter(X_part, y_part.astype(float), marker=marker, s=25, alpha=0.7, label=name)
            ax.plot(grid, net(grid), color="black", label="r = σ(w·x + b)")
            ax.axhline(0.5, color="gray", linestyle=":")
            ax.axvline(boundary, color="tab:red", linestyle="--", label=f"граница x = {boundary:.3f}")
            ax.set_xlabel("x")
            ax.set_ylabel("метка / вероятность класса True")
            ax.legend(loc="upper left")
            plt.show()
            """,
        ),
        md(
            "conclusion",
            """
            ## Итоги

            * Один нейрон с сигмоидой — это логистическая регрессия: он проводит одну границу $x = -b/w$ и
              по обе стороны от неё уверенность растёт тем быстрее, чем больше $|w|$.
            * Классы здесь разделимы без ошибок, поэтому потерю можно уменьшать бесконечно, увеличивая $w$:
              чем дольше учим, тем круче сигмоида. Граница же почти сразу оказывается около нуля.
            * Стратифицированное разбиение, устойчивая сигмоида и обрезка вероятностей в потере — мелочи,
              без которых обучение ломается на краевых случаях или даёт нечестную оценку.
            """,
        ),
    ]


def build_notebook():
    nb = new_notebook(cells=cells())
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }
    return nb


def render():
    """The master notebook as the exact text to commit."""
    nb = build_notebook()
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="only compare with the committed master"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not MASTER.exists() or MASTER.read_text(encoding="utf-8") != text:
            print(f"{MASTER} is out of date: run python tools/build_master.py", file=sys.stderr)
            return 1
        return 0
    MASTER.parent.mkdir(parents=True, exist_ok=True)
    MASTER.write_text(text, encoding="utf-8")
    print(f"wrote {MASTER.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
