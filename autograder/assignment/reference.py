"""Reference solution of the assignment, imported by the checks.

The master notebook ``source/one_neuron/one_neuron.ipynb`` is the truth: every function
or class defined here that a cell of the master also defines (the answer functions and
the given ``target``, ``Net``, ``accuracy``) is a copy of that cell's code, docstring
included (so those docstrings are the notebook's Russian ones). After editing the master,
``python tools/sync_reference.py`` copies them here; ``tests/notebook/test_notebook_sync.py``
fails with a unified diff when they drift. The rest (training set-up, ``train``) is the
checks' own.
"""

import numpy as np

# Training set-up of the assignment, shared by the notebook and the final check.
N_POINTS = 100
X_LOW, X_HIGH = -5.0, 5.0
INITIAL_W, INITIAL_B = 0.7, 0.1
LEARNING_RATE = 0.1
N_STEPS = 1000


def target(x):
    """Функция, которую учится вычислять нейрон: f(x) = [x > 0]."""
    return np.asarray(x) > 0


def random_sample(X, y, fraction=0.8):
    """Стратифицированное случайное разбиение на train и test.

    X: массив формы (n,) или (n, d); y: массив меток формы (n,); fraction: доля train.
    Из каждого класса, который есть в y, в train идут int(fraction * размер класса)
    случайно выбранных элементов (глобальным генератором np.random), остальные — в test.
    Возвращает кортеж (X_train, X_test, y_train, y_test); X и y не изменяются.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    in_train = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        n_train = int(fraction * len(members))
        chosen = np.random.permutation(members)[:n_train]
        in_train[chosen] = True
    return X[in_train], X[~in_train], y[in_train], y[~in_train]


def sigmoid(x):
    """Сигмоида 1 / (1 + exp(-x)), поэлементно.

    x: число или массив любой формы (в том числе целочисленный).
    Возвращает число для числа и массив вещественных чисел той же формы для массива;
    x не изменяется. При |x| <= 1000 не выдаёт предупреждений numpy.
    """
    x = np.asarray(x, dtype=float)
    result = np.empty_like(x)
    positive = x >= 0
    result[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    result[~positive] = exp_x / (1.0 + exp_x)
    return result[()]


def BCELoss(x, y, eps=1e-5):
    """Бинарная кросс-энтропия каждого элемента, без усреднения.

    x: вероятности, массив любой формы; y: метки 0/1 той же формы (bool, int или float);
    eps: перед логарифмом вероятности обрезаются до [eps, 1 - eps].
    Возвращает массив потерь -(y ln p + (1 - y) ln(1 - p)) формы x; x и y не изменяются.
    """
    p = np.clip(np.asarray(x, dtype=float), eps, 1.0 - eps)
    y = np.asarray(y, dtype=float)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def backprop(net, x, y, lr=0.01):
    """Один шаг градиентного спуска по средней BCE; обновляет net.w и net.b на месте.

    net: объект с числовыми атрибутами w, b; вызов net(x) возвращает вероятности r.
    x: входы формы (n,); y: метки формы (n,) (bool, int или float); lr: скорость обучения.
    r = net(x) вычисляется один раз, до изменения параметров. Ничего не возвращает;
    x и y не изменяются.
    """
    r = net(x)
    error = r - np.asarray(y, dtype=float)
    net.w -= lr * np.mean(error * x)
    net.b -= lr * np.mean(error)


class Net:
    """Один нейрон: l = w * x + b, r = sigmoid(l)."""

    def __init__(self, w=0.5, b=1.0):
        self.w = w
        self.b = b

    def forward(self, x):
        return sigmoid(self.w * x + self.b)

    def __call__(self, x):
        return self.forward(x)


def accuracy(probabilities, y):
    """Доля точек, где предсказанный класс (r > 0.5) совпал с меткой."""
    return float(np.mean((np.asarray(probabilities) > 0.5) == np.asarray(y, dtype=bool)))


def train(net, X_train, y_train, backprop_fn=backprop, lr=LEARNING_RATE, n_steps=N_STEPS):
    """Run n_steps full-batch gradient steps with backprop_fn; returns net."""
    for _ in range(n_steps):
        backprop_fn(net, X_train, y_train, lr=lr)
    return net
