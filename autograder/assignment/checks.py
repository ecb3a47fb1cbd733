"""Hidden checks of the assignment: one function per graded test cell.

Every check receives the student's implementation(s) as arguments, passes
silently, and raises ``AssertionError`` with a Russian message (the likely
mistake, got vs expected on a small input) when the implementation is wrong.

Rules every check follows
-------------------------
* The implementation is only *called*: no ``inspect``, no attribute access on
  it.  It may be a plain function (pytest, the in-kernel hidden test) or an
  ``autograder.sandbox.remote`` proxy that runs the student's code in a sandbox.
* Every call of student code goes through :func:`_running`: warnings are
  recorded (never printed), stdout/stderr are swallowed, and any exception
  becomes an ``AssertionError`` naming it.  Nothing a check does reaches
  stderr (nbgrader zeroes a test cell that writes to stderr).
* Inputs come from generators seeded here, and differ from the visible tests.
* A check of one function uses :mod:`autograder.assignment.reference` for every other
  function, so a bug in ``sigmoid`` never costs ``backprop`` points.
* Returned values are validated before any comparison (type -> shape ->
  finite -> values) and converted to plain float64 ndarrays, so an object
  that "compares equal to everything" cannot pass.

Net protocol shared with ``autograder.sandbox.remote``
----------------------------------------------
``backprop`` receives a :class:`CheckNet`, a subclass of ``reference.Net``
with one extra attribute ``activation``:

* ``activation == "reference"``: the forward pass uses ``reference.sigmoid``
  (check of backprop alone);
* otherwise ``activation`` is the sigmoid implementation object passed to the
  check (a function or a proxy) and the forward pass calls it (final-accuracy
  check: the student's sigmoid with the student's backprop).

A proxy recognises such arguments by ``isinstance(arg, reference.Net)``, sends
``w``, ``b`` and the activation, and copies the updated ``w``, ``b`` back.
Array arguments the student mutates are copied back as well, so the checks
can detect mutated inputs.
"""

import contextlib
import functools
import io
import math
import warnings

import numpy as np

from autograder.assignment import contract, reference
from autograder.sandbox.remote import observed_call, seed_global_rngs

__all__ = [
    "CHECKS",
    "CheckNet",
    "check_backprop",
    "check_bce_loss",
    "check_final_accuracy",
    "check_random_sample",
    "check_sigmoid_stability",
    "check_sigmoid_values",
]

# Tolerances (relative, absolute) of value comparisons, written down once.
SIGMOID_RTOL, SIGMOID_ATOL = 1e-7, 1e-12
BCE_RTOL, BCE_ATOL = 1e-7, 1e-10
# The step of backprop is compared with the closed form (r - y) * x; the
# chain-rule form with clipped divisions agrees to ~1e-15 when |w*x + b| <= 6.
BACKPROP_RTOL, BACKPROP_ATOL = 1e-6, 1e-12
# Complexity of random_sample, judged by how its CPU time grows with the size of the
# data (CPU time of the student's process, measured by the grader from outside it
# through remote.observed_call; never wall-clock, which a busy machine changes).
# The quadratic defect the course teaches away (`i not in list`) grows ~54x from
# n = 3000 to 8n; correct O(n log n) splits grow 4-12x. A split fails when
# cpu(8n) > SPLIT_GROWTH_LIMIT * max(cpu(n), SPLIT_CPU_FLOOR_S): the floor keeps the
# quantisation of CPU clocks (10 ms ticks) from deciding anything for fast code.
SPLIT_GROWTH_N = 3000
SPLIT_GROWTH_FACTOR = 8
SPLIT_GROWTH_LIMIT = 24.0
SPLIT_CPU_FLOOR_S = 0.002
# The small size is called repeatedly until this much CPU time is spent (a mean
# over many calls, not one noisy sample).
SPLIT_CPU_SAMPLE_S = 0.2
SPLIT_MAX_REPEATS = 200
# Randomness of random_sample, with numpy's global generator seeded by the grader
# where the function runs: same seed -> same split; distinct seeds -> distinct
# splits; over SPLIT_FREQ_SEEDS seeds every element is in test with frequency within
# SPLIT_FREQ_SIGMAS binomial standard deviations of its class's test share (for 80
# elements x 200 seeds a correct split exceeds 5 sigma with probability < 1e-4;
# the seeds are fixed, so the verdict is deterministic).
SPLIT_SEEDS = (11, 12, 13, 14, 15, 16, 17, 18)
SPLIT_FREQ_SEEDS = 200
SPLIT_FREQ_SIGMAS = 5.0

# numpy's default error handling, re-imposed around student code so that a
# global np.seterr(all="ignore") in an answer cell cannot hide an overflow.
_ERRSTATE = dict(divide="warn", over="warn", invalid="warn", under="ignore")


# --------------------------------------------------------------------------
# Calling student code
# --------------------------------------------------------------------------
def _safe_str(obj, limit=300):
    try:
        text = str(obj)
    except Exception:  # a student's exception may have a broken __str__
        text = "<?>"
    return text if len(text) <= limit else text[:limit] + "..."


@contextlib.contextmanager
def _running(what, error_hint=""):
    """Run student code: record warnings, swallow output, name exceptions.

    Yields the list that collects the warnings raised inside the block.
    error_hint is appended to the message when the student code raises.
    """
    sink = io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        np.errstate(**_ERRSTATE),
    ):
        warnings.simplefilter("always")
        try:
            yield caught
        except (Exception, SystemExit) as exc:  # any failure of student code
            if type(exc).__name__ == "NotImplementedError":  # by name: proxies re-raise it too
                detail = _safe_str(exc).rstrip(".")
                raise AssertionError(
                    f"{what}: функция упала с ошибкой NotImplementedError"
                    f"{': ' + detail if detail else ''}. Похоже, функция ещё не написана: "
                    "замените заглушку raise NotImplementedError() в ячейке ответа своим кодом."
                ) from None
            detail = _safe_str(exc)
            # The hints name wrong types (math.exp on an array, `-` on bool labels):
            # they only fit a TypeError.
            hint = error_hint if type(exc).__name__ == "TypeError" else ""
            if type(exc).__name__ == "NameError":  # by name: proxies re-raise it too
                hint = _NAME_ERROR_HINT
            if hint:
                detail = detail.rstrip(".")
            raise AssertionError(
                f"{what}: функция упала с ошибкой {type(exc).__name__}"
                f"{': ' + detail if detail else ''}{hint}"
            ) from None


_NAME_ERROR_HINT = (
    ". Функция обращается к имени, которого нет там, где её оценивают. Проверяется только "
    "код ваших ячеек: всё, что функция использует (вспомогательные функции, импорты, "
    "константы), должно быть определено в ячейке ответа этой функции (или в добавленной вами "
    "ячейке, если это разрешено в описании задания), а данные блокнота (X, y, X_train, ...) "
    "функция получает только через аргументы."
)


def _call(fn, what, *args, error_hint="", **kwargs):
    """Call student code once; returns its result. Warnings are recorded and
    dropped: no verdict rests on them (the student's process reports them)."""
    with _running(what, error_hint):
        result = fn(*args, **kwargs)
    return result


def _cpu_call(fn, what, *args, **kwargs):
    """Call student code once; returns (result, CPU seconds of the call, as the
    grader measured them from outside the student's process)."""
    with _running(what):
        result, observation = observed_call(fn, *args, **kwargs)
    if observation.cpu_seconds is None:
        raise AssertionError(f"{what}: процесс с кодом студента завершился во время вызова.")
    return result, observation.cpu_seconds


# --------------------------------------------------------------------------
# Validating returned values
# --------------------------------------------------------------------------
def _fmt(a, precision=6):
    a = np.asarray(a)
    if a.ndim == 0:
        value = a.item()
        return f"{value:.{precision}g}" if isinstance(value, float) else repr(value)
    return np.array2string(a, precision=precision, threshold=12, edgeitems=3, separator=", ")


def _describe(value):
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"np.ndarray формы {value.shape} и типа {value.dtype}"
    return type(value).__name__


def _is_python_number(value):
    return type(value) in (int, float, bool)


def _numeric_array(value, what, allow_scalar=False):
    """A float64 ndarray copy of a returned value, or AssertionError.

    Accepts a real (non-object) ndarray; with allow_scalar also a Python or
    numpy real number.  Subclasses are viewed as plain ndarrays, so none of
    their methods is used for the comparison.
    """
    if isinstance(value, np.ndarray):
        base = np.ndarray.view(value, np.ndarray)
        if base.dtype.kind not in "biuf":
            raise AssertionError(f"{what}: ожидался массив чисел, получен массив типа {base.dtype}")
        return np.array(base, dtype=np.float64)
    if allow_scalar and (
        _is_python_number(value) or isinstance(value, (np.integer, np.floating, np.bool_))
    ):
        return np.array(value, dtype=np.float64)
    expected = "число или np.ndarray" if allow_scalar else "np.ndarray"
    hint = " (забыт return?)" if value is None else ""
    raise AssertionError(f"{what}: ожидалось {expected}, получено {_describe(value)}{hint}")


def _mismatch_report(inputs, got, expected, bad, limit=4):
    """A few lines 'input -> got vs expected' for the failing elements."""
    idx = np.argwhere(bad)[:limit]
    lines = []
    for i in idx:
        i = tuple(i)
        src = ", ".join(f"{name}={_fmt(np.asarray(arr)[i])}" for name, arr in inputs)
        lines.append(f"  {src}: получено {_fmt(got[i], 10)}, ожидалось {_fmt(expected[i], 10)}")
    return "\n".join(lines)


def _close(got, expected, rtol, atol):
    with np.errstate(all="ignore"):
        return np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=False)


def _diagnose(got, candidates, rtol=1e-6, atol=1e-9):
    """Name of the first known mistake whose values equal got, or None."""
    for name, values in candidates:
        with np.errstate(all="ignore"):
            values = np.asarray(values, dtype=np.float64)
        if values.shape == got.shape and np.all(
            _close(got, values, rtol, atol) | (np.isnan(got) & np.isnan(values))
        ):
            return name
    return None


def _assert_values(got, expected, *, what, inputs, rtol, atol, candidates=()):
    ok = _close(got, expected, rtol, atol)
    if np.all(ok):
        return
    hint = _diagnose(got, candidates)
    message = (
        f"{what}: значения неверны (допустимая погрешность: относительная {rtol:g}, абсолютная {atol:g}); "
        f"не совпало {int(np.size(ok) - np.sum(ok))} из {np.size(ok)}.\n"
        + _mismatch_report(inputs, got, expected, ~ok)
    )
    if hint:
        message += f"\nПохоже на ошибку: {hint}."
    raise AssertionError(message)


def _assert_finite(got, what, inputs, hint=""):
    bad = ~np.isfinite(got)
    if np.any(bad):
        raise AssertionError(
            f"{what}: в результате есть nan или inf.{hint}\n"
            + "\n".join(
                f"  {', '.join(f'{n}={_fmt(np.asarray(a)[tuple(i)])}' for n, a in inputs)}: "
                f"получено {_fmt(got[tuple(i)])}"
                for i in np.argwhere(bad)[:4]
            )
        )


def _assert_unchanged(before, after, what, name):
    after_arr = np.ndarray.view(after, np.ndarray) if isinstance(after, np.ndarray) else after
    if (
        not isinstance(after_arr, np.ndarray)
        or after_arr.shape != before.shape
        or not np.array_equal(after_arr, before)
    ):
        raise AssertionError(
            f"{what}: функция изменила входной массив {name}; "
            f"не меняйте аргументы на месте (сделайте копию)."
        )


# --------------------------------------------------------------------------
# random_sample
# --------------------------------------------------------------------------
_SPLIT_ORDER = "(X_train, X_test, y_train, y_test)"


def _split_case(rng, class_sizes, labels, n_features=None, shuffle=True, label_dtype=None):
    """Inputs of one split case: X values are unique and disjoint from labels."""
    y = np.concatenate([np.full(size, label) for label, size in zip(labels, class_sizes)])
    if label_dtype is not None:
        y = y.astype(label_dtype)
    n = len(y)
    if shuffle:
        y = y[rng.permutation(n)]
    # Unique non-integer values far from any label: 1000.25, 1001.25, ...
    base = 1000.25 + rng.permutation(n).astype(float)
    if n_features is None:
        X = base
    else:
        X = base[:, None] + 0.5 * np.arange(n_features)[None, :] * 1e-3
    return X, y


def _row_keys(A):
    A = np.asarray(A, dtype=np.float64)
    if A.ndim == 1:
        return [float(v) for v in A]
    width = int(np.prod(A.shape[1:]))
    return [tuple(float(v) for v in row) for row in A.reshape(len(A), width)]


def _check_one_split(random_sample, X, y, fraction, case):
    """Run one split and check it; returns the set of X rows put in train."""
    call = (
        "random_sample(X, y)" if fraction is None else f"random_sample(X, y, fraction={fraction})"
    )
    frac = 0.8 if fraction is None else fraction
    what = f"{call} [{case}]"
    X_before, y_before = X.copy(), y.copy()
    X_arg, y_arg = X.copy(), y.copy()
    kwargs = {} if fraction is None else {"fraction": fraction}
    result = _call(random_sample, what, X_arg, y_arg, **kwargs)

    # type: a tuple (or list) of four arrays
    if not isinstance(result, (tuple, list)):
        raise AssertionError(
            f"{what}: ожидался кортеж из 4 массивов {_SPLIT_ORDER}, получено {_describe(result)}"
        )
    if len(result) != 4:
        raise AssertionError(f"{what}: ожидалось 4 значения {_SPLIT_ORDER}, получено {len(result)}")
    names = ["X_train", "X_test", "y_train", "y_test"]
    parts = [_numeric_array(part, f"{what}, {name}") for part, name in zip(result, names)]
    _assert_unchanged(X_before, X_arg, what, "X")
    _assert_unchanged(y_before, y_arg, what, "y")

    # order: which outputs hold X values and which hold labels
    labels = np.unique(y_before)
    label_set = set(float(v) for v in labels)
    x_set = set(_row_keys(X_before)) if X_before.ndim == 1 else None

    def kind(part):
        if part.size == 0:
            return "?"
        flat = set(float(v) for v in part.ravel())
        if flat <= label_set:
            return "y"
        if X_before.ndim == 1 and flat <= x_set:
            return "X"
        if X_before.ndim == 2 and part.ndim == 2:
            return "X"
        return "?"

    kinds = [kind(p) for p in parts]
    if kinds != ["X", "X", "y", "y"] and "?" not in kinds:
        got_desc = ", ".join("строки X" if k == "X" else "метки y" for k in kinds)
        raise AssertionError(
            f"{what}: неверный порядок возвращаемых значений. Ожидается {_SPLIT_ORDER}, "
            f"а по содержимому получено ({got_desc})."
        )
    X_tr, X_te, y_tr, y_te = parts

    # shapes
    feat_shape = X_before.shape[1:]
    for name, part in (("X_train", X_tr), ("X_test", X_te)):
        if part.shape[1:] != feat_shape:
            raise AssertionError(
                f"{what}: {name} имеет форму {part.shape}, а строки X имеют форму "
                f"{feat_shape} (ожидалась форма (k,) + {feat_shape})."
            )
    for name, part in (("y_train", y_tr), ("y_test", y_te)):
        if part.ndim != 1:
            raise AssertionError(f"{what}: {name} должен быть одномерным, форма {part.shape}.")
    if len(X_tr) != len(y_tr) or len(X_te) != len(y_te):
        raise AssertionError(
            f"{what}: длины не согласованы: len(X_train)={len(X_tr)}, len(y_train)={len(y_tr)}, "
            f"len(X_test)={len(X_te)}, len(y_test)={len(y_te)}."
        )

    # sizes per class
    expected_train = {float(c): int(frac * int(np.sum(y_before == c))) for c in labels}
    expected_test = {
        float(c): int(np.sum(y_before == c)) - expected_train[float(c)] for c in labels
    }
    got_train = {float(c): int(np.sum(y_tr == c)) for c in labels}
    n_total = len(y_before)
    for name, part in (("X_train", X_tr), ("X_test", X_te)):
        keys = _row_keys(part)
        if len(set(keys)) != len(keys):
            raise AssertionError(
                f"{what}: в {name} есть повторяющиеся строки X. Выбирайте индексы без "
                f"повторов (np.random.choice(..., replace=False) или перестановка)."
            )
    if len(y_tr) + len(y_te) != n_total:
        extra = " Есть пересечение train и test?" if len(y_tr) + len(y_te) > n_total else ""
        raise AssertionError(
            f"{what}: в train и test вместе {len(y_tr) + len(y_te)} строк, "
            f"а в X — {n_total}. Каждая строка должна попасть ровно в одну часть.{extra}"
        )
    if got_train != expected_train:
        hint = ""
        if got_train == expected_test:
            hint = (
                " Похоже, train и test перепутаны (или fraction взята как доля test): "
                "fraction — доля train, порядок возврата " + _SPLIT_ORDER + "."
            )
        elif len(set(got_train.values())) == 1 and len(set(expected_train.values())) > 1:
            hint = (
                " В train одинаковое число элементов каждого класса, а классы разного "
                "размера: берите int(fraction * размер класса) из каждого класса."
            )
        elif sum(got_train.values()) in (sum(expected_train.values()), int(frac * n_total)):
            hint = (
                " Общий размер train верный, но пропорции классов нарушены: "
                "разбиение должно быть стратифицированным (отдельно по каждому классу; "
                "метки могут идти в любом порядке, классы могут быть разного размера)."
            )
        else:
            rounded = {float(c): round(frac * int(np.sum(y_before == c))) for c in labels}
            if got_train == rounded:
                hint = (
                    " Размер должен быть int(fraction * n_class) (округление вниз), а не round()."
                )

        def fmt_counts(d):
            return "{" + ", ".join(f"{_fmt(np.float64(c))}: {v}" for c, v in d.items()) + "}"

        raise AssertionError(
            f"{what}: неверные размеры train по классам (метка: число строк). "
            f"Получено {fmt_counts(got_train)}, ожидалось {fmt_counts(expected_train)} "
            f"= int(fraction * размер класса).{hint}"
        )

    # disjoint and covering, pairs (x, y) kept
    pairs_before = sorted(zip(_row_keys(X_before), (float(v) for v in y_before)))
    pairs_train = list(zip(_row_keys(X_tr), (float(v) for v in y_tr)))
    pairs_test = list(zip(_row_keys(X_te), (float(v) for v in y_te)))
    if sorted(pairs_train + pairs_test) != pairs_before:
        x_all = sorted(_row_keys(X_tr) + _row_keys(X_te))
        if x_all != sorted(_row_keys(X_before)):
            keys_tr = set(_row_keys(X_tr))
            if keys_tr & set(_row_keys(X_te)):
                raise AssertionError(
                    f"{what}: train и test пересекаются (одна строка X попала в обе части); "
                    f"части должны быть непересекающимися и вместе давать весь X."
                )
            raise AssertionError(
                f"{what}: строки X_train и X_test вместе не совпадают со строками X "
                f"(часть строк потеряна или повторена)."
            )
        raise AssertionError(
            f"{what}: пары (x, y) разорваны: метка строки в train/test не совпадает с её "
            f"меткой в исходных данных. Выбирайте X и y одними и теми же индексами."
        )
    return set(_row_keys(X_tr))


def check_random_sample(random_sample):
    """Stratified split: order, per-class sizes, disjoint, covering, random, fast."""
    rng = np.random.default_rng(20260501)
    cases = [
        # (class sizes, labels, n_features, shuffle, label dtype, fraction, description)
        ((30, 30), (0, 1), None, True, float, None, "два класса, метки перемешаны"),
        ((25, 25), (False, True), None, False, bool, 0.6, "метки bool, отсортированы"),
        ((45, 15), (0, 1), None, True, int, 0.7, "несбалансированные классы"),
        ((16, 7), (1, 0), None, True, int, 0.8, "нечётный размер класса"),
        ((20, 12, 9), (-1, 1, 3), None, True, int, 0.75, "три класса с метками -1, 1, 3"),
        ((18, 22), (0, 1), 3, True, float, 0.5, "двумерный X формы (n, 3)"),
        ((40, 60), (1, 0), None, True, float, 0.25, "fraction=0.25"),
        ((55, 25, 20), (2, 0, 1), None, True, int, 0.9, "три класса, fraction=0.9"),
    ]
    for sizes, labels, n_features, shuffle, dtype, fraction, desc in cases:
        X, y = _split_case(rng, sizes, labels, n_features, shuffle, dtype)
        _check_one_split(random_sample, X, y, fraction, desc)

    _check_split_randomness(random_sample, rng)
    _check_split_growth(random_sample, rng)


def _seeded_split(random_sample, X, y, seed, what):
    """The X rows random_sample puts in train right after np.random.seed(seed)."""
    seed_global_rngs(random_sample, seed)
    return frozenset(_check_one_split(random_sample, X, y, 0.8, what))


def _check_split_randomness(random_sample, rng):
    """Randomness as the notebook promises: numpy's global generator decides the split."""
    X, y = _split_case(rng, (40, 40), (0, 1), None, True, float)
    what = "случайность"
    first, again = (_seeded_split(random_sample, X, y, SPLIT_SEEDS[0], what) for _ in range(2))
    if first != again:
        raise AssertionError(
            f"random_sample: после np.random.seed({SPLIT_SEEDS[0]}) два вызова на одних и тех же "
            "данных дали разные разбиения. Случайность должна идти только из глобального "
            "генератора numpy (np.random.permutation, np.random.choice): не вызывайте "
            "np.random.seed внутри функции, не создавайте свой генератор (default_rng, random) "
            "и не храните состояние между вызовами."
        )
    splits = {_seeded_split(random_sample, X, y, seed, what) for seed in SPLIT_SEEDS}
    firsts = set()
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        firsts |= set(_row_keys(X[members[: int(0.8 * len(members))]]))
    if splits == {frozenset(firsts)}:
        raise AssertionError(
            "random_sample: в train всегда попадают первые элементы каждого класса в порядке "
            "данных. Перемешайте индексы каждого класса (np.random.permutation) перед выбором."
        )
    if len(splits) < len(SPLIT_SEEDS) - 1:
        raise AssertionError(
            f"random_sample: после np.random.seed(s) для {len(SPLIT_SEEDS)} разных s получено "
            f"лишь {len(splits)} разных разбиений. Разбиение должно зависеть от состояния "
            "глобального генератора numpy: не задавайте seed внутри функции и выбирайте "
            "элементы случайно (np.random.permutation / np.random.choice)."
        )
    # Frequencies: every element of a class lands in test equally often.
    keys = _row_keys(X)
    in_test = dict.fromkeys(keys, 0)
    for seed in range(SPLIT_FREQ_SEEDS):
        train = _seeded_split(random_sample, X, y, 10_000 + seed, what)
        for key in keys:
            in_test[key] += key not in train
    worst = None
    for label in np.unique(y):
        members = [k for k, v in zip(keys, y) if v == label]
        p = 1 - int(0.8 * len(members)) / len(members)
        sigma = math.sqrt(SPLIT_FREQ_SEEDS * p * (1 - p))
        for key in members:
            deviation = abs(in_test[key] - SPLIT_FREQ_SEEDS * p) / sigma
            if deviation > SPLIT_FREQ_SIGMAS and (worst is None or deviation > worst[0]):
                worst = (deviation, key, in_test[key], p)
    if worst is not None:
        _, key, count, p = worst
        raise AssertionError(
            f"random_sample: за {SPLIT_FREQ_SEEDS} разбиений с разными np.random.seed элемент "
            f"x={_fmt(np.float64(key))} попал в test {count} раз, а при случайном выборе "
            f"ожидается около {SPLIT_FREQ_SEEDS * p:.0f}. Все элементы класса должны попадать "
            "в test одинаково часто: перемешивайте индексы каждого класса целиком "
            "(np.random.permutation), а не сдвигайте или выбирайте из части."
        )


def _check_split_growth(random_sample, rng):
    """Complexity: CPU time at 8n against n (see SPLIT_GROWTH_LIMIT)."""
    costs = []
    for n in (SPLIT_GROWTH_N, SPLIT_GROWTH_FACTOR * SPLIT_GROWTH_N):
        X, y = _split_case(rng, (n // 2 + 1, n // 2 - 1), (0, 1), None, True, float)
        what = f"random_sample(X, y) [{n} точек]"
        spent, calls = 0.0, 0
        while calls == 0 or (spent < SPLIT_CPU_SAMPLE_S and calls < SPLIT_MAX_REPEATS):
            _, cpu = _cpu_call(random_sample, what, X.copy(), y.copy())
            spent, calls = spent + cpu, calls + 1
            if n > SPLIT_GROWTH_N:
                break  # one call of the large size is enough (and the slow one is long)
        costs.append(spent / calls)
    small, large = costs
    if large > SPLIT_GROWTH_LIMIT * max(small, SPLIT_CPU_FLOOR_S):
        factor = large / max(small, 1e-9)
        raise AssertionError(
            f"random_sample: при росте данных в {SPLIT_GROWTH_FACTOR} раз (с {SPLIT_GROWTH_N} до "
            f"{SPLIT_GROWTH_FACTOR * SPLIT_GROWTH_N} точек) процессорное время выросло в "
            f"{factor:.0f} раз (допустимо {SPLIT_GROWTH_LIMIT:g}): время растёт как квадрат "
            "размера. Так бывает, если для каждого элемента искать его в списке (`i not in "
            "список`) или добавлять элементы по одному (np.append в цикле копирует массив). "
            "Отберите test одной операцией: булевой маской или np.setdiff1d."
        )


# --------------------------------------------------------------------------
# sigmoid
# --------------------------------------------------------------------------
def _sigmoid_candidates(x):
    with np.errstate(all="ignore"):
        return [
            (
                "знак в экспоненте: 1 / (1 + exp(x)) = 1 - sigmoid(x) вместо 1 / (1 + exp(-x))",
                reference.sigmoid(-x),
            ),
            ("лишний множитель: 1 / (1 + exp(-2x))", reference.sigmoid(2 * x)),
            ("лишний множитель: 1 / (1 + exp(-x/2))", reference.sigmoid(x / 2)),
            ("это tanh(x), а не сигмоида", np.tanh(x)),
            ("1 / (1 - exp(-x)): знак в знаменателе", 1 / (1 - np.exp(-x))),
            ("вместо сигмоиды вычислена exp(x)", np.exp(x)),
            (
                "результат округлён до целых (empty_like от int-массива?)",
                np.trunc(reference.sigmoid(x)),
            ),
        ]


def _overflow_hint(x, got):
    """The side of the sigmoid where the non-finite values are, and its formula."""
    bad = ~np.isfinite(np.broadcast_to(got, np.shape(x))) if np.shape(got) == np.shape(x) else None
    if bad is None or not np.any(bad):
        return ""
    sides = []
    if np.any(bad & (x > 0)):
        sides.append(
            " При больших положительных x exp(x) переполняется (exp(710) = inf, а inf / inf = "
            "nan): для x >= 0 считайте 1 / (1 + exp(-x))."
        )
    if np.any(bad & (x <= 0)):
        sides.append(
            " При больших отрицательных x exp(-x) переполняется (exp(710) = inf): для x < 0 "
            "считайте exp(x) / (1 + exp(x))."
        )
    return "".join(sides)


def _check_sigmoid_on(sigmoid, x, what, rtol, atol, scalar):
    x_arg = x if scalar else np.array(x, copy=True)
    hint = (
        ""
        if scalar
        else (
            ". Для массивов нужны функции numpy (np.exp), а не math.exp; "
            "сигмоида должна работать с массивом любой формы."
        )
    )
    result = _call(sigmoid, what, x_arg, error_hint=hint)
    if not scalar:
        _assert_unchanged(np.asarray(x), x_arg, what, "x")
    expected_shape = () if scalar else np.shape(x)
    got = _numeric_array(result, what, allow_scalar=True)
    if isinstance(result, np.ndarray) and not scalar and result.shape != expected_shape:
        raise AssertionError(
            f"{what}: форма результата {result.shape}, ожидалась {expected_shape} "
            f"(сигмоида применяется поэлементно, форма сохраняется)."
        )
    if not isinstance(result, np.ndarray) and expected_shape != ():
        raise AssertionError(
            f"{what}: для массива формы {expected_shape} ожидался np.ndarray той же формы, "
            f"получено {_describe(result)}."
        )
    if got.shape != expected_shape:
        raise AssertionError(
            f"{what}: для числа ожидалось число (размерность 0), получен массив формы {got.shape}."
        )
    if isinstance(result, np.ndarray) and result.dtype.kind != "f":
        raise AssertionError(
            f"{what}: результат имеет тип {result.dtype}, ожидались числа с плавающей точкой "
            f"(сигмоида принимает значения между 0 и 1)."
        )
    x64 = np.asarray(x, dtype=np.float64)
    expected = reference.sigmoid(x64)
    inputs = [("x", x64)]
    hint = _overflow_hint(x64, got)
    finite = np.isfinite(got)
    if (
        hint
        and got.shape == x64.shape
        and not np.all(_close(got[finite], reference.sigmoid(x64[finite]), rtol, atol))
    ):
        mistake = _diagnose(
            got[finite], [(name, np.asarray(v)[finite]) for name, v in _sigmoid_candidates(x64)]
        )
        if mistake:
            hint += f" Кроме того, конечные значения похожи на ошибку: {mistake}."
    _assert_finite(got, what, inputs, hint=hint)
    _assert_values(
        got,
        np.asarray(expected),
        what=what,
        inputs=inputs,
        rtol=rtol,
        atol=atol,
        candidates=_sigmoid_candidates(x64),
    )
    return got


def check_sigmoid_values(sigmoid):
    """Values, types and shapes of sigmoid on moderate inputs (|x| <= 40).

    Warnings are not judged (here or anywhere): they are reported by the
    student's own process, so no verdict can rest on them.
    """
    rng = np.random.default_rng(20260502)
    cases = [
        (0.37, "sigmoid(0.37) для числа Python", True),
        (-2, "sigmoid(-2) для целого числа Python", True),
        (np.float64(1.9), "sigmoid(np.float64(1.9))", True),
        (np.array(-0.8), "sigmoid(0-мерный массив)", False),
        (np.linspace(-7.5, 7.5, 11), "sigmoid(np.linspace(-7.5, 7.5, 11))", False),
        (np.arange(-4, 5), "sigmoid(np.arange(-4, 5)) — массив целых", False),
        (rng.uniform(-40, 40, size=57), "sigmoid(x), x — 57 случайных чисел из [-40, 40]", False),
        (rng.normal(0, 3, size=(4, 6)), "sigmoid(x) для массива формы (4, 6)", False),
        (rng.uniform(-12, 12, size=(2, 3, 5)), "sigmoid(x) для массива формы (2, 3, 5)", False),
    ]  # no empty array: np.vectorize-based answers fail on it, and nothing needs it
    for x, what, scalar in cases:
        _check_sigmoid_on(sigmoid, x, what, SIGMOID_RTOL, SIGMOID_ATOL, scalar)


def check_sigmoid_stability(sigmoid):
    """Large |x| (up to 1e3), judged on the returned values only: finite, in [0, 1]
    and equal to the true sigmoid within SIGMOID_RTOL/SIGMOID_ATOL (so the limits
    0 and 1 are right and inf / inf = nan is not). No value-based rule can tell the
    naive 1 / (1 + exp(-x)) from the correct tanh form (tanh is the less accurate
    of the two at every x), so the rule does not try: see docs/rules.md."""
    rng = np.random.default_rng(20260503)
    extremes = np.array(
        [
            -1000.0,
            -800.0,
            -745.5,
            -710.0,
            -100.0,
            -36.0,
            0.0,
            36.0,
            100.0,
            710.0,
            745.5,
            800.0,
            1000.0,
        ]
    )
    cases = [
        (extremes, "sigmoid(x) для x = [-1000, -800, ..., 800, 1000]", False),
        (
            rng.uniform(-1000, 1000, size=(5, 8)),
            "sigmoid(x), x из [-1000, 1000], форма (5, 8)",
            False,
        ),
        (-900.0, "sigmoid(-900.0)", True),
        (900.0, "sigmoid(900.0)", True),
    ]
    for x, what, scalar in cases:
        got = _check_sigmoid_on(sigmoid, x, what, SIGMOID_RTOL, SIGMOID_ATOL, scalar)
        if np.any(got < 0) or np.any(got > 1):
            raise AssertionError(f"{what}: значения сигмоиды должны лежать в [0, 1].")


# --------------------------------------------------------------------------
# BCELoss
# --------------------------------------------------------------------------
def _bce(p, y, eps):
    return reference.BCELoss(p, y, eps=eps)


def _bce_candidates(p, y, eps):
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ref = _bce(p, y, eps)
    with np.errstate(all="ignore"):
        seed_defect = np.where(p <= eps, 1.0, np.where(p >= 1 - eps, 0.0, ref))
        unclipped = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        return [
            (
                "при p <= eps и p >= 1-eps потеря 1 или 0 независимо от метки; уверенная "
                "ошибка должна давать большую потерю -log(eps)",
                seed_defect,
            ),
            ("логарифм по основанию 2 (нужен натуральный np.log)", ref / np.log(2)),
            ("логарифм по основанию 10 (нужен натуральный np.log)", ref / np.log(10)),
            ("потерян знак минус", -ref),
            ("перепутаны y и 1 - y", _bce(p, 1 - y, eps)),
            ("нет отсечения вероятностей к [eps, 1 - eps]", unclipped),
            ("отсечение с eps по умолчанию вместо переданного eps", _bce(p, y, 1e-5)),
            (
                "log(p + eps) вместо отсечения p к [eps, 1 - eps] (np.clip)",
                -(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)),
            ),
            (
                "отсечение только снизу (p < eps)",
                -(y * np.log(np.maximum(p, eps)) + (1 - y) * np.log(1 - np.maximum(p, eps))),
            ),
        ]


def check_bce_loss(BCELoss):
    """Per-element BCE with natural log, clipping at eps, any label dtype."""
    rng = np.random.default_rng(20260504)
    p1 = rng.uniform(0.02, 0.98, size=13)
    y1 = (rng.random(13) < 0.5).astype(float)
    p2 = rng.uniform(0.001, 0.999, size=(3, 4))
    y2 = rng.integers(0, 2, size=(3, 4))
    p3 = rng.uniform(0.05, 0.95, size=9)
    y3 = rng.random(9) < 0.5
    extremes = np.array([0.0, 1e-9, 3e-6, 0.5, 1 - 3e-6, 1 - 1e-9, 1.0])
    p4 = np.concatenate([extremes, extremes])
    y4 = np.concatenate([np.zeros(7), np.ones(7)])
    p5 = np.array([0.0, 2e-4, 5e-4, 0.002, 0.3, 0.998, 0.9995, 1.0, 0.0, 1.0, 0.9995, 2e-4])
    y5 = np.array([1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1])
    cases = [
        (p1, y1, None, "BCELoss(x, y), метки float 0/1"),
        (p2, y2, None, "BCELoss(x, y) для массивов формы (3, 4), метки int"),
        (
            p4,
            y4,
            None,
            "BCELoss(x, y) с вероятностями 0, 1 и отстоящими от них меньше чем на eps=1e-5",
        ),
        (p5, y5, 1e-3, "BCELoss(x, y, eps=1e-3)"),
        (p3, y3, None, "BCELoss(x, y), метки bool (как y = X > 0 в ноутбуке)"),
    ]
    bool_hint = ". Метки могут быть bool: приведите y к float (np.asarray(y, dtype=float))."
    for p, y, eps, what in cases:
        p_arg, y_arg = np.array(p, copy=True), np.array(y, copy=True)
        hint = bool_hint if y.dtype == bool else ""
        if eps is None:
            result = _call(BCELoss, what, p_arg, y_arg, error_hint=hint)
            eps_value = 1e-5
        else:
            result = _call(BCELoss, what, p_arg, y_arg, eps=eps, error_hint=hint)
            eps_value = eps
        if not isinstance(result, np.ndarray) and (
            _is_python_number(result) or isinstance(result, np.generic)
        ):
            raise AssertionError(
                f"{what}: получено одно число {_safe_str(result)}, а нужен массив потерь "
                f"каждого элемента формы {p.shape} (не усредняйте и не суммируйте)."
            )
        got = _numeric_array(result, what)
        _assert_unchanged(np.asarray(p), p_arg, what, "x")
        _assert_unchanged(np.asarray(y), y_arg, what, "y")
        if got.shape != p.shape:
            raise AssertionError(
                f"{what}: форма результата {got.shape}, ожидалась {p.shape} "
                f"(потеря считается для каждого элемента)."
            )
        expected = _bce(p, np.asarray(y, dtype=float), eps_value)
        inputs = [("x", p), ("y", np.asarray(y, dtype=float))]
        hint_candidates = _bce_candidates(p, y, eps_value)
        if not np.all(np.isfinite(got)):
            bad = ~np.isfinite(got)
            raise AssertionError(
                f"{what}: в результате есть inf или nan — вероятности нужно ограничить "
                f"отрезком [eps, 1 - eps] (np.clip) перед логарифмом.\n"
                + _mismatch_report(inputs, got, expected, bad)
            )
        _assert_values(
            got,
            expected,
            what=what,
            inputs=inputs,
            rtol=BCE_RTOL,
            atol=BCE_ATOL,
            candidates=hint_candidates,
        )


# --------------------------------------------------------------------------
# backprop
# --------------------------------------------------------------------------
# A probe net computes r = sigmoid(PROBE_SCALE * (w * x + b)): a backprop that
# recomputes the forward pass itself instead of calling net(x) takes a different step.
PROBE_SCALE = 2.0
ACTIVATIONS = ("reference", "probe")


class CheckNet(reference.Net):
    """reference.Net whose activation is the reference sigmoid, the probe, or a given one.

    activation: "reference", "probe" (the reference sigmoid of PROBE_SCALE * l), or a
    sigmoid implementation (see the protocol at the top of this module).
    """

    def __init__(self, w, b, activation="reference"):
        super().__init__(w, b)
        self.activation = activation

    def forward(self, x):
        pre = self.w * x + self.b
        if self.activation == "reference":
            return reference.sigmoid(pre)
        if self.activation == "probe":
            return reference.sigmoid(PROBE_SCALE * pre)
        return self.activation(pre)


def _param_value(value, name, what):
    """A returned parameter as a Python float (a real number or size-1 array)."""
    if (
        isinstance(value, np.ndarray)
        or _is_python_number(value)
        or isinstance(value, (np.integer, np.floating))
    ):
        arr = _numeric_array(value, f"{what}: net.{name}", allow_scalar=True)
        if arr.size != 1:
            raise AssertionError(
                f"{what}: после шага net.{name} стал массивом формы {arr.shape}, а должен "
                f"остаться числом. Усредните градиент по примерам (np.mean)."
            )
        return float(arr.reshape(()))
    raise AssertionError(
        f"{what}: после шага net.{name} имеет тип {_describe(value)}, ожидалось число."
    )


def _backprop_candidates(w, b, x, y, lr, r, n_default_lr=False):
    """(name, (dw, db)) of known wrong steps; dw, db are the changes of w, b; r = net(x)."""
    own = reference.sigmoid(w * x + b)
    e = r - y
    gw, gb = np.mean(e * x), np.mean(e)
    n = len(x)
    mse_w, mse_b = np.mean(e * r * (1 - r) * x), np.mean(e * r * (1 - r))
    candidates = []
    if not np.allclose(own, r, rtol=1e-9, atol=1e-15):
        candidates.append(
            (
                "r посчитано внутри backprop по формуле сигмоиды, а не взято из net(x); "
                "net может считать вероятности по-своему: используйте r = net(x)",
                (-lr * np.mean((own - y) * x), -lr * np.mean(own - y)),
            )
        )
    return (
        candidates
        + [
            (
                "перепутан знак: нужно w -= lr * grad (градиентный спуск), а не +=",
                (lr * gw, lr * gb),
            ),
            (
                "сумма вместо среднего: используйте np.mean, а не np.sum",
                (-lr * gw * n, -lr * gb * n),
            ),
            ("забыт множитель lr", (-gw, -gb)),
            ("в градиенте по w забыт множитель x (dl/dw = x)", (-lr * gb, -lr * gb)),
            (
                "градиент MSE вместо BCE: для BCE dL/dl = r - y без r(1 - r)",
                (-lr * mse_w, -lr * mse_b),
            ),
            ("градиент MSE с множителем 2", (-2 * lr * mse_w, -2 * lr * mse_b)),
            ("обновлён только w, b не меняется", (-lr * gw, 0.0)),
            ("обновлён только b, w не меняется", (0.0, -lr * gb)),
            ("градиенты w и b перепутаны", (-lr * gb, -lr * gw)),
            ("среднее ещё раз поделено на n", (-lr * gw / n, -lr * gb / n)),
            ("градиент по b тоже умножен на x (dl/db = 1)", (-lr * gw, -lr * gw)),
            (
                "mean(r - y) * mean(x) вместо mean((r - y) * x)",
                (-lr * gb * float(np.mean(x)), -lr * gb),
            ),
            (
                "вместо вероятностей r = net(x) взяты логиты l = w * x + b",
                (-lr * float(np.mean((w * x + b - y) * x)), -lr * float(np.mean(w * x + b - y))),
            ),
            (
                "b обновлён по прогнозу, посчитанному уже с новым w: сначала вычислите оба "
                "градиента, потом меняйте параметры",
                (-lr * gw, -lr * float(np.mean(reference.sigmoid((w - lr * gw) * x + b) - y))),
            ),
        ]
        + (
            [
                ("lr по умолчанию должен быть 0.01", (-0.1 * gw, -0.1 * gb)),
                ("lr по умолчанию должен быть 0.01", (-0.001 * gw, -0.001 * gb)),
            ]
            if n_default_lr
            else []
        )
    )


def _backprop_step(backprop, net, x, y, lr, what, label_kind="float", r=None, step_hint=""):
    """One call backprop(net, x, y[, lr]) judged against the closed-form step from the
    net's state before the call. r: the net's probabilities net(x) (computed here
    from the grader's own net when not given)."""
    w, b = _param_value(net.w, "w", what), _param_value(net.b, "b", what)
    yf = np.asarray(y, dtype=np.float64)
    if r is None:
        r = np.asarray(CheckNet(w, b, net.activation).forward(x), dtype=np.float64)
    lr_value = 0.01 if lr is None else lr
    x_arg, y_arg = x.copy(), y.copy()
    kwargs = {} if lr is None else {"lr": lr}
    hint = (
        ". Метки могут быть bool (y = X > 0 в ноутбуке): приведите y к float."
        if label_kind == "bool"
        else ""
    )
    _call(backprop, what, net, x_arg, y_arg, error_hint=hint, **kwargs)
    _assert_unchanged(x, x_arg, what, "x")
    _assert_unchanged(y, y_arg, what, "y")
    w_new = _param_value(net.w, "w", what)
    b_new = _param_value(net.b, "b", what)
    saturated = bool(np.any((r == 0.0) | (r == 1.0)))
    if not (math.isfinite(w_new) and math.isfinite(b_new)):
        raise AssertionError(
            f"{what}: после шага net.w={w_new}, net.b={b_new} — не конечные числа."
            + (
                " Часть вероятностей r = net(x) равна ровно 0 или 1 (сеть уверена в верных "
                "ответах): деления на r и 1 - r дают 0 / 0 = nan. Защитите деления "
                "(np.clip(r, eps, 1 - eps)) или используйте упрощённую формулу r - y."
                if saturated
                else ""
            )
        )
    gw, gb = float(np.mean((r - yf) * x)), float(np.mean(r - yf))
    expected = np.array([-lr_value * gw, -lr_value * gb])
    got = np.array([w_new - w, b_new - b])
    if got[0] == 0.0 and got[1] == 0.0 and np.any(expected != 0.0):
        raise AssertionError(
            f"{what}: net.w и net.b не изменились. backprop должна обновлять параметры "
            f"сети на месте (net.w -= ..., net.b -= ...), а не возвращать новые."
        )
    ok = np.isclose(got, expected, rtol=BACKPROP_RTOL, atol=BACKPROP_ATOL)
    if np.all(ok):
        return
    hint = step_hint
    for name, (dw, db) in _backprop_candidates(w, b, x, yf, lr_value, r, lr is None):
        if np.allclose(got, [dw, db], rtol=1e-6, atol=1e-12):
            hint = name
            break
    if not hint:
        # The same call again on a fresh net in the same state: a different step
        # means the function keeps state between calls.
        again = CheckNet(w, b, net.activation)
        _call(backprop, what, again, x.copy(), y.copy(), **kwargs)
        repeat = (_param_value(again.w, "w", what) - w, _param_value(again.b, "b", what) - b)
        if not np.allclose(repeat, got, rtol=1e-12, atol=0):
            hint = _STATE_HINT
    data = (
        f"  x = {_fmt(x, 4)}\n  y = {_fmt(yf, 1)}\n  r = net(x) = {_fmt(r, 4)}\n"
        if len(x) <= 8
        else ""
    )
    message = (
        f"{what}: неверный шаг градиентного спуска (допустимая относительная погрешность {BACKPROP_RTOL:g}).\n"
        + data
        + f"  изменение w: получено {_fmt(got[0], 10)}, ожидалось {_fmt(expected[0], 10)} "
        f"= -lr * mean((r - y) * x)\n"
        f"  изменение b: получено {_fmt(got[1], 10)}, ожидалось {_fmt(expected[1], 10)} "
        f"= -lr * mean(r - y)"
    )
    if hint:
        message += f"\nПохоже на ошибку: {hint}."
    raise AssertionError(message)


_STATE_HINT = (
    "два вызова с одинаковыми net.w, net.b, x и y дают разные шаги (или шаг на той же сети "
    "после первого отличается от формулы): backprop не должна хранить состояние между "
    "вызовами (свои атрибуты net, глобальные переменные, накопленные градиенты или "
    "сохранённое r) — каждый вызов считает шаг заново по текущим net.w и net.b"
)


def _net_desc(w, b):
    return f"net.w={_fmt(np.float64(w), 4)}, net.b={_fmt(np.float64(b), 4)}"


def check_backprop(backprop):
    """Gradient steps of the mean BCE, in place: one step on fresh nets (default and
    given lr, label dtypes), several steps on the same net, saturated nets, and a
    probe net whose net(x) is not sigmoid(w * x + b)."""
    rng = np.random.default_rng(20260505)
    # (w, b, x, y, lr or None, label kind); |w*x + b| <= 6 everywhere.
    for n, lr, label_kind in (
        (7, None, "float"),
        (40, 0.1, "int"),
        (1, 0.5, "float"),
        (60, 0.03, "float"),
        (25, 2.0, "bool"),
    ):
        w = float(rng.uniform(-1.5, 1.5))
        b = float(rng.uniform(-1.0, 1.0))
        x = rng.uniform(-3.0, 3.0, size=n)
        y = rng.random(n) < 0.5
        y = {"float": y.astype(float), "int": y.astype(int), "bool": y}[label_kind]
        call = "backprop(net, x, y)" if lr is None else f"backprop(net, x, y, lr={lr})"
        what = f"{call} при {_net_desc(w, b)}, {len(x)} точек, метки {label_kind}"
        _backprop_step(backprop, CheckNet(w, b, "reference"), x, y, lr, what, label_kind)

    # Several steps on one net, as the training loop calls it.
    x = rng.uniform(-3.0, 3.0, size=30)
    y = (x + rng.normal(0, 1.0, size=30) > 0.3).astype(float)
    net = CheckNet(0.7, 0.1, "reference")
    for step in range(1, 5):
        what = f"шаг {step} из 4 подряд: backprop(net, x, y, lr=0.5) на одной и той же сети"
        _backprop_step(backprop, net, x, y, 0.5, what, step_hint=_STATE_HINT if step > 1 else "")

    # Saturated nets: confident and right on most points, so r = net(x) is exactly 0
    # or 1 there (as real training reaches); a few points near the boundary keep the
    # step large.
    x = np.concatenate([np.linspace(-3.0, 3.0, 21), [0.05, 0.06, 0.07, 0.08]])
    y = x > 0
    for w, b in ((300.0, -20.0), (-250.0, 10.0)):
        labels = y if w > 0 else ~y
        what = (
            f"backprop(net, x, y, lr=0.1) при {_net_desc(w, b)}: сеть насыщена, "
            f"net(x) равно ровно 0 или 1 на уверенно верных точках"
        )
        _backprop_step(backprop, CheckNet(w, b, "reference"), x, labels, 0.1, what, "bool")

    # A probe net: r = net(x) = sigmoid(2 * (w * x + b)); the step must use it.
    x = rng.uniform(-3.0, 3.0, size=12)
    y = (rng.random(12) < 0.5).astype(float)
    what = (
        "backprop(probe, x, y, lr=0.3), где probe(x) = sigmoid(2 * (w * x + b)) при "
        f"{_net_desc(0.4, -0.2)}: шаг должен идти по r = net(x)"
    )
    _backprop_step(backprop, CheckNet(0.4, -0.2, "probe"), x, y, 0.3, what)


# --------------------------------------------------------------------------
# final accuracy
# --------------------------------------------------------------------------
FINAL_SPLIT_SEED = 2026


def final_split():
    """The notebook's data and split (train 64 / val 16 / test 20), fixed seed.

    Uses numpy's global RNG (as the reference split does) and restores its
    state afterwards.
    """
    X = np.linspace(reference.X_LOW, reference.X_HIGH, reference.N_POINTS)
    y = reference.target(X)
    state = np.random.get_state()
    try:
        np.random.seed(FINAL_SPLIT_SEED)
        X_train, X_test, y_train, y_test = reference.random_sample(X, y, fraction=0.8)
        X_train, X_val, y_train, y_val = reference.random_sample(X_train, y_train, fraction=0.8)
    finally:
        np.random.set_state(state)
    return X_train, X_val, X_test, y_train, y_val, y_test


# Training must at least halve the mean test BCE of the untrained
# Net(0.7, 0.1).  Accuracy alone cannot fail a backprop that does nothing:
# the untrained net already misclassifies at most one point of linspace(-5, 5,
# 100) (x = -0.05), which is within the 1/n_test allowance.  The reference
# cuts the loss ~9x (0.18 -> 0.02); the MSE gradient still ~3x.
FINAL_LOSS_FACTOR = 0.5
# Training must be made of the student's own gradient steps, not a jump to good
# values: at these steps (the first ones and one in every hundred) the change of
# (w, b) must be a descent direction of the mean BCE at the net's state at that
# moment (r = net(x) with the student's sigmoid), and before the first step the
# step must depend on the data (labels flipped -> a different step). The size of
# the step is the backprop cell's business (a sum instead of a mean still trains).
FOLLOWED_STEPS = frozenset([0, 1, 2, *range(99, reference.N_STEPS, 100)])


def _step_of(backprop, net, x, y, lr, what):
    """(dw, db, r): the change backprop makes to net, and r = net(x) before it."""
    w, b = _param_value(net.w, "w", what), _param_value(net.b, "b", what)
    r = _numeric_array(_call(net, f"{what}: net(x)", x.copy()), f"{what}: net(x)")
    with _running(what):
        backprop(net, x.copy(), y.copy(), lr=lr)
    w_new, b_new = _param_value(net.w, "w", what), _param_value(net.b, "b", what)
    return w_new - w, b_new - b, r


def _check_step_uses_data(backprop, net, x, y, lr, what):
    """The step from the starting state differs when the labels are flipped."""
    steps = []
    # Other labels: a third of the points flipped (flipping all of balanced labels
    # would keep mean(y), and with it the step of b, unchanged).
    other = np.array(y, copy=True)
    other[: len(other) // 3] = ~other[: len(other) // 3]
    for labels in (y, other):
        probe = CheckNet(_param_value(net.w, "w", what), _param_value(net.b, "b", what))
        probe.activation = net.activation
        dw, db, _ = _step_of(backprop, probe, x, labels, lr, what)
        steps.append((dw, db))
    if steps[0] == (0.0, 0.0):
        raise AssertionError(
            f"{what}: первый шаг не изменил net.w и net.b. backprop должна обновлять параметры "
            "сети на месте (net.w -= ..., net.b -= ...), а не возвращать новые."
        )
    if steps[0] == steps[1]:
        raise AssertionError(
            f"{what}: шаг backprop не зависит от данных (с другими метками y он тот же: "
            f"изменение w {_fmt(np.float64(steps[0][0]), 6)}, b {_fmt(np.float64(steps[0][1]), 6)}). "
            "Обучение должно идти шагами градиентного спуска по x и y, а не присваивать "
            "параметрам готовые значения."
        )


def _check_descent_step(backprop, net, x, y, lr, what):
    """The change of (w, b) points downhill on the mean BCE at the current state."""
    dw, db, r = _step_of(backprop, net, x, y, lr, what)
    if not (math.isfinite(dw) and math.isfinite(db)):
        return  # the final check reports non-finite parameters
    yf = np.asarray(y, dtype=np.float64)
    gw, gb = float(np.mean((r - yf) * x)), float(np.mean(r - yf))
    if not dw * gw + db * gb < 0:
        raise AssertionError(
            f"{what}: шаг не уменьшает потерю: изменение (w, b) = ({_fmt(np.float64(dw), 6)}, "
            f"{_fmt(np.float64(db), 6)}), а градиент средней BCE ({_fmt(np.float64(gw), 6)}, "
            f"{_fmt(np.float64(gb), 6)}); шаг должен идти против градиента "
            "(w -= lr * dL/dw, b -= lr * dL/db) и зависеть от текущих w и b."
        )


def _mean_bce(probabilities, y):
    return float(np.mean(reference.BCELoss(probabilities, y)))


@functools.lru_cache(maxsize=1)
def reference_final_accuracy():
    """Test accuracy of the reference trained as in the notebook."""
    X_train, _, X_test, y_train, _, y_test = final_split()
    net = reference.Net(reference.INITIAL_W, reference.INITIAL_B)
    reference.train(net, X_train, y_train)
    return reference.accuracy(net(X_test), y_test)


@functools.lru_cache(maxsize=1)
def untrained_test_loss():
    """Mean test BCE of the untrained Net(0.7, 0.1)."""
    _, _, X_test, _, _, y_test = final_split()
    net = reference.Net(reference.INITIAL_W, reference.INITIAL_B)
    return _mean_bce(net(X_test), y_test)


def check_final_accuracy(sigmoid, backprop):
    """Training with the student's sigmoid and backprop reaches the reference accuracy."""
    X_train, _, X_test, y_train, _, y_test = final_split()
    ref_acc = reference_final_accuracy()
    net = CheckNet(reference.INITIAL_W, reference.INITIAL_B, sigmoid)
    what = (
        f"обучение Net({reference.INITIAL_W}, {reference.INITIAL_B}) вашими sigmoid и "
        f"backprop (lr={reference.LEARNING_RATE}, {reference.N_STEPS} шагов)"
    )
    lr = reference.LEARNING_RATE
    for step in range(reference.N_STEPS):
        if step == 0:
            _check_step_uses_data(backprop, net, X_train, y_train, lr, what)
        if step in FOLLOWED_STEPS:
            _check_descent_step(backprop, net, X_train, y_train, lr, f"{what}, шаг {step + 1}")
            continue
        with _running(f"{what}, шаг {step + 1}"):
            backprop(net, X_train.copy(), y_train.copy(), lr=lr)
    w = _param_value(net.w, "w", what)
    b = _param_value(net.b, "b", what)
    if not (math.isfinite(w) and math.isfinite(b)):
        raise AssertionError(f"{what}: параметры стали не конечными: w={w}, b={b}.")
    result = _call(net, f"{what}: предсказание на test", X_test.copy())
    probs = _numeric_array(result, f"{what}: предсказание на test", allow_scalar=False)
    if probs.shape != X_test.shape:
        raise AssertionError(
            f"{what}: предсказание на test имеет форму {probs.shape}, ожидалась {X_test.shape}."
        )
    acc = float(np.mean((probs > 0.5) == y_test))
    n_test = len(y_test)
    params = f"После обучения w={_fmt(np.float64(w), 4)}, b={_fmt(np.float64(b), 4)}."
    if acc < ref_acc - 1.0 / n_test:
        raise AssertionError(
            f"{what}: точность на test {acc:.2f}, а эталон, обученный так же, даёт "
            f"{ref_acc:.2f} (допустимо отстать на 1/{n_test}). {params}"
        )
    loss, start_loss = _mean_bce(probs, y_test), untrained_test_loss()
    if not loss <= FINAL_LOSS_FACTOR * start_loss:
        raise AssertionError(
            f"{what}: обучение почти не уменьшило потерю: средняя BCE на test "
            f"{_fmt(np.float64(loss), 4)}, у необученной сети {_fmt(np.float64(start_loss), 4)} "
            f"(нужно хотя бы вдвое меньше). Точность высока лишь потому, что "
            f"начальная сеть уже почти верна. {params}"
        )


# grade_id -> (check, names of the student functions it takes), from the contract.
CHECKS = {
    cell.grade_id: (globals()[cell.check], list(cell.functions)) for cell in contract.GRADED_CELLS
}
