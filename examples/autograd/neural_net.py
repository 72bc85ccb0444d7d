"""A multilayer perceptron on list-of-tuples parameters, trained with Adam.

Written in HIPS autograd's style (its examples/neural_net.py is the model): the
parameters are ``[(W1, b1), (W2, b2), ...]``, the gradient of the objective with
respect to that list comes back as the same list, and
``chainrule.misc.optimizers.adam`` steps it. Data: three noisy 2-D spirals from a
seeded NumPy generator, no downloads.

Run: ``python examples/autograd/neural_net.py`` (``CHAINRULE_SHORT=1``: a short run).
"""

import os

import numpy.random as npr

import chainrule.numpy as np
from chainrule import grad
from chainrule.misc.optimizers import adam

SHORT = os.environ.get("CHAINRULE_SHORT") == "1"
results = {}


def spirals(num_per_class, num_classes=3, noise=0.2, seed=0):
    rs = npr.RandomState(seed)
    radius = np.linspace(0.2, 1.0, num_per_class)
    inputs, labels = [], []
    for k in range(num_classes):
        angle = radius * 4.0 + 2.0 * np.pi * k / num_classes
        angle = angle + noise * rs.randn(num_per_class)
        inputs.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1))
        labels.append(np.full(num_per_class, k))
    one_hot = np.eye(num_classes)[np.concatenate(labels)]
    return np.concatenate(inputs), one_hot


def init_random_params(scale, layer_sizes, seed=1):
    """A list of (weights, biases) tuples, one per layer."""
    rs = npr.RandomState(seed)
    return [
        (scale * rs.randn(m, n), scale * rs.randn(n))
        for m, n in zip(layer_sizes[:-1], layer_sizes[1:])
    ]


def logsumexp(x):
    top = np.max(x, axis=1, keepdims=True)
    return top + np.log(np.sum(np.exp(x - top), axis=1, keepdims=True))


def neural_net_predict(params, inputs):
    """Log class probabilities: tanh layers, a linear last layer, log-softmax."""
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs - logsumexp(outputs)


def log_posterior(params, inputs, targets, l2=1e-3):
    log_prior = -l2 * sum(np.sum(W**2) + np.sum(b**2) for W, b in params)
    return log_prior + np.sum(neural_net_predict(params, inputs) * targets)


def accuracy(params, inputs, targets):
    predicted = np.argmax(neural_net_predict(params, inputs), axis=1)
    return np.mean(predicted == np.argmax(targets, axis=1))


inputs, targets = spirals(40 if SHORT else 200)
layer_sizes = [2, 24, 24, 3]
batch_size = 30
num_batches = int(np.ceil(len(inputs) / batch_size))
num_epochs = 15 if SHORT else 200


def batch_indices(iteration):
    idx = iteration % num_batches
    return slice(idx * batch_size, (idx + 1) * batch_size)


def objective(params, iteration):
    idx = batch_indices(iteration)
    return -log_posterior(params, inputs[idx], targets[idx])


objective_grad = grad(objective)
losses = []


def print_perf(params, iteration, gradient):
    if iteration % num_batches == 0:
        loss = float(-log_posterior(params, inputs, targets))
        losses.append(loss)
        print(f"{iteration // num_batches:4d}  loss {loss:10.4f}  ", end="")
        print(f"accuracy {float(accuracy(params, inputs, targets)):.3f}")


init_params = init_random_params(0.3, layer_sizes)
optimized = adam(
    objective_grad,
    init_params,
    step_size=0.01,
    num_iters=num_epochs * num_batches,
    callback=print_perf,
)

results["losses"] = losses
results["accuracy"] = float(accuracy(optimized, inputs, targets))
results["weight_norms"] = [float(np.sqrt(np.sum(W**2))) for W, _ in optimized]
results["first_gradient"] = [
    float(np.sum(gW)) + float(np.sum(gb)) for gW, gb in objective_grad(init_params, 0)
]
