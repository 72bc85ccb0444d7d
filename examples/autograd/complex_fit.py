"""Complex-valued optimisation in HIPS autograd's style, on chainrule.

Three small problems whose unknowns are complex numbers:

1. FIR filter design: complex taps ``h`` whose frequency response ``fft(h, n)``
   matches a noisy low-pass target with a delay, by gradient descent on the mean
   squared error (a real loss of complex parameters).
2. A damped oscillation ``A exp(s t)`` (complex amplitude A, complex rate s) fitted
   to noisy complex samples, by gradient descent on both.
3. The roots of a polynomial by Newton's method, the derivative from
   ``holomorphic_grad``.

autograd's gradient of a real loss L of z = x + iy is dL/dx - i dL/dy, so the
steepest-descent step is along its conjugate: ``z -= step * np.conj(grad(L)(z))``.

Run as a script, or with CHAINRULE_SHORT=1 for a short run; ``results`` holds the
numbers (the same under autograd when the imports name autograd).
"""

import os

import chainrule.numpy as np
import chainrule.numpy.random as npr
from chainrule import grad, holomorphic_grad

SHORT = os.environ.get("CHAINRULE_SHORT") == "1"
rs = npr.RandomState(0)


def descend(loss, z, step, num_iters):
    """Steepest descent on complex parameters, recording the loss."""
    gradient = grad(loss)
    history = []
    for _ in range(num_iters):
        history.append(float(loss(z)))
        z = z - step * np.conj(gradient(z))
    history.append(float(loss(z)))
    return z, history


# ------------------------------------------------------------ 1. filter design
n_taps, n_freq = 8, 32
freqs = np.fft.fftfreq(n_freq)
passband = np.where(np.abs(freqs) < 0.2, 1.0, 0.0)
target = passband * np.exp(-2j * np.pi * freqs * 3.0)
target = target + 0.05 * (rs.randn(n_freq) + 1j * rs.randn(n_freq))


def filter_loss(h):
    error = np.fft.fft(h, n=n_freq) - target
    return np.mean(np.real(error * np.conj(error))) + 1e-3 * np.sum(np.abs(h) ** 2)


taps0 = 0.1 * (rs.randn(n_taps) + 1j * rs.randn(n_taps))
taps, filter_history = descend(filter_loss, taps0, step=0.2, num_iters=20 if SHORT else 200)

# ------------------------------------------------------- 2. damped oscillation
times = np.linspace(0.0, 4.0, 40)
true_amplitude, true_rate = 1.5 * np.exp(0.7j), -0.4 + 2.0j
samples = true_amplitude * np.exp(true_rate * times)
samples = samples + 0.05 * (rs.randn(len(times)) + 1j * rs.randn(len(times)))


def oscillation_loss(params):
    amplitude, rate = params[0], params[1]
    residual = samples - amplitude * np.exp(rate * times)
    return np.mean(np.abs(residual) ** 2)


params0 = np.array([1.0 + 0.5j, -0.3 + 1.9j])
params, oscillation_history = descend(
    oscillation_loss, params0, step=0.05, num_iters=30 if SHORT else 400
)


# -------------------------------------------------------- 3. Newton's method
def polynomial(z):
    return z**3 - 2.0 * z + 2.0


derivative = holomorphic_grad(polynomial)
roots = []
for start in [1.0 + 1.0j, 1.0 - 1.0j, -2.0 + 0.1j]:
    z = start
    for _ in range(8 if SHORT else 30):
        z = z - polynomial(z) / derivative(z)
    roots.append(complex(z))

results = {
    "filter_loss": filter_history,
    "taps_real": [float(v) for v in np.real(taps)],
    "taps_imag": [float(v) for v in np.imag(taps)],
    "oscillation_loss": oscillation_history,
    "amplitude": [float(np.abs(params[0])), float(np.angle(params[0]))],
    "rate": [float(np.real(params[1])), float(np.imag(params[1]))],
    "roots": [[z.real, z.imag] for z in roots],
    "residuals": [float(abs(polynomial(z))) for z in roots],
}

if __name__ == "__main__":
    print(f"filter design: loss {filter_history[0]:.4f} -> {filter_history[-1]:.4f}")
    print(f"oscillation fit: loss {oscillation_history[0]:.4f} -> {oscillation_history[-1]:.4f}")
    print(f"  amplitude {params[0]:.4f} (true {true_amplitude:.4f})")
    print(f"  rate {params[1]:.4f} (true {true_rate:.4f})")
    print("roots of z^3 - 2z + 2:", ", ".join(f"{z:.6f}" for z in roots))
