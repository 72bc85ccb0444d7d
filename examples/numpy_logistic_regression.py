"""Logistic regression written in plain NumPy, trained with chainrule's gradients.

The model and its loss below are ordinary NumPy code. The one change that makes
them differentiable is the import line: ``import chainrule.numpy as np`` instead
of ``import numpy as np``. ``cr.grad(loss)`` then gives the gradient with respect
to the weights, and gradient descent trains the model.

The second part differentiates a function that calls NumPy's own functions
(``numpy.exp``, ``numpy.log1p``, ``numpy.linalg.norm``) on chainrule Tensors:
NumPy hands them to chainrule through its dispatch protocols.

Run: python examples/numpy_logistic_regression.py
"""

import numpy

import chainrule as cr
import chainrule.numpy as np  # the only change: was `import numpy as np`


# ------------------------------------------------------ a model in plain NumPy
def predict(w, b, x):
    """Probability of class 1 for each row of x."""
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


def loss(w, b, x, y, l2=1e-2):
    """Mean binary cross-entropy plus an L2 penalty on the weights."""
    p = np.clip(predict(w, b, x), 1e-12, 1.0 - 1e-12)
    nll = -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    return nll + l2 * np.sum(w**2)


def make_data(n=200, d=3, seed=0):
    rng = np.random.default_rng(seed)  # NumPy's random module, passed through
    x = rng.normal(size=(n, d))
    true_w = np.array([2.0, -3.0, 0.5])
    y = (x @ true_w + 0.3 * rng.normal(size=n) > 0).astype(np.float64)
    return x, y


def train(x, y, steps=300, lr=0.5):
    w, b = np.zeros(x.shape[1]), 0.0
    grad_loss = cr.grad(loss, argnums=(0, 1))  # d loss / d w and d loss / d b
    for step in range(steps):
        gw, gb = grad_loss(w, b, x, y)
        w = w - lr * gw  # NumPy arrays in, NumPy arrays out
        b = b - lr * gb
        if step % 100 == 0:
            print(f"step {step:3d}  loss {loss(w, b, x, y):.4f}")
    return w, b


# ------------------------------------- NumPy's own functions on chainrule Tensors
def softplus_energy(theta):
    """Written with `numpy` itself, not chainrule.numpy: works on Tensors too."""
    return numpy.sum(numpy.log1p(numpy.exp(theta))) + 0.5 * numpy.linalg.norm(theta) ** 2


def finite_differences(f, x, eps=1e-6):
    g = numpy.zeros_like(x)
    for i in range(x.size):
        e = numpy.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def main():
    x, y = make_data()
    w, b = train(x, y)
    accuracy = np.mean((predict(w, b, x) > 0.5) == y)
    print(f"weights {numpy.round(w, 3)}, bias {b:.3f}")
    print(f"training accuracy {accuracy:.3f}")

    theta = numpy.array([0.5, -1.0, 2.0])
    g = cr.grad(softplus_energy)(theta)
    ok = numpy.allclose(g, finite_differences(softplus_energy, theta), atol=1e-6)
    print(f"d energy / d theta = {numpy.round(g, 6)}")
    print(f"gradient matches finite differences: {ok}")


if __name__ == "__main__":
    main()
