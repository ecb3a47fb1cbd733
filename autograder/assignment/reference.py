"""Reference solution of the assignment.

This module is the single source of truth: the solution cells of
``source/one_neuron/one_neuron.ipynb`` hold exactly the source of these
functions (``tests/test_notebook_sync.py`` enforces it), and the checks in
``autograder.assignment.checks`` compare students' answers with them.
"""

import numpy as np

# Training set-up of the assignment, shared by the notebook and the final check.
N_POINTS = 100
X_LOW, X_HIGH = -5.0, 5.0
INITIAL_W, INITIAL_B = 0.7, 0.1
LEARNING_RATE = 0.1
N_STEPS = 1000


def target(x):
    """The function the neuron learns: f(x) = x > 0."""
    return np.asarray(x) > 0


def random_sample(X, y, fraction=0.8):
    """Stratified random split into train and test parts.

    X: array of shape (n,) or (n, d); y: array of shape (n,) with class labels.
    From every class present in y, int(fraction * n_class) randomly chosen
    rows go to train, the rest to test.
    Returns (X_train, X_test, y_train, y_test).
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
    """Logistic function 1 / (1 + exp(-x)), elementwise.

    x: Python number or array of any shape. Returns an array of the same
    shape (a numpy float for a scalar). Never calls exp on a large positive
    number, so it neither overflows nor warns.
    """
    x = np.asarray(x, dtype=float)
    result = np.empty_like(x)
    positive = x >= 0
    result[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    result[~positive] = exp_x / (1.0 + exp_x)
    return result[()]


def BCELoss(x, y, eps=1e-5):
    """Binary cross-entropy of every element.

    x: predicted probabilities (any shape); y: labels 0/1 (bool, int or
    float) of the same shape. Probabilities are clipped to [eps, 1 - eps] so
    the logarithm stays finite. Returns an array of x's shape.
    """
    p = np.clip(np.asarray(x, dtype=float), eps, 1.0 - eps)
    y = np.asarray(y, dtype=float)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def backprop(net, x, y, lr=0.01):
    """One full-batch gradient step on the mean BCE, updating net in place.

    net: object with attributes w, b and net(x) -> probabilities;
    x: inputs of shape (n,); y: labels of shape (n,); lr: learning rate.
    dL/dl = dL/dr * dr/dl = r - y, so dL/dw = (r - y) * x and dL/db = r - y.
    """
    r = net(x)
    error = r - np.asarray(y, dtype=float)
    net.w -= lr * np.mean(error * x)
    net.b -= lr * np.mean(error)


class Net:
    """One neuron: l = w * x + b, r = sigmoid(l)."""

    def __init__(self, w=0.5, b=1.0):
        self.w = w
        self.b = b

    def forward(self, x):
        return sigmoid(self.w * x + self.b)

    def __call__(self, x):
        return self.forward(x)


def accuracy(probabilities, y):
    """Share of points where the predicted class (r > 0.5) equals the label."""
    return float(np.mean((np.asarray(probabilities) > 0.5) == np.asarray(y, dtype=bool)))


def train(net, X_train, y_train, backprop_fn=backprop, lr=LEARNING_RATE, n_steps=N_STEPS):
    """Run n_steps full-batch gradient steps with backprop_fn; returns net."""
    for _ in range(n_steps):
        backprop_fn(net, X_train, y_train, lr=lr)
    return net
