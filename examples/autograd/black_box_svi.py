"""Black-box variational inference in HIPS autograd's style, on chainrule.

The target is an unnormalised two-dimensional density with a curved ridge: x1 is
skew-normal (a normal density times a normal CDF) and x2 given x1 is normal
around 0.4 x1^2 - 1. A diagonal Gaussian q(x) = N(mean, exp(log_std)^2) is fitted
by maximising the evidence lower bound, E_q[log p(x)] + H[q], estimated with
reparameterised samples (x = mean + exp(log_std) * eps), so the gradient flows
through ``norm.logpdf``/``norm.logcdf`` into the variational parameters.

Run as a script, or with CHAINRULE_SHORT=1 for a short run; ``results`` holds the
numbers (the same under autograd when the imports name autograd).
"""

import os

import chainrule.numpy as np
import chainrule.numpy.random as npr
from chainrule import grad
from chainrule.scipy.stats import norm

SHORT = os.environ.get("CHAINRULE_SHORT") == "1"
DIM = 2


def log_target(x):
    """log p(x) up to a constant, for samples in the rows of x."""
    x1, x2 = x[:, 0], x[:, 1]
    skewed = norm.logpdf(x1, 0.0, 1.5) + norm.logcdf(2.0 * x1)
    ridge = norm.logpdf(x2, 0.4 * x1**2 - 1.0, 0.5)
    return skewed + ridge


def unpack(params):
    return params[:DIM], params[DIM:]


def gaussian_entropy(log_std):
    return 0.5 * DIM * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)


def make_negative_elbo(num_samples, rs):
    def negative_elbo(params):
        mean, log_std = unpack(params)
        eps = rs.randn(num_samples, DIM)
        samples = mean + np.exp(log_std) * eps
        return -(gaussian_entropy(log_std) + np.mean(log_target(samples)))

    return negative_elbo


def adam(gradient, x, num_iters, step_size=0.05, b1=0.9, b2=0.999, eps=1e-8):
    m = np.zeros(len(x))
    v = np.zeros(len(x))
    for i in range(num_iters):
        g = gradient(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1 ** (i + 1))
        v_hat = v / (1 - b2 ** (i + 1))
        x = x - step_size * m_hat / (np.sqrt(v_hat) + eps)
    return x


rs = npr.RandomState(0)
objective = make_negative_elbo(num_samples=50 if SHORT else 200, rs=rs)
init = np.array([-1.0, 1.0, -0.5, -0.5])
fitted = adam(grad(objective), init, num_iters=40 if SHORT else 600)

# the bound at the fitted parameters, on fresh samples drawn from a fixed seed
check = make_negative_elbo(num_samples=2000, rs=npr.RandomState(1))
mean, log_std = unpack(fitted)

results = {}
results["mean"] = [float(v) for v in mean]
results["std"] = [float(v) for v in np.exp(log_std)]
results["elbo"] = -float(check(fitted))
results["elbo_at_start"] = -float(make_negative_elbo(2000, npr.RandomState(1))(init))

if __name__ == "__main__":
    for key, value in results.items():
        print(key, value)
