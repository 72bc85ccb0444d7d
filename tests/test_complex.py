"""Complex numbers, with HIPS autograd's convention (docs/reference/complex.md).

Every rule is checked three ways on complex128 inputs: the gradient of a real
loss against central finite differences along each real and each imaginary
direction (the gradient is dL/dx - i dL/dy), the JVP against finite differences
along a random complex tangent, and the gradient against autograd's.
"""

from __future__ import annotations

import warnings

import autograd
import autograd.numpy as anp
import numpy as onp
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as np

EPS = 1e-6
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ helpers
def value(x):
    return x.data if isinstance(x, cr.Tensor) else onp.asarray(x)


def numeric_grad(loss, z):
    """dL/dx - i dL/dy by central differences (autograd's convention); a real z gets
    the real part only."""
    z = onp.asarray(z)
    out = onp.zeros(z.shape, complex)
    for idx in onp.ndindex(z.shape):
        d = onp.zeros(z.shape)
        d[idx] = EPS
        dx = (float(loss(z + d)) - float(loss(z - d))) / (2 * EPS)
        out[idx] = dx
        if z.dtype.kind == "c":
            dy = (float(loss(z + 1j * d)) - float(loss(z - 1j * d))) / (2 * EPS)
            out[idx] -= 1j * dy
    return out if z.dtype.kind == "c" else out.real


def numeric_jvp(f, z, t):
    return (value(f(z + EPS * t)) - value(f(z - EPS * t))) / (2 * EPS)


def close(a, b, tol=1e-6):
    a, b = value(a), value(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    onp.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def complex_arrays(shape_strategy, low=0.2, high=0.9):
    """Complex arrays with real parts in [low, high] and imaginary parts at least 0.1
    away from 0: away from every branch cut of the functions tested here."""

    @st.composite
    def build(draw):
        shape = draw(shape_strategy)
        seed = draw(st.integers(0, 2**31 - 1))
        rng = onp.random.default_rng(seed)
        re = rng.uniform(low, high, size=shape)
        im = rng.uniform(0.1, 0.8, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return re + 1j * im, rng

    return build()


SHAPES = st.sampled_from([(), (3,), (2, 3)])


def check_rule(fn, z, rng, against_autograd=True, tol=1e-6):
    """fn(m) is a function of z written with namespace m (chainrule.numpy or
    autograd.numpy). Checks its VJP and JVP against finite differences, and its
    gradient against autograd's."""
    f = fn(np)
    out = value(f(z))
    w = rng.normal(size=out.shape) + 1j * rng.normal(size=out.shape)

    def loss_of(m, fm):
        return lambda x: m.sum(m.real(fm(x) * w))

    loss = loss_of(np, f)
    g = cr.grad(loss)(z)
    assert value(g).dtype == z.dtype
    close(g, numeric_grad(loss, z), tol)
    t = rng.normal(size=z.shape) + 1j * rng.normal(size=z.shape)
    if z.dtype.kind != "c":
        t = t.real
    _, tangent = cr.jvp(f, (z,), (t,))
    close(tangent, numeric_jvp(f, z, t), tol)
    if against_autograd:
        theirs = autograd.grad(loss_of(anp, fn(anp)))(z)
        close(g, theirs, 1e-10)


# ---------------------------------------------------- the convention, by example
Z0 = 1.0 + 2.0j


@pytest.mark.parametrize(
    "fn, expected",
    [
        (lambda m: lambda z: m.abs(z) ** 2, 2 * onp.conj(Z0)),
        (lambda m: lambda z: m.real(z * m.conj(z)), 2 * onp.conj(Z0)),
        (lambda m: lambda z: m.real(z), 1.0 + 0j),
        (lambda m: lambda z: m.imag(z), -1j),
        (lambda m: lambda z: m.angle(z), -1j * onp.conj(Z0) / abs(Z0) ** 2),
        (lambda m: lambda z: m.abs(z), onp.conj(Z0) / abs(Z0)),
        (lambda m: lambda z: m.real(m.exp(z)), onp.exp(Z0)),
        (lambda m: lambda z: m.imag(z**3), -1j * 3 * Z0**2),
    ],
)
def test_gradient_of_a_real_function_is_autograds(fn, expected):
    ours = cr.grad(fn(np))(Z0)
    onp.testing.assert_allclose(ours, expected, rtol=1e-12)
    onp.testing.assert_allclose(ours, autograd.grad(fn(anp))(Z0), rtol=1e-12)


def test_holomorphic_grad_is_the_complex_derivative():
    for fn, derivative in [
        (lambda m: lambda z: m.exp(z) * z, lambda z: onp.exp(z) * (z + 1)),
        (lambda m: lambda z: m.sin(z) / z, lambda z: onp.cos(z) / z - onp.sin(z) / z**2),
        (lambda m: lambda z: m.log(z) ** 2, lambda z: 2 * onp.log(z) / z),
    ]:
        ours = cr.holomorphic_grad(fn(np))(Z0)
        onp.testing.assert_allclose(ours, derivative(Z0), rtol=1e-12)
        onp.testing.assert_allclose(ours, autograd.holomorphic_grad(fn(anp))(Z0), rtol=1e-12)
    z = onp.array([1 + 1j, 0.5 - 2j])
    ours = cr.holomorphic_grad(lambda v: np.sum(np.sin(v) ** 2))(z)
    close(ours, autograd.holomorphic_grad(lambda v: anp.sum(anp.sin(v) ** 2))(z), 1e-12)


def test_holomorphic_grad_of_holomorphic_grad():
    d2 = cr.holomorphic_grad(cr.holomorphic_grad(lambda z: z**3))
    onp.testing.assert_allclose(d2(Z0), 6 * Z0, rtol=1e-12)
    d2 = cr.holomorphic_grad(cr.holomorphic_grad(lambda z: np.exp(2 * z)))
    onp.testing.assert_allclose(d2(Z0), 4 * onp.exp(2 * Z0), rtol=1e-12)


def test_holomorphic_grad_warns_on_real_input_as_autograd():
    with pytest.warns(UserWarning, match="not complex"):
        assert cr.holomorphic_grad(lambda x: x**2)(3.0) == pytest.approx(6.0)


def test_grad_refuses_a_complex_output():
    with pytest.raises(TypeError, match="real scalar"):
        cr.grad(lambda z: z * z)(Z0)


def test_real_input_through_complex_values_gets_a_real_gradient():
    x = onp.array([0.3, -1.2, 2.0])

    def loss(m):
        return lambda v: m.sum(m.abs(m.exp(1j * v) * (v + 2j)) ** 2 + m.real(m.exp(1j * v)))

    g = cr.grad(loss(np))(x)
    assert g.dtype == onp.float64
    close(g, numeric_grad(loss(np), x))
    close(g, autograd.grad(loss(anp))(x), 1e-12)


def test_complex64_keeps_its_dtype():
    z = onp.array([1 + 1j, 2 - 1j], dtype=onp.complex64)
    g = cr.grad(lambda v: np.sum(np.abs(v * v)))(z)
    assert g.dtype == onp.complex64
    close(g, cr.grad(lambda v: np.sum(np.abs(v * v)))(z.astype(complex)), 1e-5)


# -------------------------------------------------- elementwise, property-based
# Holomorphic functions: their real formulas, unconjugated.
HOLOMORPHIC = {
    "exp": lambda m: m.exp,
    "log": lambda m: m.log,
    "sqrt": lambda m: m.sqrt,
    "sin": lambda m: m.sin,
    "cos": lambda m: m.cos,
    "tan": lambda m: m.tan,
    "tanh": lambda m: m.tanh,
    "sinh": lambda m: m.sinh,
    "cosh": lambda m: m.cosh,
    "arcsin": lambda m: m.arcsin,
    "arccos": lambda m: m.arccos,
    "arctan": lambda m: m.arctan,
    "arcsinh": lambda m: m.arcsinh,
    "arccosh": lambda m: m.arccosh,
    "arctanh": lambda m: m.arctanh,
    "square": lambda m: m.square,
    "reciprocal": lambda m: m.reciprocal,
    "expm1": lambda m: m.expm1,
    "log1p": lambda m: m.log1p,
    "log2": lambda m: m.log2,
    "log10": lambda m: m.log10,
    "exp2": lambda m: m.exp2,
    "negative": lambda m: m.negative,
    "power 2.5": lambda m: lambda z: z**2.5,
    "power z": lambda m: lambda z: z**z,
    "rpower": lambda m: lambda z: (1.5 - 0.5j) ** z,
    "division": lambda m: lambda z: 1.0 / z + z / (2 + 1j),
    "sigmoid": lambda m: cr.sigmoid if m is np else lambda z: 1 / (1 + m.exp(-z)),
}
# Not holomorphic: rules written for complex numbers.
NOT_HOLOMORPHIC = {
    "abs": lambda m: m.abs,
    "real": lambda m: m.real,
    "imag": lambda m: m.imag,
    "conj": lambda m: m.conj,
    "conjugate": lambda m: m.conjugate,
    "angle": lambda m: m.angle,
    "angle deg": lambda m: lambda z: m.angle(z, deg=True),
}
AUTOGRAD_LACKS = {"exp2", "angle deg"}  # no VJP in autograd; its angle takes no deg


@pytest.mark.parametrize("name", sorted(HOLOMORPHIC) + sorted(NOT_HOLOMORPHIC))
@SETTINGS
@given(data=complex_arrays(SHAPES))
def test_elementwise_rules(name, data):
    z, rng = data
    fn = HOLOMORPHIC.get(name) or NOT_HOLOMORPHIC[name]
    check_rule(fn, z, rng, against_autograd=name not in AUTOGRAD_LACKS)


@pytest.mark.parametrize("name", sorted(HOLOMORPHIC))
def test_holomorphic_rules_give_the_derivative(name):
    # For holomorphic f, grad(real(f)) is f'(z): compare with the difference quotient
    # along the real axis (the same along every direction).
    z = onp.array([0.4 + 0.3j, 0.7 - 0.5j])
    f = HOLOMORPHIC[name](np)
    expected = (value(f(z + EPS)) - value(f(z - EPS))) / (2 * EPS)
    along_i = (value(f(z + 1j * EPS)) - value(f(z - 1j * EPS))) / (2j * EPS)
    close(expected, along_i, 1e-6)  # holomorphic indeed
    close(cr.elementwise_grad(lambda v: np.real(f(v)))(z), expected)


BINARY = {
    "add": lambda m: lambda z: z + z[..., ::-1] * (2 - 1j),
    "mul": lambda m: lambda z: z * m.conj(z[..., ::-1]),
    "div": lambda m: lambda z: z / (z[..., ::-1] + 2.0),
    "pow": lambda m: lambda z: z ** z[..., ::-1],
    "maximum": lambda m: lambda z: m.maximum(z, 0.5 + 0j),
    "relu": lambda m: lambda z: (cr.relu if m is np else lambda v: m.maximum(v, 0))(z - 0.55),
    "where": lambda m: lambda z: m.where(m.real(z) > 0.5, z * z, m.conj(z)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=complex_arrays(st.sampled_from([(3,), (2, 3)])))
def test_binary_rules(name, data):
    z, rng = data
    check_rule(BINARY[name], z, rng)


# ------------------------------------------ linear algebra, reductions, shapes
W = onp.random.default_rng(7).normal(size=(3, 3)) + 1j * onp.random.default_rng(8).normal(
    size=(3, 3)
)
STRUCTURAL = {
    "matmul": lambda m: lambda z: z @ W,
    "rmatmul": lambda m: lambda z: W @ z,
    "dot": lambda m: lambda z: m.dot(z, W[0]),
    "einsum": lambda m: lambda z: m.einsum("ij,jk->ik", z, z),
    "tensordot": lambda m: lambda z: m.tensordot(z, W, axes=([1], [0])),
    "outer": lambda m: lambda z: m.outer(z[0], z[1]),
    "inv": lambda m: lambda z: m.linalg.inv(z),
    "det": lambda m: lambda z: m.linalg.det(z),
    "slogdet": lambda m: lambda z: m.linalg.slogdet(z)[1],
    "solve": lambda m: lambda z: m.linalg.solve(z, W[0]),
    "sum": lambda m: lambda z: m.sum(z, axis=0),
    "mean": lambda m: lambda z: m.mean(z * W, axis=1),
    "prod": lambda m: lambda z: m.prod(z, axis=1),
    "cumsum": lambda m: lambda z: m.cumsum(z, axis=0),
    "var": lambda m: lambda z: m.var(z, axis=0),
    "std": lambda m: lambda z: m.std(z),
    "norm": lambda m: lambda z: m.linalg.norm(z),
    "norm axis": lambda m: lambda z: m.linalg.norm(z, axis=1),
    "max": lambda m: lambda z: m.max(z, axis=0),
    "transpose": lambda m: lambda z: m.transpose(z) * W,
    "reshape": lambda m: lambda z: m.reshape(z, (9,))[::2],
    "concatenate": lambda m: lambda z: m.concatenate([z, m.conj(z)], axis=1),
    "stack": lambda m: lambda z: m.stack([z, z * z]),
    "getitem": lambda m: lambda z: z[[0, 2], 1:],
    "triu": lambda m: lambda z: m.triu(z),
    "trace": lambda m: lambda z: m.trace(z),
    "diag": lambda m: lambda z: m.diag(z),
    "roll": lambda m: lambda z: m.roll(z, 1, axis=1),
    "repeat": lambda m: lambda z: m.repeat(z, 2, axis=0),
    "kron": lambda m: lambda z: m.kron(z[:2, :2], z[1:, 1:]),
}


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
@SETTINGS
@given(data=complex_arrays(st.just((3, 3))))
def test_structural_rules(name, data):
    z, rng = data
    check_rule(STRUCTURAL[name], z, rng)


# ----------------------------------------------------------------------- FFT
def _fft_cases():
    c = []
    for norm in (None, "ortho", "forward"):
        c += [
            ("fft", lambda m, norm=norm: lambda z: m.fft.fft(z, norm=norm)),
            ("fft n", lambda m, norm=norm: lambda z: m.fft.fft(z, n=7, axis=0, norm=norm)),
            ("fft short", lambda m, norm=norm: lambda z: m.fft.fft(z, n=3, norm=norm)),
            ("ifft", lambda m, norm=norm: lambda z: m.fft.ifft(z, axis=0, norm=norm)),
            ("fft2", lambda m, norm=norm: lambda z: m.fft.fft2(z, norm=norm)),
            ("ifft2 s", lambda m, norm=norm: lambda z: m.fft.ifft2(z, s=(5, 3), norm=norm)),
            ("fftn", lambda m, norm=norm: lambda z: m.fft.fftn(z, norm=norm)),
            ("ifftn", lambda m, norm=norm: lambda z: m.fft.ifftn(z, axes=(1,), norm=norm)),
            ("irfft", lambda m, norm=norm: lambda z: m.fft.irfft(z, norm=norm)),
            ("irfft odd", lambda m, norm=norm: lambda z: m.fft.irfft(z, n=7, norm=norm)),
            ("irfft2", lambda m, norm=norm: lambda z: m.fft.irfft2(z, norm=norm)),
            (
                "irfftn s",
                lambda m, norm=norm: lambda z: m.fft.irfftn(z, s=(3, 5), axes=(0, 1), norm=norm),
            ),
        ]
    c += [
        ("fftshift", lambda m: lambda z: m.fft.fftshift(z)),
        ("ifftshift", lambda m: lambda z: m.fft.ifftshift(z, axes=1)),
    ]
    return c


FFT = dict((f"{name} {i}", fn) for i, (name, fn) in enumerate(_fft_cases()))
# autograd raises for odd lengths of the real transforms' last axis and has no
# "forward" norm (it scales as "backward"): there only finite differences judge.
FFT_WITHOUT_AUTOGRAD = {k for k in FFT if "odd" in k or "irfftn s" in k}
FFT_WITHOUT_AUTOGRAD |= {f"{name} {i}" for i, (name, _) in enumerate(_fft_cases()) if 24 <= i < 36}


@pytest.mark.parametrize("name", sorted(FFT))
@SETTINGS
@given(data=complex_arrays(st.sampled_from([(4, 6), (3, 4)]), low=-1.0, high=1.0))
def test_fft_rules(name, data):
    z, rng = data
    check_rule(FFT[name], z, rng, against_autograd=name not in FFT_WITHOUT_AUTOGRAD)


REAL_FFT = {}
for _norm in (None, "ortho", "forward"):
    REAL_FFT[f"rfft {_norm}"] = lambda m, norm=_norm: lambda x: m.fft.rfft(x, norm=norm)
    REAL_FFT[f"rfft n {_norm}"] = lambda m, norm=_norm: (
        lambda x: m.fft.rfft(x, n=8, axis=0, norm=norm)
    )
    REAL_FFT[f"rfft2 {_norm}"] = lambda m, norm=_norm: lambda x: m.fft.rfft2(x, norm=norm)
    REAL_FFT[f"rfftn s {_norm}"] = lambda m, norm=_norm: (
        lambda x: m.fft.rfftn(x, s=(3, 4), axes=(0, 1), norm=norm)
    )


@pytest.mark.parametrize("name", sorted(REAL_FFT))
@SETTINGS
@given(shape=st.sampled_from([(4, 6), (3, 5)]), seed=st.integers(0, 2**31 - 1))
def test_real_fft_rules(name, shape, seed):
    rng = onp.random.default_rng(seed)
    x = rng.normal(size=shape)
    # autograd's rfft needs an even last axis and knows no "forward" norm.
    even = shape[-1] % 2 == 0 and "rfftn s" not in name and " n " not in name
    check_rule(REAL_FFT[name], x, rng, against_autograd=even and "forward" not in name)


def test_fft_matches_numpy_and_refuses_what_it_cannot_differentiate():
    x = onp.random.default_rng(0).normal(size=(4, 4)) + 0j
    close(np.fft.fft2(cr.tensor(x)), onp.fft.fft2(x), 1e-12)
    close(np.fft.fftshift(cr.tensor(x), axes=0), onp.fft.fftshift(x, axes=0), 0)
    assert np.fft.fftfreq is onp.fft.fftfreq
    t = cr.tensor(x, requires_grad=True)
    with pytest.raises(NotImplementedError, match="repeated axis"):
        np.fft.fftn(t, axes=(0, 0))
    with pytest.raises(TypeError, match="rfft"):
        np.fft.rfft(t)
    with pytest.raises(TypeError, match="no differentiation rule"):
        onp.fft.hfft(t)


def test_numpys_fft_functions_dispatch_to_the_rules():
    z = onp.array([1 + 1j, 2 - 1j, 0.5j, -1.0])
    g = cr.grad(lambda v: onp.sum(onp.abs(onp.fft.fft(v)) ** 2))(cr.tensor(z))
    close(g, 2 * len(z) * onp.conj(z), 1e-12)  # Parseval: |fft z|^2 = n |z|^2


# ----------------------------------------------------------------------- eig
def _phase_free(m):
    """Functions of eig's results that do not depend on the eigenvectors' phases."""
    weights = onp.arange(1.0, 4.0)
    return lambda a: (
        m.sum(m.abs(m.linalg.eig(a)[1]) ** 2 * weights)
        + m.real(m.sum(m.linalg.eig(a)[0] ** 2 * (1 + 2j)))
    )


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), real=st.booleans())
def test_eig_of_complex_and_real_matrices(seed, real):
    rng = onp.random.default_rng(seed)
    a = rng.normal(size=(3, 3)) + (0 if real else 1j * rng.normal(size=(3, 3)))
    w = onp.linalg.eigvals(a)
    gaps = onp.abs(w[:, None] - w[None, :]) + onp.eye(3)
    if gaps.min() < 0.1:  # nearly repeated eigenvalues: derivatives blow up
        a = onp.diag([1.0, 2.0, 3.5]) + 0.1 * a
    loss = _phase_free(np)
    g = cr.grad(loss)(a)
    assert g.dtype == a.dtype
    close(g, numeric_grad(loss, a), 1e-5)
    close(g, autograd.grad(_phase_free(anp))(a), 1e-9)
    t = rng.normal(size=a.shape) + (0 if real else 1j * rng.normal(size=a.shape))
    _, tangent = cr.jvp(loss, (a,), (t,))
    close(tangent, numeric_jvp(loss, a, t), 1e-5)


def test_eigvals_of_a_rotation_are_differentiable():
    a = onp.array([[0.0, -1.0], [1.0, 0.3]])

    def loss(m):
        return lambda x: m.sum(m.imag(m.linalg.eig(x)[0]) ** 2)

    close(
        cr.grad(lambda x: np.sum(np.imag(np.linalg.eigvals(x)) ** 2))(a), numeric_grad(loss(np), a)
    )
    close(cr.grad(loss(np))(a), autograd.grad(loss(anp))(a), 1e-10)


# ------------------------------------------------------ refusals, not silence
@pytest.mark.parametrize(
    "fn, match",
    [
        (lambda z: np.sign(z), "sign: of a complex Tensor"),
        (lambda z: np.linalg.svd(np.reshape(z, (2, 1)), full_matrices=False), "svd: complex"),
        (lambda z: np.linalg.eigh(np.outer(z, np.conj(z))), "eigh: complex"),
        (lambda z: cr.softmax(z, axis=0), "softmax: complex"),
        (lambda z: np.deg2rad(z), "converts angles"),
        (lambda z: np.fft.rfft(z), "rfft"),
    ],
)
def test_rules_for_real_numbers_refuse_complex_inputs(fn, match):
    z = cr.tensor(onp.array([1 + 1j, 2 - 0.5j]), requires_grad=True)
    with pytest.raises(TypeError, match=match):
        fn(z)


# --------------------------------------------------- PyTorch's convention on .grad
def test_backward_gives_pytorchs_convention():
    z = onp.array([1 + 2j, -0.5 + 0.3j])
    cases = [
        (lambda m: lambda t: (m.abs(t * t) ** 2).sum(), None),
        (lambda m: lambda t: m.exp(t), onp.array([1 + 1j, 2 - 1j])),
        (lambda m: lambda t: (t.real * t.imag + t.conj() * t).sum().real, None),
    ]
    mods = {"cr": cr, "torch": torch}
    for fn, seed in cases:
        ours = cr.tensor(z, requires_grad=True)
        theirs = torch.tensor(z, requires_grad=True)
        out, out_t = fn(mods["cr"])(ours), fn(mods["torch"])(theirs)
        out.backward(None if seed is None else cr.tensor(seed))
        out_t.backward(None if seed is None else torch.tensor(seed))
        close(ours.grad, theirs.grad.numpy(), 1e-12)
    # the functional transforms keep autograd's convention: the conjugate
    loss = lambda t: (cr.abs(t * t) ** 2).sum()  # noqa: E731
    t = cr.tensor(z, requires_grad=True)
    loss(t).backward()
    close(cr.grad(loss)(z), onp.conj(t.grad.data), 1e-12)


def test_autograd_grad_and_hooks_see_pytorchs_convention():
    z = onp.array([1 + 2j, -0.5 + 0.3j])
    seen, seen_t = [], []
    ours = cr.tensor(z, requires_grad=True)
    theirs = torch.tensor(z, requires_grad=True)
    y, y_t = cr.exp(ours), torch.exp(theirs)
    y.register_hook(lambda g: seen.append(g.data.copy()))
    y_t.register_hook(lambda g: seen_t.append(g.numpy().copy()))
    (g,) = cr.autograd.grad((cr.abs(y) ** 2).sum(), ours)
    (g_t,) = torch.autograd.grad((torch.abs(y_t) ** 2).sum(), theirs)
    close(g, g_t.numpy(), 1e-12)
    close(seen[0], seen_t[0], 1e-12)


def test_backward_of_a_complex_scalar_needs_a_grad_as_in_pytorch():
    z = cr.tensor(onp.array(1 + 2j), requires_grad=True)
    with pytest.raises(RuntimeError, match="real output"):
        (z * z).backward()
    (z * z).backward(cr.tensor(onp.array(1 + 0j)))
    zt = torch.tensor(1 + 2j, requires_grad=True)
    with pytest.raises(RuntimeError, match="real scalar outputs"):
        (zt * zt).backward()
    (zt * zt).backward(torch.tensor(1 + 0j))
    close(z.grad, zt.grad.numpy(), 1e-12)


def test_real_parameters_and_pytorch_are_unchanged():
    x = cr.tensor([0.3, -1.2], requires_grad=True)
    xt = torch.tensor([0.3, -1.2], dtype=torch.float32, requires_grad=True)
    (cr.abs(cr.exp(x * 1j) * (x + 2j)) ** 2).sum().backward()
    (torch.abs(torch.exp(xt * 1j) * (xt + 2j)) ** 2).sum().backward()
    assert x.grad.dtype == onp.float32
    close(x.grad, xt.grad.numpy(), 1e-5)


def test_no_warning_when_a_complex_gradient_reaches_a_real_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cr.grad(lambda v: np.real(np.sum(np.exp(1j * v))))(onp.array([0.1, 0.2]))


# ----------------------------------------------------------------- the docs page
def test_the_reference_page_runs_and_prints_what_it_says(capsys):
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "reference" / "complex.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["(2-4j)", "-1j", "(-9+12j)"]
    assert float(lines[3]) == pytest.approx(-onp.sin(0.5))
    fitted, expected = lines[4].split("] [")
    assert fitted + "]" == "[" + expected  # descent along the conjugate reaches the optimum
    assert lines[5].startswith("tensor([2.+4.j]")


# ------------------------------------------------------- the gradient checkers
def test_check_grads_takes_complex_inputs_and_can_fail():
    from chainrule.extend import defvjp, primitive
    from chainrule.test_util import check_grads

    z = onp.array([0.4 + 0.3j, -0.7 + 1.1j])
    check_grads(lambda v: np.sum(np.abs(np.fft.fft(v)) ** 2 * np.exp(v)), modes=["fwd", "rev"])(z)
    check_grads(lambda v: np.linalg.inv(np.outer(v, v) + np.eye(2)), order=2)(z)

    @primitive
    def wrong_conj(v):
        return onp.conj(v)

    defvjp(wrong_conj, lambda ans, v: lambda g: g)  # should be conj(g)
    with pytest.raises(AssertionError, match="VJP"):
        check_grads(wrong_conj, modes=["rev"], order=1)(z)


def test_gradcheck_points_complex_inputs_to_check_grads():
    z = cr.tensor(onp.array([1 + 1j]), requires_grad=True)
    with pytest.raises(TypeError, match="check_grads"):
        cr.gradcheck(lambda t: cr.abs(t).sum(), (z,))


@pytest.mark.parametrize("name", ["exp", "log", "tanh", "arcsinh", "abs", "angle"])
@SETTINGS
@given(data=complex_arrays(SHAPES))
def test_complex64_gradients_keep_their_dtype(name, data):
    z, _ = data
    fn = (HOLOMORPHIC.get(name) or NOT_HOLOMORPHIC[name])(np)

    def loss(v):
        return np.sum(np.real(fn(v) * (1 - 2j)))

    g64 = cr.grad(loss)(z.astype(onp.complex64))
    assert value(g64).dtype == onp.complex64
    close(g64, cr.grad(loss)(z), 1e-4)


def test_sgd_descends_on_complex_parameters_and_adam_refuses_them():
    target = onp.array([1.0 - 1.0j, 0.5j])
    w = cr.tensor(onp.zeros(2, complex), requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.05, momentum=0.5)
    for _ in range(100):
        opt.zero_grad()
        (cr.abs(w * (2 + 1j) - cr.tensor(target)) ** 2).sum().backward()
        opt.step()
    close(w, target / (2 + 1j), 1e-6)
    with pytest.raises(TypeError, match="Adam: complex parameters"):
        cr.optim.Adam([cr.tensor(onp.zeros(2, complex), requires_grad=True)])


def test_extend_primitives_in_autograds_convention_both_modes():
    from chainrule.extend import defvjp, primitive

    @primitive
    def twisted(v):
        return onp.conj(v) * (2 + 1j)

    defvjp(
        twisted,
        lambda ans, v: (
            lambda g: (
                onp.conj(g * (2 + 1j)) if not isinstance(g, cr.Tensor) else np.conj(g * (2 + 1j))
            )
        ),
    )
    z = onp.array([0.4 + 0.3j, -0.7 + 1.1j])
    t = onp.array([1.0 - 2.0j, 0.5 + 0.5j])
    # no defjvp: forward mode derives the JVP from the VJP rule
    _, tangent = cr.jvp(lambda v: twisted(v), (z,), (t,))
    close(tangent, onp.conj(t) * (2 + 1j), 1e-12)
    loss = lambda v: np.sum(np.abs(twisted(v)) ** 2)  # noqa: E731
    close(cr.grad(loss)(z), numeric_grad(loss, z))


def test_vmap_of_complex_functions_and_their_gradients():
    import warnings as _w

    rng = onp.random.default_rng(4)
    zs = rng.normal(size=(3, 4, 6)) + 1j * rng.normal(size=(3, 4, 6))

    def loss(z):
        spectrum = np.fft.fftshift(np.fft.fft2(z, s=(4, 8), norm="ortho"), axes=1)
        back = np.fft.irfft(np.fft.rfft(np.real(z), axis=0), n=4, axis=0)
        return np.sum(np.abs(spectrum) ** 2 * np.angle(z[0, 0])) + np.sum(back * np.imag(z))

    with _w.catch_warnings():
        _w.simplefilter("error")  # every primitive has a batching rule: no loop warning
        got = cr.vmap(cr.grad(loss))(zs)
    for i in range(3):
        close(got[i], cr.grad(loss)(zs[i]), 1e-10)
