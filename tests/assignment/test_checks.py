"""Tests of autograder.assignment.checks: the reference passes, wrong code fails, silently.

Each check must accept the reference, reject several wrong implementations
with a Russian message, never write to stdout/stderr, give the same verdict on
every run, and only *call* the implementation (so a proxy works too).
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.assignment import checks, contract, reference

# Graded cell of each check, from the contract: a renamed grade_id changes nothing here.
CELL = {cell.check: cell.grade_id for cell in contract.GRADED_CELLS}
# Cells whose checks judge returned values of one call (the attacks on results go there).
VALUE_CELLS = [
    CELL["check_random_sample"],
    CELL["check_sigmoid_values"],
    CELL["check_sigmoid_stability"],
    CELL["check_bce_loss"],
]

REFERENCE = {name: getattr(reference, name) for name in contract.FUNCTIONS}


def run(grade_id, **overrides):
    """Run the check of grade_id with the reference except for overrides."""
    check, names = checks.CHECKS[grade_id]
    impls = {**REFERENCE, **overrides}
    return check(*[impls[name] for name in names])


# ----------------------------------------------------------------- wrong code
def rs_not_stratified(X, y, fraction=0.8):
    order = np.random.permutation(len(y))
    k = int(fraction * len(y))
    return X[order[:k]], X[order[k:]], y[order[:k]], y[order[k:]]


def rs_wrong_order(X, y, fraction=0.8):
    X_tr, X_te, y_tr, y_te = reference.random_sample(X, y, fraction)
    return X_tr, y_tr, X_te, y_te


def rs_overlap(X, y, fraction=0.8):
    X_tr, _, y_tr, _ = reference.random_sample(X, y, fraction)
    _, X_te, _, y_te = reference.random_sample(X, y, fraction)
    return X_tr, X_te, y_tr, y_te


def rs_deterministic(X, y, fraction=0.8):
    state = np.random.get_state()
    np.random.seed(0)
    try:
        return reference.random_sample(X, y, fraction)
    finally:
        np.random.set_state(state)


def sig_wrong_sign(x):
    return reference.sigmoid(-np.asarray(x, dtype=float))


def sig_math(x):
    return 1 / (1 + math.exp(-x))


def sig_list(x):
    return list(np.atleast_1d(reference.sigmoid(x)))


def sig_naive(x):
    return 1 / (1 + np.exp(-x))


def sig_naive_where(x):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def sig_exp_ratio(x):
    e = np.exp(x)
    return e / (1 + e)


def sig_complement_ratio(x):
    e = np.exp(-np.asarray(x, dtype=float))
    return 1 - e / (1 + e)


def sig_clip_output(x):
    return np.clip(reference.sigmoid(x), 1e-5, 1 - 1e-5)


def bce_mean(x, y, eps=1e-5):
    return np.mean(reference.BCELoss(x, y, eps))


def bce_no_clip(x, y, eps=1e-5):
    y = np.asarray(y, dtype=float)
    return -(y * np.log(x) + (1 - y) * np.log(1 - x))


def bce_log2(x, y, eps=1e-5):
    return reference.BCELoss(x, y, eps) / np.log(2)


def bce_seed(x, y, eps=1e-5):
    loss = reference.BCELoss(x, y, eps)
    loss[x <= eps] = 1.0
    loss[x >= 1 - eps] = 0.0
    return loss


def bp_sign(net, x, y, lr=0.01):
    r = net(x)
    net.w += lr * np.mean((r - y) * x)
    net.b += lr * np.mean(r - y)


def bp_sum(net, x, y, lr=0.01):
    r = net(x)
    net.w -= lr * np.sum((r - y) * x)
    net.b -= lr * np.sum(r - y)


def bp_noop(net, x, y, lr=0.01):
    return None


def bp_mse(net, x, y, lr=0.01):
    r = net(x)
    g = (r - y) * r * (1 - r)
    net.w -= lr * np.mean(g * x)
    net.b -= lr * np.mean(g)


WRONG = [
    (CELL["check_random_sample"], "random_sample", rs_not_stratified, "стратифицированным"),
    (CELL["check_random_sample"], "random_sample", rs_wrong_order, "порядок"),
    (CELL["check_random_sample"], "random_sample", rs_overlap, "пересекаются"),
    (CELL["check_random_sample"], "random_sample", rs_deterministic, "seed внутри функции"),
    (CELL["check_sigmoid_values"], "sigmoid", sig_wrong_sign, "знак"),
    (CELL["check_sigmoid_values"], "sigmoid", sig_math, "math.exp"),
    (CELL["check_sigmoid_values"], "sigmoid", sig_list, "получено list"),
    (CELL["check_sigmoid_stability"], "sigmoid", sig_exp_ratio, "больших положительных x"),
    (CELL["check_sigmoid_stability"], "sigmoid", sig_complement_ratio, "больших отрицательных x"),
    (CELL["check_sigmoid_stability"], "sigmoid", sig_clip_output, "значения неверны"),
    (CELL["check_bce_loss"], "BCELoss", bce_mean, "не усредняйте"),
    (CELL["check_bce_loss"], "BCELoss", bce_no_clip, "np.clip"),
    (CELL["check_bce_loss"], "BCELoss", bce_log2, "основанию 2"),
    (CELL["check_bce_loss"], "BCELoss", bce_seed, "независимо от метки"),
    (CELL["check_backprop"], "backprop", bp_sign, "знак"),
    (CELL["check_backprop"], "backprop", bp_sum, "сумма вместо среднего"),
    (CELL["check_backprop"], "backprop", bp_noop, "не изменились"),
    (CELL["check_backprop"], "backprop", bp_mse, "MSE"),
    (CELL["check_final_accuracy"], "backprop", bp_sign, "не уменьшает потерю"),
    (CELL["check_final_accuracy"], "backprop", bp_noop, "не изменил net.w"),
    (CELL["check_final_accuracy"], "sigmoid", sig_wrong_sign, "точность"),
    (CELL["check_final_accuracy"], "sigmoid", np.tanh, "точность"),
]


@pytest.mark.parametrize("grade_id", list(checks.CHECKS))
def test_reference_passes(grade_id):
    """Does every check accept the reference solution?"""
    run(grade_id)


@pytest.mark.parametrize(
    "grade_id,function,impl,fragment", WRONG, ids=[f"{w[0]}-{w[2].__name__}" for w in WRONG]
)
def test_wrong_code_fails_with_named_mistake(grade_id, function, impl, fragment):
    """Does the check reject a typical mistake and name it in Russian?"""
    with pytest.raises(AssertionError) as info:
        run(grade_id, **{function: impl})
    assert fragment in str(info.value)


def test_every_check_rejects_at_least_three_mistakes():
    counts = {grade_id: sum(w[0] == grade_id for w in WRONG) for grade_id in checks.CHECKS}
    assert min(counts.values()) >= 3, counts


def test_checks_map_is_the_contracts():
    """CHECKS is built from the contract: same cells, same functions, same order."""
    assert {k: v[1] for k, v in checks.CHECKS.items()} == {
        cell.grade_id: list(cell.functions) for cell in contract.GRADED_CELLS
    }


# ------------------------------------------------------ hostile return values
class EqualToEverything:
    """Compares equal to anything, pretends to be close to anything."""

    shape = ()
    ndim = 0

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __float__(self):
        return 0.5

    def __array__(self, dtype=None, copy=None):
        return np.array(0.5)

    def __len__(self):
        return 4

    def __getitem__(self, item):
        return self

    __hash__ = object.__hash__


class AlwaysClose(np.ndarray):
    """ndarray subclass whose comparisons always succeed."""

    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __sub__(self, other):
        return np.zeros(np.shape(self)).view(AlwaysClose)


def _hostile(kind, function):
    def fn(*args, **kwargs):
        if kind == "eq":
            if function == "random_sample":
                return (EqualToEverything(),) * 4
            return EqualToEverything()
        if function == "random_sample":
            X, y = args[0], args[1]
            return tuple(np.zeros_like(a[: len(a) // 2]).view(AlwaysClose) for a in (X, X, y, y))
        return np.zeros(np.shape(args[0])).view(AlwaysClose)

    return fn


@pytest.mark.parametrize("kind", ["eq", "subclass"])
@pytest.mark.parametrize(
    "grade_id",
    VALUE_CELLS,
)
def test_objects_that_claim_equality_fail(grade_id, kind):
    """Can a returned object that 'equals everything' pass a check? It must not."""
    function = checks.CHECKS[grade_id][1][0]
    with pytest.raises(AssertionError):
        run(grade_id, **{function: _hostile(kind, function)})


def test_backprop_setting_hostile_parameters_fails():
    def bp_hostile(net, x, y, lr=0.01):
        net.w = EqualToEverything()
        net.b = EqualToEverything()

    with pytest.raises(AssertionError, match="ожидалось число"):
        run(CELL["check_backprop"], backprop=bp_hostile)


# ------------------------------------------------------------ student errors
@pytest.mark.parametrize("grade_id", list(checks.CHECKS))
@pytest.mark.parametrize("error", [ZeroDivisionError, NotImplementedError, SystemExit])
def test_exception_becomes_assertion_naming_it(grade_id, error):
    """Does an exception in student code become an AssertionError that names it?"""

    def broken(*args, **kwargs):
        raise error("boom")

    names = checks.CHECKS[grade_id][1]
    with pytest.raises(AssertionError, match=f"упала с ошибкой {error.__name__}: boom"):
        run(grade_id, **{name: broken for name in names})


# -------------------------------------------------------------- no output
def _noisy(fn, warn=True):
    def wrapper(*args, **kwargs):
        import sys

        print("stdout from student")
        print("stderr from student", file=sys.stderr)
        if warn:
            warnings.warn("student warning", stacklevel=2)
        return fn(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("grade_id", list(checks.CHECKS))
@pytest.mark.parametrize("variant", ["reference", "wrong"])
def test_checks_write_nothing(grade_id, variant, capfd):
    """Does a check stay silent on stdout/stderr, passing or failing, with noisy code?"""
    names = checks.CHECKS[grade_id][1]
    wrong = {w[1]: w[2] for w in reversed(WRONG) if w[0] == grade_id}  # first listed wins
    # Warnings of student code never decide a verdict (docs/rules.md) and never escape.
    warn = True
    # Only the first function is wrong (two mistakes can cancel out).
    impls = {
        name: _noisy(
            wrong[name] if variant == "wrong" and name == names[0] else REFERENCE[name], warn
        )
        for name in names
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping the check would raise here
        if variant == "wrong":
            with pytest.raises(AssertionError):
                run(grade_id, **impls)
        else:
            run(grade_id, **impls)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_naive_sigmoid_warns_but_passes_on_values(capfd):
    """The overflow warnings of correct values neither decide the verdict nor escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for sigmoid in (sig_naive, sig_naive_where):
            run(CELL["check_sigmoid_values"], sigmoid=sigmoid)
            run(CELL["check_sigmoid_stability"], sigmoid=sigmoid)
    assert capfd.readouterr() == ("", "")


# ---------------------------------------------------------- determinism
@pytest.mark.parametrize(
    "grade_id,function,impl",
    [
        (CELL["check_random_sample"], "random_sample", rs_wrong_order),
        (CELL["check_sigmoid_values"], "sigmoid", sig_wrong_sign),
        (CELL["check_bce_loss"], "BCELoss", bce_seed),
        (CELL["check_backprop"], "backprop", bp_mse),
        (CELL["check_final_accuracy"], "backprop", bp_noop),
    ],
)
def test_messages_repeat(grade_id, function, impl):
    """Same code, same message on every run."""
    messages = set()
    for _ in range(3):
        with pytest.raises(AssertionError) as info:
            run(grade_id, **{function: impl})
        messages.add(str(info.value))
    assert len(messages) == 1, messages


@pytest.mark.parametrize("impl", [reference.random_sample, rs_not_stratified, rs_overlap])
def test_random_student_code_gets_the_same_verdict(impl):
    """A split that draws its own random numbers gets the same verdict on every run.

    The failing case may differ between runs (the student's draws differ), the
    verdict may not: a non-stratified split survives the eight cases with
    probability far below 1e-6.
    """
    verdicts = set()
    for _ in range(5):
        try:
            run(CELL["check_random_sample"], random_sample=impl)
            verdicts.add("pass")
        except AssertionError:
            verdicts.add("fail")
    assert len(verdicts) == 1, verdicts


def test_final_accuracy_restores_global_rng():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    run(CELL["check_final_accuracy"])
    assert np.array_equal(np.random.get_state()[1], before)


def test_final_accuracy_split_is_the_notebooks():
    X_train, X_val, X_test, y_train, y_val, y_test = checks.final_split()
    assert (len(X_train), len(X_val), len(X_test)) == (64, 16, 20)
    assert np.array_equal(y_test, reference.target(X_test))
    assert sorted(np.concatenate([X_train, X_val, X_test])) == sorted(
        np.linspace(reference.X_LOW, reference.X_HIGH, reference.N_POINTS)
    )


# ------------------------------------------------------------ proxy-like
class CallOnly:
    """Callable object standing for a remote proxy: only __call__ is usable."""

    __slots__ = ("_fn",)

    def __init__(self, fn):
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args, **kwargs):
        return object.__getattribute__(self, "_fn")(*args, **kwargs)


def remote_like_backprop(net, x, y, lr=0.01):
    """Mimics autograder.sandbox.remote: the net travels as {w, b, activation} and back."""
    assert isinstance(net, reference.Net)
    copy = checks.CheckNet(net.w, net.b, net.activation)
    reference.backprop(copy, np.array(x), np.array(y), lr=lr)
    net.w, net.b = float(copy.w), float(copy.b)


@pytest.mark.parametrize("grade_id", list(checks.CHECKS))
def test_call_only_implementations_pass(grade_id):
    """Do checks work with an object they can only call (like a sandbox proxy)?"""
    names = checks.CHECKS[grade_id][1]
    impls = {name: CallOnly(REFERENCE[name]) for name in names}
    if "backprop" in impls:
        impls["backprop"] = CallOnly(remote_like_backprop)
    run(grade_id, **impls)


# ------------------------------------------------------------ properties
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=4),
    fraction=st.sampled_from([0.1, 0.25, 0.5, 0.6, 0.75, 0.8, 0.9]),
    seed=st.integers(0, 2**32 - 1),
    two_d=st.booleans(),
)
def test_reference_splits_satisfy_check_invariants(sizes, fraction, seed, two_d):
    """Any split the reference makes (any classes, sizes, fraction) passes the split invariants."""
    rng = np.random.default_rng(seed)
    labels = list(range(-1, len(sizes) - 1))
    X, y = checks._split_case(rng, sizes, labels, 2 if two_d else None, True, int)
    np.random.seed(seed % 2**31)
    checks._check_one_split(reference.random_sample, X, y, fraction, "hypothesis")


def _mean_bce(w, b, x, y):
    r = reference.sigmoid(w * x + b)
    return float(np.mean(-(y * np.log(r) + (1 - y) * np.log(1 - r))))


@settings(max_examples=60, deadline=None)
@given(
    w=st.floats(-1.5, 1.5),
    b=st.floats(-1, 1),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 50),
)
def test_closed_form_step_matches_finite_differences(w, b, seed, n):
    """Is -lr * mean((r - y) x) the gradient step of the mean BCE?

    Centred differences in float64 with h = 1e-5 have truncation error
    O(h^2 * |f'''|) ~ 1e-10 and rounding error ~ 1e-16 / h ~ 1e-11, so the
    bound |analytic - numeric| <= 1e-7 * (1 + |analytic|) holds with margin.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    y = (rng.random(n) < 0.5).astype(float)
    h, lr = 1e-5, 0.1
    net = checks.CheckNet(w, b)
    reference.backprop(net, x, y, lr=lr)
    dw = (_mean_bce(w + h, b, x, y) - _mean_bce(w - h, b, x, y)) / (2 * h)
    db = (_mean_bce(w, b + h, x, y) - _mean_bce(w, b - h, x, y)) / (2 * h)
    grad_w, grad_b = (w - net.w) / lr, (b - net.b) / lr
    assert abs(grad_w - dw) <= 1e-7 * (1 + abs(dw))
    assert abs(grad_b - db) <= 1e-7 * (1 + abs(db))


@settings(max_examples=60, deadline=None)
@given(w=st.floats(-1.5, 1.5), b=st.floats(-1, 1), seed=st.integers(0, 2**32 - 1))
def test_chain_rule_with_safe_division_within_backprop_tolerance(w, b, seed):
    """With |w x + b| <= 6 the chain-rule form (clipped r) agrees within BACKPROP_RTOL."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, 30)
    y = (rng.random(30) < 0.5).astype(float)
    r = reference.sigmoid(w * x + b)
    rs = np.clip(r, 1e-5, 1 - 1e-5)
    chain = (-y / rs + (1 - y) / (1 - rs)) * r * (1 - r)
    simple = r - y
    assert np.allclose(
        np.mean(chain * x),
        np.mean(simple * x),
        rtol=checks.BACKPROP_RTOL / 10,
        atol=checks.BACKPROP_ATOL,
    )
    assert np.allclose(
        np.mean(chain), np.mean(simple), rtol=checks.BACKPROP_RTOL / 10, atol=checks.BACKPROP_ATOL
    )


@settings(max_examples=40, deadline=None)
@given(x=st.lists(st.floats(-1000, 1000), min_size=1, max_size=20))
def test_stable_alternatives_agree_with_reference_sigmoid(x):
    """tanh and logaddexp forms stay within the values tolerance on any input."""
    x = np.array(x)
    expected = reference.sigmoid(x)
    for alt in (0.5 * (1 + np.tanh(0.5 * x)), np.exp(-np.logaddexp(0, -x))):
        assert np.allclose(alt, expected, rtol=checks.SIGMOID_RTOL, atol=checks.SIGMOID_ATOL)


# ------------------------------------------------------------ net protocol
def test_check_net_protocol():
    """CheckNet is a reference.Net; activation "reference" or a callable decides the forward."""
    x = np.linspace(-3, 3, 7)
    net = checks.CheckNet(0.5, -0.25)
    assert isinstance(net, reference.Net) and net.activation == "reference"
    assert np.array_equal(net(x), reference.sigmoid(0.5 * x - 0.25))
    seen = []
    student = checks.CheckNet(0.5, -0.25, lambda v: seen.append(v) or np.zeros_like(v))
    assert np.array_equal(student(x), np.zeros_like(x))
    assert np.array_equal(seen[0], 0.5 * x - 0.25)


def test_exception_with_broken_str_is_still_reported():
    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def broken(x):
        raise Nasty()

    with pytest.raises(AssertionError, match="упала с ошибкой Nasty"):
        checks.check_sigmoid_values(broken)


# ------------------------------------------------------------ odd returns
ODD_VALUES = [
    None,
    "0.5",
    b"x",
    {"a": 1},
    [0.5],
    (0.5,),
    [[0.5]],
    np.array(["a", "b"]),
    np.array([None, 1], dtype=object),
    np.array([np.nan]),
    np.array(np.nan),
    float("nan"),
    float("inf"),
    10**30,
    1j,
    np.complex128(1j),
    np.datetime64("2020-01-01"),
    np.array([1, 2], dtype="datetime64[D]"),
    True,
    np.bool_(True),
    np.float32(0.5),
    np.zeros((0,)),
    np.zeros((2, 0)),
    np.ma.masked_array([0.5, 0.5], mask=[1, 0]),
    range(4),
    (np.zeros(2),) * 4,
    (np.zeros(2),) * 3,
    (None,) * 4,
    ("a",) * 4,
    [np.array(1.0)] * 4,
    (np.array(["a"]),) * 4,
    (np.zeros((2, 2, 2)),) * 4,
]


def _verdicts_on_odd_values(make_impls, grade_id):
    """{repr(value): problem} for odd values that pass or crash the check."""
    check, names = checks.CHECKS[grade_id]
    problems = {}
    for value in ODD_VALUES:
        impls = make_impls(value)
        try:
            check(*[impls[name] for name in names])
            problems[repr(value)[:40]] = "passed"
        except AssertionError:
            pass
        except Exception as error:  # a crash of the check itself is a defect
            problems[repr(value)[:40]] = f"{type(error).__name__}: {error}"
    return problems


@pytest.mark.parametrize(
    "grade_id",
    VALUE_CELLS,
)
def test_odd_return_values_fail_cleanly(grade_id):
    """Whatever the function returns, the check ends in an AssertionError, never a crash."""
    function = checks.CHECKS[grade_id][1][0]

    def make(value):
        return {**REFERENCE, function: lambda *args, **kwargs: value}

    assert _verdicts_on_odd_values(make, grade_id) == {}


@pytest.mark.parametrize("grade_id", [CELL["check_backprop"], CELL["check_final_accuracy"]])
def test_odd_parameters_fail_cleanly(grade_id):
    """Whatever backprop stores in net.w and net.b, the check fails cleanly."""

    def make(value):
        def backprop(net, x, y, lr=0.01):
            net.w = value
            net.b = value

        return {**REFERENCE, "backprop": backprop}

    assert _verdicts_on_odd_values(make, grade_id) == {}


def test_odd_sigmoid_in_training_fails_cleanly():
    def make(value):
        return {**REFERENCE, "sigmoid": lambda x: value}

    assert _verdicts_on_odd_values(make, CELL["check_final_accuracy"]) == {}


def test_name_error_explains_the_answer_cells_rule():
    """A NameError of student code explains, in Russian, where definitions must live."""

    def sigmoid_with_missing_helper(x):
        return positive_part(x)  # noqa: F821 (the helper the student put elsewhere)

    with pytest.raises(AssertionError) as info:
        run(CELL["check_sigmoid_values"], sigmoid=sigmoid_with_missing_helper)
    message = str(info.value)
    assert "NameError" in message and "positive_part" in message
    assert "ячейке ответа" in message and "через аргументы" in message
