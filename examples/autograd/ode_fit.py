"""Fitting an ODE model to noisy observations, in HIPS autograd's style, on chainrule.

Predator-prey dynamics (Lotka-Volterra) with unknown rates: the model's trajectory
comes from ``odeint``, and the squared error to the observations is minimised by
gradient steps on the log-rates and the log initial populations. The gradient of
the trajectory goes back through the ODE solve by the adjoint method (one backward
integration per observation interval). The rates ride along in the state with zero
derivative, so they enter ``odeint`` through its initial state and the same program
runs unchanged under autograd.

Run as a script, or with CHAINRULE_SHORT=1 for a short run; ``results`` holds the
numbers (the same under autograd when the imports name autograd).
"""

import os

import chainrule.numpy as np
import chainrule.numpy.random as npr
from chainrule import value_and_grad
from chainrule.scipy.integrate import odeint

SHORT = os.environ.get("CHAINRULE_SHORT") == "1"
SOLVER = {"rtol": 1e-8, "atol": 1e-8}


def dynamics(state, t):
    """Prey u and predators v; the four log-rates follow them unchanged."""
    u, v = state[0], state[1]
    a, b, c, d = np.exp(state[2]), np.exp(state[3]), np.exp(state[4]), np.exp(state[5])
    du = a * u - b * u * v
    dv = d * u * v - c * v
    return np.concatenate([np.array([du, dv]), np.zeros(4)])


def trajectory(params, times):
    """Populations at ``times`` from params = (log u0, log v0, four log-rates)."""
    start = np.concatenate([np.exp(params[:2]), params[2:]])
    return odeint(dynamics, start, times, (), **SOLVER)[:, :2]


def loss(params, times, observed):
    return np.mean((trajectory(params, times) - observed) ** 2)


rs = npr.RandomState(0)
n_obs = 8 if SHORT else 15
times = np.linspace(0.0, 6.0 if SHORT else 10.0, n_obs)
true_params = np.array(
    [np.log(1.0), np.log(0.5), np.log(1.1), np.log(0.4), np.log(0.9), np.log(0.3)]
)
observed = trajectory(true_params, times) + 0.05 * rs.randn(n_obs, 2)

params = true_params + np.array([0.2, -0.2, -0.15, 0.15, 0.1, -0.1])
step_size = 0.003
objective = value_and_grad(loss)
history = []
for _ in range(6 if SHORT else 60):
    value, g = objective(params, times, observed)
    history.append(float(value))
    params = params - step_size * g

results = {}
results["losses"] = [float(v) for v in history[:: max(1, len(history) // 10)]]
results["final_loss"] = float(loss(params, times, observed))
results["params"] = [float(p) for p in params]
results["rates"] = [float(r) for r in np.exp(params[2:])]

if __name__ == "__main__":
    for key, value in results.items():
        print(key, value)
