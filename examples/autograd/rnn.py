"""A recurrent network on dict parameters, trained to predict the next value of
noisy waves.

Written in HIPS autograd's style (its examples/rnn.py is the model): the
parameters are a dict ``{"init_hiddens", "change", "predict"}``, ``grad`` of the
loss with respect to that dict comes back as a dict with the same keys, and
``chainrule.misc.optimizers.rmsprop`` steps it (every fifth report also checks a
hand-written SGD step on the dict). Data: sine waves of random phase and
frequency with noise, from a seeded NumPy generator.

Run: ``python examples/autograd/rnn.py`` (``CHAINRULE_SHORT=1``: a short run).
"""

import os

import numpy.random as npr

import chainrule.numpy as np
from chainrule import grad, value_and_grad
from chainrule.misc.optimizers import rmsprop

SHORT = os.environ.get("CHAINRULE_SHORT") == "1"
results = {}


def make_waves(num_seqs, length, seed=0):
    """Inputs and next-step targets, shape (length, num_seqs, 1) each."""
    rs = npr.RandomState(seed)
    t = np.arange(length + 1)[:, None]
    phase = rs.uniform(0, 2 * np.pi, size=(1, num_seqs))
    freq = rs.uniform(0.1, 0.3, size=(1, num_seqs))
    waves = np.sin(freq * t + phase) + 0.05 * rs.randn(length + 1, num_seqs)
    return waves[:-1, :, None], waves[1:, :, None]


def create_rnn_params(input_size, state_size, output_size, param_scale=0.1, seed=1):
    rs = npr.RandomState(seed)
    return {
        "init_hiddens": param_scale * rs.randn(1, state_size),
        "change": param_scale * rs.randn(input_size + state_size + 1, state_size),
        "predict": param_scale * rs.randn(state_size + 1, output_size),
    }


def concat_and_multiply(weights, *args):
    cat_state = np.hstack(args + (np.ones((args[0].shape[0], 1)),))
    return np.dot(cat_state, weights)


def rnn_predict(params, inputs):
    num_sequences = inputs.shape[1]
    hiddens = np.repeat(params["init_hiddens"], num_sequences, axis=0)
    outputs = []
    for step_input in inputs:  # iterate over time steps
        hiddens = np.tanh(concat_and_multiply(params["change"], step_input, hiddens))
        outputs.append(concat_and_multiply(params["predict"], hiddens))
    return outputs


def rnn_loss(params, inputs, targets):
    predictions = rnn_predict(params, inputs)
    return sum(np.mean((p - t) ** 2) for p, t in zip(predictions, targets)) / len(targets)


inputs, targets = make_waves(8 if SHORT else 32, 20 if SHORT else 60)
init_params = create_rnn_params(input_size=1, state_size=12 if SHORT else 24, output_size=1)
num_iters = 40 if SHORT else 400


def training_loss(params, iteration):
    return rnn_loss(params, inputs, targets)


training_loss_grad = grad(training_loss)
losses = []


def callback(params, iteration, gradient):
    if iteration % 10 == 0:
        losses.append(float(training_loss(params, iteration)))
        print(f"iteration {iteration:4d}  loss {losses[-1]:.6f}")


trained = rmsprop(
    training_loss_grad, init_params, step_size=0.01, num_iters=num_iters, callback=callback
)

# One plain SGD step on the dict, by hand: the gradient has the parameters' keys.
value, gradient = value_and_grad(rnn_loss)(trained, inputs, targets)
stepped = {key: trained[key] - 0.05 * gradient[key] for key in trained}

results["losses"] = losses
results["final_loss"] = float(value)
results["after_sgd_step"] = float(rnn_loss(stepped, inputs, targets))
results["gradient_norms"] = {
    key: float(np.sqrt(np.sum(gradient[key] ** 2))) for key in sorted(gradient)
}
results["first_predictions"] = [float(p[0, 0]) for p in rnn_predict(trained, inputs[:5])]
