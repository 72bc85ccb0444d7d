"""Gaussian process regression in HIPS autograd's style, on chainrule.

The kernel's hyperparameters (a constant mean, the noise level, the signal scale
and the length scale, all as logs where they must be positive) are fitted by
maximising the log marginal likelihood of the data, which is one call of
``multivariate_normal.logpdf`` with the kernel matrix as covariance; the
gradient flows through the covariance matrix into every hyperparameter. A small
Adam loop does the fitting; the fitted process then predicts at new inputs.

Run as a script, or with CHAINRULE_SHORT=1 for a short run; ``results`` holds the
numbers (the same under autograd when the imports name autograd).
"""

import os

import chainrule.numpy as np
import chainrule.numpy.random as npr
from chainrule import value_and_grad
from chainrule.scipy.stats import multivariate_normal as mvn

SHORT = os.environ.get("CHAINRULE_SHORT") == "1"


def squared_exponential(log_scale, log_length, xa, xb):
    """k(a, b) = s^2 exp(-|a - b|^2 / (2 l^2)) between the rows of xa and xb."""
    diffs = (xa[:, None, :] - xb[None, :, :]) / np.exp(log_length)
    return np.exp(2 * log_scale) * np.exp(-0.5 * np.sum(diffs**2, axis=2))


def kernel_matrix(params, x):
    log_noise, log_scale, log_length = params[1], params[2], params[3]
    noise = np.exp(2 * log_noise) + 1e-6
    return squared_exponential(log_scale, log_length, x, x) + noise * np.eye(len(x))


def negative_log_marginal(params, x, y):
    mean = params[0]
    return -mvn.logpdf(y, mean * np.ones(len(y)), kernel_matrix(params, x))


def predict(params, x, y, x_new):
    """Posterior mean and variance of the latent function at x_new."""
    mean, log_scale, log_length = params[0], params[2], params[3]
    k_train = kernel_matrix(params, x)
    k_cross = squared_exponential(log_scale, log_length, x_new, x)
    weights = np.linalg.solve(k_train, y - mean)
    post_mean = mean + np.dot(k_cross, weights)
    k_new = np.exp(2 * log_scale) * np.ones(len(x_new))
    post_var = k_new - np.sum(k_cross * np.linalg.solve(k_train, k_cross.T).T, axis=1)
    return post_mean, post_var


def adam(value_and_gradient, x, num_iters, step_size=0.05, b1=0.9, b2=0.999, eps=1e-8):
    m = np.zeros(len(x))
    v = np.zeros(len(x))
    history = []
    for i in range(num_iters):
        value, g = value_and_gradient(x)
        history.append(float(value))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1 ** (i + 1))
        v_hat = v / (1 - b2 ** (i + 1))
        x = x - step_size * m_hat / (np.sqrt(v_hat) + eps)
    return x, history


rs = npr.RandomState(0)
n_points = 12 if SHORT else 40
inputs = np.sort(rs.uniform(-4.0, 4.0, size=n_points))[:, None]
targets = np.sin(inputs[:, 0]) + 0.3 * np.cos(2.5 * inputs[:, 0]) + 0.1 * rs.randn(n_points)

init = np.array([0.0, np.log(0.5), 0.0, 0.0])
objective = value_and_grad(lambda p: negative_log_marginal(p, inputs, targets))
fitted, losses = adam(objective, init, num_iters=25 if SHORT else 300)

x_test = np.linspace(-5.0, 5.0, 7)[:, None]
mean_test, var_test = predict(fitted, inputs, targets, x_test)

results = {}
results["losses"] = [float(v) for v in losses[:: max(1, len(losses) // 10)]]
results["final_loss"] = float(negative_log_marginal(fitted, inputs, targets))
results["params"] = [float(p) for p in fitted]
results["pred_mean"] = [float(v) for v in mean_test]
results["pred_var"] = [float(v) for v in var_test]

if __name__ == "__main__":
    for key, value in results.items():
        print(key, value)
