"""Catalog of student implementations: correct variants and typical mistakes.

Data, not prose.  Every entry is the full source of one answer cell (self-
contained, may import), whether it is correct, and which graded cells it must
lose.  The expected points of every graded cell follow from that:

* a correct entry earns full points everywhere;
* a mistake earns 0 in the cells listed in ``loses`` (always cells of its own
  function) and full points in every other cell, except the final-accuracy
  cell, which is stated per entry (``final_accuracy``) because it trains with
  the student's sigmoid and backprop together.

``tests/test_catalog.py`` runs every check on every entry (the entry's function
plus the reference for the others) and compares with these expectations;
``tests/test_catalog_autograde.py`` does the same for a sample through real
``nbgrader autograde``.
"""
from dataclasses import dataclass

# Graded test cells and their points (docs/design.md).
POINTS = {
    "test_random_sample": 2.0,
    "test_sigmoid_values": 1.5,
    "test_sigmoid_stability": 0.5,
    "test_bce_loss": 2.0,
    "test_backprop": 3.0,
    "test_final_accuracy": 1.0,
}
TOTAL_POINTS = sum(POINTS.values())

# Function name -> grade_id of its answer cell.
ANSWER_CELLS = {
    "random_sample": "random_sample",
    "sigmoid": "sigmoid",
    "BCELoss": "bce_loss",
    "backprop": "backprop",
}
FUNCTIONS = tuple(ANSWER_CELLS)

# Graded cells that test each function on its own.
OWN_CELLS = {
    "random_sample": ("test_random_sample",),
    "sigmoid": ("test_sigmoid_values", "test_sigmoid_stability"),
    "BCELoss": ("test_bce_loss",),
    "backprop": ("test_backprop",),
}


@dataclass(frozen=True)
class Entry:
    name: str
    function: str
    correct: bool
    description: str
    code: str
    loses: tuple = ()
    final_accuracy: bool = True

    def __post_init__(self):
        if self.function not in ANSWER_CELLS:
            raise ValueError(f"{self.name}: unknown function {self.function!r}")
        if self.correct and (self.loses or not self.final_accuracy):
            raise ValueError(f"{self.name}: a correct entry loses nothing")
        if not self.correct and not set(self.loses):
            raise ValueError(f"{self.name}: a mistake must lose a cell of its own function")
        if not set(self.loses) <= set(OWN_CELLS[self.function]):
            raise ValueError(f"{self.name}: loses a cell of another function")
        if self.function not in ("sigmoid", "backprop") and not self.final_accuracy:
            raise ValueError(f"{self.name}: final accuracy uses only sigmoid and backprop")

    @property
    def answer_cell(self):
        return ANSWER_CELLS[self.function]

    def expected_points(self):
        """grade_id -> points this entry earns (other functions: reference)."""
        points = {}
        for cell, full in POINTS.items():
            if cell == "test_final_accuracy":
                points[cell] = full if self.final_accuracy else 0.0
            else:
                points[cell] = 0.0 if cell in self.loses else full
        return points


def _e(name, function, correct, description, code, loses=(), final_accuracy=True):
    return Entry(name, function, correct, description, code.strip("\n") + "\n",
                 tuple(loses), final_accuracy)


RS, SIG, BCE, BP = "random_sample", "sigmoid", "BCELoss", "backprop"
SIG_ALL = ("test_sigmoid_values", "test_sigmoid_stability")

ENTRIES = [
    # ------------------------------------------------------------------ random_sample
    _e("rs_mask", RS, True, "булева маска, перестановка индексов каждого класса", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    X, y = np.asarray(X), np.asarray(y)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.where(y == c)[0]
        k = int(fraction * len(idx))
        mask[np.random.permutation(idx)[:k]] = True
    return X[mask], X[~mask], y[mask], y[~mask]
'''),
    _e("rs_choice_setdiff", RS, True, "np.random.choice по классам + np.setdiff1d", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    train_idx = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        train_idx.append(np.random.choice(members, int(fraction * members.size), replace=False))
    train_idx = np.concatenate(train_idx)
    test_idx = np.setdiff1d(np.arange(len(y)), train_idx)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]
'''),
    _e("rs_default_rng", RS, True, "np.random.default_rng(), индексы перемешаны целиком", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    rng = np.random.default_rng()
    train_parts, test_parts = [], []
    for label in np.unique(y):
        members = rng.permutation(np.nonzero(y == label)[0])
        n_train = int(fraction * len(members))
        train_parts.append(members[:n_train])
        test_parts.append(members[n_train:])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return X[train], X[test], y[train], y[test]
'''),
    _e("rs_python_loop", RS, True, "чистый Python: словарь классов, random.shuffle, множество", '''
import random
import numpy as np

def random_sample(X, y, fraction=0.8):
    by_class = {}
    for i, label in enumerate(y.tolist()):
        by_class.setdefault(label, []).append(i)
    train = []
    for label, members in by_class.items():
        members = members[:]
        random.shuffle(members)
        train.extend(members[:int(fraction * len(members))])
    chosen = set(train)
    test = [i for i in range(len(y)) if i not in chosen]
    return X[train], X[test], y[train], y[test]
'''),
    _e("rs_global_order", RS, True, "одна общая перестановка, затем первые k каждого класса", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    order = np.random.permutation(len(y))
    y_shuffled = y[order]
    in_train = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        positions = order[y_shuffled == label]
        in_train[positions[:int(len(positions) * fraction)]] = True
    return X[in_train], X[~in_train], y[in_train], y[~in_train]
'''),
    _e("rs_np_append", RS, True, "индексы собираются np.append в цикле (медленно, но в пределах)", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    train = np.array([], dtype=int)
    test = np.array([], dtype=int)
    for c in np.unique(y):
        idx = np.random.permutation(np.flatnonzero(y == c))
        k = int(fraction * len(idx))
        for i in idx[:k]:
            train = np.append(train, i)
        for i in idx[k:]:
            test = np.append(test, i)
    return X[train], X[test], y[train], y[test]
'''),
    _e("rs_not_stratified", RS, False, "одна перестановка всех точек: не стратифицировано", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    order = np.random.permutation(len(y))
    k = int(fraction * len(y))
    return X[order[:k]], X[order[k:]], y[order[:k]], y[order[k:]]
''', loses=["test_random_sample"]),
    _e("rs_wrong_order", RS, False, "возвращает (X_train, y_train, X_test, y_test)", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[np.random.permutation(idx)[:int(fraction * len(idx))]] = True
    return X[mask], y[mask], X[~mask], y[~mask]
''', loses=["test_random_sample"]),
    _e("rs_fraction_swapped", RS, False, "fraction взята как доля test", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    in_test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        in_test[np.random.permutation(idx)[:int(fraction * len(idx))]] = True
    return X[~in_test], X[in_test], y[~in_test], y[in_test]
''', loses=["test_random_sample"]),
    _e("rs_overlap", RS, False, "train и test выбираются независимо и пересекаются", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = int(fraction * len(idx))
        train.extend(np.random.choice(idx, k, replace=False))
        test.extend(np.random.choice(idx, len(idx) - k, replace=False))
    return X[train], X[test], y[train], y[test]
''', loses=["test_random_sample"]),
    _e("rs_sorted_halves", RS, False, "как в исходном ноутбуке: классы — две равные отсортированные половины", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    n = len(y)
    per_class = int(0.5 * fraction * n)
    first = np.random.choice(np.arange(n // 2), per_class, replace=False)
    second = np.random.choice(np.arange(n // 2, n), per_class, replace=False)
    in_train = np.zeros(n, dtype=bool)
    in_train[first] = True
    in_train[second] = True
    return X[in_train], X[~in_train], y[in_train], y[~in_train]
''', loses=["test_random_sample"]),
    _e("rs_quadratic", RS, False, "верное разбиение, но `i not in list` — квадратичное время", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    train_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        train_idx += np.random.choice(idx, int(fraction * len(idx)), replace=False).tolist()
    test_idx = [i for i in range(len(y)) if i not in train_idx]
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]
''', loses=["test_random_sample"]),
    _e("rs_round", RS, False, "round(fraction * n) вместо int(fraction * n)", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[np.random.permutation(idx)[:round(fraction * len(idx))]] = True
    return X[mask], X[~mask], y[mask], y[~mask]
''', loses=["test_random_sample"]),
    _e("rs_no_shuffle", RS, False, "берёт первые k элементов каждого класса без случайности", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[idx[:int(fraction * len(idx))]] = True
    return X[mask], X[~mask], y[mask], y[~mask]
''', loses=["test_random_sample"]),
    _e("rs_pairs_broken", RS, False, "X и y выбираются разными перестановками", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    X_train, X_test, y_train, y_test = [], [], [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = int(fraction * len(idx))
        ix = np.random.permutation(idx)
        iy = np.random.permutation(idx)
        X_train.append(X[ix[:k]]); X_test.append(X[ix[k:]])
        y_train.append(y[iy[:k]]); y_test.append(y[iy[k:]])
    perm = np.random.permutation(sum(len(a) for a in X_train))
    X_train = np.concatenate(X_train)[perm]
    y_train = np.concatenate(y_train)[np.random.permutation(len(perm))]
    return X_train, np.concatenate(X_test), y_train, np.concatenate(y_test)
''', loses=["test_random_sample"]),
    _e("rs_shuffles_input", RS, False, "перемешивает X и y вызывающего на месте", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    order = np.random.permutation(len(y))
    X[:] = X[order]
    y[:] = y[order]
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[idx[:int(fraction * len(idx))]] = True
    return X[mask], X[~mask], y[mask], y[~mask]
''', loses=["test_random_sample"]),
    _e("rs_fixed_seed", RS, False, "np.random.seed(42) внутри функции: разбиение всегда одно", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    np.random.seed(42)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[np.random.permutation(idx)[:int(fraction * len(idx))]] = True
    return X[mask], X[~mask], y[mask], y[~mask]
''', loses=["test_random_sample"]),
    _e("rs_with_replacement", RS, False, "np.random.choice без replace=False: повторы в train", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    train = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        train.extend(np.random.choice(idx, int(fraction * len(idx))))
    test = np.setdiff1d(np.arange(len(y)), train)
    return X[train], X[test], y[train], y[test]
''', loses=["test_random_sample"]),
    _e("rs_off_by_one", RS, False, "test начинается с k + 1: один элемент класса теряется", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    train, test = [], []
    for c in np.unique(y):
        idx = np.random.permutation(np.flatnonzero(y == c))
        k = int(fraction * len(idx))
        train.extend(idx[:k])
        test.extend(idx[k + 1:])
    return X[train], X[test], y[train], y[test]
''', loses=["test_random_sample"]),
    _e("rs_train_test_swapped", RS, False, "возвращает (X_test, X_train, y_test, y_train)", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[np.random.permutation(idx)[:int(fraction * len(idx))]] = True
    return X[~mask], X[mask], y[~mask], y[mask]
''', loses=["test_random_sample"]),
    _e("rs_equal_per_class", RS, False, "в train одинаковое число элементов каждого класса", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    classes = np.unique(y)
    per_class = int(fraction * len(y) / len(classes))
    mask = np.zeros(len(y), dtype=bool)
    for c in classes:
        idx = np.flatnonzero(y == c)
        mask[np.random.permutation(idx)[:per_class]] = True
    return X[mask], X[~mask], y[mask], y[~mask]
''', loses=["test_random_sample"]),
    _e("rs_binary_only", RS, False, "считает, что метки только 0 и 1", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    mask = np.zeros(len(y), dtype=bool)
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        mask[np.random.permutation(idx)[:int(fraction * len(idx))]] = True
    return X[mask], X[~mask], y[mask], y[~mask]
''', loses=["test_random_sample"]),
    _e("rs_lists", RS, False, "возвращает списки Python вместо массивов", '''
import numpy as np

def random_sample(X, y, fraction=0.8):
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        mask[np.random.permutation(idx)[:int(fraction * len(idx))]] = True
    return list(X[mask]), list(X[~mask]), list(y[mask]), list(y[~mask])
''', loses=["test_random_sample"]),
    # ------------------------------------------------------------------ sigmoid
    _e("sig_masks", SIG, True, "раздельные формулы для x >= 0 и x < 0 по маскам", '''
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    out = np.empty(x.shape)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out if out.ndim else out[()]
'''),
    _e("sig_tanh", SIG, True, "через tanh: (1 + tanh(x/2)) / 2", '''
import numpy as np

def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))
'''),
    _e("sig_logaddexp", SIG, True, "exp(-logaddexp(0, -x))", '''
import numpy as np

def sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))
'''),
    _e("sig_abs", SIG, True, "exp(-|x|) и np.where без переполнения", '''
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
'''),
    _e("sig_clip_input", SIG, True, "отсечение x к [-500, 500], затем обычная формула", '''
import numpy as np

def sigmoid(x):
    x = np.clip(x, -500, 500)
    return 1 / (1 + np.exp(-x))
'''),
    _e("sig_errstate", SIG, True, "обычная формула внутри np.errstate(over='ignore')", '''
import numpy as np

def sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
'''),
    _e("sig_vectorize", SIG, True, "устойчивая формула для числа через math, np.vectorize", '''
import math
import numpy as np


def _sigmoid_number(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def sigmoid(x):
    return np.vectorize(_sigmoid_number, otypes=[float])(x)
'''),
    _e("sig_naive", SIG, False, "как в исходном ноутбуке: 1/(1+exp(-x)) переполняется с предупреждением", '''
import numpy as np

def sigmoid(x):
    return 1 / (1 + np.exp(-x))
''', loses=["test_sigmoid_stability"]),
    _e("sig_naive_where", SIG, False, "np.where вычисляет обе ветви и переполняется", '''
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
''', loses=["test_sigmoid_stability"]),
    _e("sig_naive_positive", SIG, False, "exp(x) / (1 + exp(x)) переполняется при больших x", '''
import numpy as np

def sigmoid(x):
    e = np.exp(x)
    return e / (1 + e)
''', loses=["test_sigmoid_stability"]),
    _e("sig_math_exp", SIG, False, "math.exp: работает только для чисел", '''
import math

def sigmoid(x):
    return 1 / (1 + math.exp(-x))
''', loses=SIG_ALL, final_accuracy=False),
    _e("sig_if_branch", SIG, False, "if x >= 0: ... — только для чисел", '''
import numpy as np

def sigmoid(x):
    if x >= 0:
        return 1 / (1 + np.exp(-x))
    return np.exp(x) / (1 + np.exp(x))
''', loses=SIG_ALL, final_accuracy=False),
    _e("sig_wrong_sign", SIG, False, "1 / (1 + exp(x)): знак в экспоненте", '''
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, e / (1 + e), 1 / (1 + e))
''', loses=SIG_ALL, final_accuracy=False),
    _e("sig_one_minus", SIG, False, "exp(-x) / (1 + exp(-x)) = 1 - sigmoid(x)", '''
import numpy as np

def sigmoid(x):
    return np.exp(-x) / (1 + np.exp(-x))
''', loses=SIG_ALL, final_accuracy=False),
    _e("sig_slope_2", SIG, False, "1 / (1 + exp(-2x)): неверный наклон", '''
import numpy as np

def sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -2.0 * np.asarray(x, dtype=float)))
''', loses=SIG_ALL),
    _e("sig_clip_output", SIG, False, "результат отсекается к [eps, 1 - eps]", '''
import numpy as np

def sigmoid(x, eps=1e-5):
    x = np.clip(x, -500, 500)
    return np.clip(1 / (1 + np.exp(-x)), eps, 1 - eps)
''', loses=SIG_ALL),
    _e("sig_empty_like", SIG, False, "np.empty_like(x): для целых x результат целый", '''
import numpy as np

def sigmoid(x):
    x = np.asarray(x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out
''', loses=["test_sigmoid_values"]),
    _e("sig_inplace", SIG, False,
       "np.clip(x, -500, 500, out=x): при |x| > 500 портит массив вызывающего", '''
import numpy as np

def sigmoid(x):
    x = np.asarray(x, dtype=float)
    np.clip(x, -500, 500, out=x)
    return 1 / (1 + np.exp(-x))
''', loses=["test_sigmoid_stability"]),
    _e("sig_no_return", SIG, False, "забыт return", '''
import numpy as np

def sigmoid(x):
    s = 1 / (1 + np.exp(-np.clip(x, -500, 500)))
''', loses=SIG_ALL, final_accuracy=False),
    _e("sig_tanh_only", SIG, False, "np.tanh вместо сигмоиды", '''
import numpy as np

def sigmoid(x):
    return np.tanh(x)
''', loses=SIG_ALL, final_accuracy=False),
    # ------------------------------------------------------------------ BCELoss
    _e("bce_clip", BCE, True, "np.clip к [eps, 1 - eps]", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))
'''),
    _e("bce_log1p", BCE, True, "log1p(-p) для log(1 - p)", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(np.asarray(x, dtype=float), eps, 1 - eps)
    y = np.asarray(y, dtype=float)
    return -y * np.log(p) - (1 - y) * np.log1p(-p)
'''),
    _e("bce_where", BCE, True, "np.where по метке", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.minimum(np.maximum(x, eps), 1 - eps)
    return np.where(np.asarray(y) == 1, -np.log(p), -np.log(1 - p))
'''),
    _e("bce_masks", BCE, True, "маски и копия массива", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.array(x, dtype=float)
    p[p < eps] = eps
    p[p > 1 - eps] = 1 - eps
    y = np.asarray(y).astype(float)
    loss = np.empty_like(p)
    ones = y == 1
    loss[ones] = -np.log(p[ones])
    loss[~ones] = -np.log(1 - p[~ones])
    return loss
'''),
    _e("bce_no_clip", BCE, False, "без отсечения: log(0) = -inf", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    y = np.asarray(y, dtype=float)
    return -(y * np.log(x) + (1 - y) * np.log(1 - x))
''', loses=["test_bce_loss"]),
    _e("bce_mean", BCE, False, "возвращает среднее, а не потери элементов", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
''', loses=["test_bce_loss"]),
    _e("bce_sum", BCE, False, "возвращает сумму", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return np.sum(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
''', loses=["test_bce_loss"]),
    _e("bce_log2", BCE, False, "логарифм по основанию 2", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return -(y * np.log2(p) + (1 - y) * np.log2(1 - p))
''', loses=["test_bce_loss"]),
    _e("bce_log10", BCE, False, "логарифм по основанию 10", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return -(y * np.log10(p) + (1 - y) * np.log10(1 - p))
''', loses=["test_bce_loss"]),
    _e("bce_seed_defect", BCE, False, "как в исходном ноутбуке: потеря 1 при p <= eps и 0 при p >= 1 - eps", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    loss = np.zeros(x.shape)
    loss[x <= eps] = 1.0
    middle = (x > eps) & (x < 1 - eps)
    p = x[middle]
    loss[middle] = -(y[middle] * np.log(p) + (1 - y[middle]) * np.log(1 - p))
    return loss
''', loses=["test_bce_loss"]),
    _e("bce_no_minus", BCE, False, "потерян знак минус", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return y * np.log(p) + (1 - y) * np.log(1 - p)
''', loses=["test_bce_loss"]),
    _e("bce_labels_swapped", BCE, False, "перепутаны y и 1 - y", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return -((1 - y) * np.log(p) + y * np.log(1 - p))
''', loses=["test_bce_loss"]),
    _e("bce_eps_ignored", BCE, False, "eps зашит как 1e-5, аргумент игнорируется", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, 1e-5, 1 - 1e-5)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))
''', loses=["test_bce_loss"]),
    _e("bce_default_eps", BCE, False, "eps по умолчанию 1e-7 вместо 1e-5", '''
import numpy as np

def BCELoss(x, y, eps=1e-7):
    p = np.clip(x, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))
''', loses=["test_bce_loss"]),
    _e("bce_lower_clip_only", BCE, False, "отсечение только снизу", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.maximum(x, eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))
''', loses=["test_bce_loss"]),
    _e("bce_add_eps", BCE, False, "log(p + eps) вместо отсечения", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    return -(y * np.log(x + eps) + (1 - y) * np.log(1 - x + eps))
''', loses=["test_bce_loss"]),
    _e("bce_inplace_clip", BCE, False, "np.clip(..., out=x) портит массив вызывающего", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps, out=x)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))
''', loses=["test_bce_loss"]),
    _e("bce_bool_minus", BCE, False, "-y для меток bool падает с TypeError", '''
import numpy as np

def BCELoss(x, y, eps=1e-5):
    p = np.clip(x, eps, 1 - eps)
    return -y * np.log(p) - (1 - y) * np.log(1 - p)
''', loses=["test_bce_loss"]),
    # ------------------------------------------------------------------ backprop
    _e("bp_simplified", BP, True, "упрощённый градиент r - y", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    grad_l = r - y
    net.w -= lr * np.mean(grad_l * x)
    net.b -= lr * np.mean(grad_l)
'''),
    _e("bp_chain_rule", BP, True, "цепное правило с безопасным делением", '''
import numpy as np

def backprop(net, x, y, lr=0.01, eps=1e-5):
    y = np.asarray(y, dtype=float)
    r = net(x)
    r_safe = np.clip(r, eps, 1 - eps)
    dL_dr = -y / r_safe + (1 - y) / (1 - r_safe)
    dr_dl = r * (1 - r)
    dL_dl = dL_dr * dr_dl
    net.w -= lr * np.mean(dL_dl * x)
    net.b -= lr * np.mean(dL_dl)
'''),
    _e("bp_dot", BP, True, "скалярное произведение и деление на n", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    error = net.forward(x) - np.asarray(y, dtype=float)
    n = len(x)
    grad_w = np.dot(error, x) / n
    grad_b = error.sum() / n
    net.w = net.w - lr * grad_w
    net.b = net.b - lr * grad_b
'''),
    _e("bp_average", BP, True, "np.average, градиенты считаются до обновления", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    dw = np.average((r - y) * x)
    db = np.average(r - y)
    net.w, net.b = net.w - lr * dw, net.b - lr * db
    return net
'''),
    _e("bp_vector", BP, True, "вектор параметров (w, b) и матрица признаков [x, 1]", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    features = np.stack([x, np.ones_like(x)])
    grad = features @ (net(x) - y) / len(x)
    net.w -= lr * grad[0]
    net.b -= lr * grad[1]
'''),
    _e("bp_sign", BP, False, "знак: w += lr * grad", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    net.w += lr * np.mean((r - y) * x)
    net.b += lr * np.mean(r - y)
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_y_minus_r", BP, False, "ошибка y - r при вычитании", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    err = y - net(x)
    net.w -= lr * np.mean(err * x)
    net.b -= lr * np.mean(err)
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_sum", BP, False, "сумма вместо среднего", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    net.w -= lr * np.sum((r - y) * x)
    net.b -= lr * np.sum(r - y)
''', loses=["test_backprop"]),
    _e("bp_no_lr", BP, False, "забыт lr", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    net.w -= np.mean((r - y) * x)
    net.b -= np.mean(r - y)
''', loses=["test_backprop"]),
    _e("bp_no_x", BP, False, "в градиенте по w забыт x", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    net.w -= lr * np.mean(r - y)
    net.b -= lr * np.mean(r - y)
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_mse", BP, False, "градиент MSE: лишний множитель r(1 - r)", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    g = (r - y) * r * (1 - r)
    net.w -= lr * np.mean(g * x)
    net.b -= lr * np.mean(g)
''', loses=["test_backprop"]),
    _e("bp_not_in_place", BP, False, "возвращает новые w, b вместо обновления сети", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    w = net.w - lr * np.mean((r - y) * x)
    b = net.b - lr * np.mean(r - y)
    return w, b
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_stale_forward", BP, False, "b обновляется по прогнозу уже с новым w", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    net.w -= lr * np.mean((net(x) - y) * x)
    net.b -= lr * np.mean(net(x) - y)
''', loses=["test_backprop"]),
    _e("bp_seed_bool", BP, False, "как в исходном ноутбуке: -y для меток bool падает", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    r = net(x)
    d1 = np.where(r > 1e-5, r, 1e-5)
    d2 = np.where(1 - r > 1e-5, 1 - r, 1e-5)
    grad = -y / d1 + (1 - y) / d2
    net.w -= (lr * grad * r * (1 - r) * x).mean()
    net.b -= (lr * grad * r * (1 - r)).mean()
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_b_times_x", BP, False, "градиент по b тоже умножен на x", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    g = (net(x) - y) * x
    net.w -= lr * np.mean(g)
    net.b -= lr * np.mean(g)
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_mean_product", BP, False, "mean(r - y) * mean(x) вместо mean((r - y) * x)", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    e = net(x) - y
    net.w -= lr * np.mean(e) * np.mean(x)
    net.b -= lr * np.mean(e)
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_double_mean", BP, False, "среднее ещё раз делится на n", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    e = net(x) - y
    net.w -= lr * np.mean(e * x) / len(x)
    net.b -= lr * np.mean(e) / len(x)
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_logits", BP, False, "вместо вероятностей r = net(x) взяты логиты w * x + b", '''
import numpy as np

def backprop(net, x, y, lr=0.01):
    l = net.w * x + net.b
    net.w -= lr * np.mean((l - y) * x)
    net.b -= lr * np.mean(l - y)
''', loses=["test_backprop"], final_accuracy=False),
    _e("bp_default_lr", BP, False, "lr по умолчанию 0.1 вместо 0.01", '''
import numpy as np

def backprop(net, x, y, lr=0.1):
    r = net(x)
    net.w -= lr * np.mean((r - y) * x)
    net.b -= lr * np.mean(r - y)
''', loses=["test_backprop"]),
]

BY_NAME = {entry.name: entry for entry in ENTRIES}
if len(BY_NAME) != len(ENTRIES):
    raise ValueError("duplicate entry names in the catalog")


def entries(function=None, correct=None):
    """Entries filtered by function name and/or correctness."""
    return [e for e in ENTRIES
            if (function is None or e.function == function)
            and (correct is None or e.correct == correct)]
