"""Jacobians and Hessians with complex numbers follow JAX's rules: a reverse-mode
row, or a forward-mode column, of a complex map holds the whole derivative only for
a holomorphic map, so complex outputs (jacobian) and complex inputs (jacfwd,
hessian) need ``holomorphic=True``; without it they are refused in one line instead
of returning the real part's derivative alone."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import chainrule as cr
import chainrule.numpy as cnp

finite = st.floats(-1.5, 1.5, allow_nan=False)
complexes = (
    st.integers(1, 4)
    .flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=finite), arrays(np.float64, n, elements=finite)
        )
    )
    .map(lambda p: p[0] + 1j * p[1])
)

HOLOMORPHIC = {
    "cube": lambda m: lambda z: z**3 + 2.0 * z,
    "exp_sin": lambda m: lambda z: m.exp(z) * m.sin(z),
    "mixing": lambda m: lambda z: m.cumsum(z * z) / (2.0 + 1j),
}


def _complex_differences(f, z, eps=1e-6):
    """d f_i / d z_j of a holomorphic f, by differences along the real axis."""
    cols = []
    for j in range(z.size):
        d = np.zeros(z.shape, complex)
        d[j] = eps
        cols.append((f(z + d) - f(z - d)) / (2 * eps))
    return np.stack(cols, axis=-1)


@settings(max_examples=20, deadline=None)
@given(complexes, st.sampled_from(sorted(HOLOMORPHIC)))
def test_holomorphic_jacobians_by_both_modes(z, name):
    f = HOLOMORPHIC[name](cnp)
    expected = _complex_differences(HOLOMORPHIC[name](np), z)
    # along the imaginary axis too: a holomorphic derivative is the same there
    along_i = _complex_differences(lambda w: HOLOMORPHIC[name](np)(z + 1j * (w - z)), z) / 1j
    np.testing.assert_allclose(along_i, expected, rtol=1e-5, atol=1e-6)
    for transform in (cr.jacobian, cr.jacfwd):
        got = transform(f, holomorphic=True)(z)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(complexes)
def test_holomorphic_hessian(z):
    f = lambda z: cnp.sum(z**3 * cnp.exp(z))  # noqa: E731
    got = cr.hessian(f, holomorphic=True)(z)
    second = (6 * z + 6 * z**2 + z**3) * np.exp(z)  # (z^3 e^z)''
    np.testing.assert_allclose(got, np.diag(second), rtol=1e-9, atol=1e-9)


def test_real_input_complex_output_by_forward_mode():
    x = np.array([0.5, -1.0])
    got = cr.jacfwd(lambda x: cnp.exp(1j * x))(x)
    np.testing.assert_allclose(got, np.diag(1j * np.exp(1j * x)))


def test_real_valued_function_of_complex_input_gives_gradients_as_rows():
    z = np.array([1.0 + 1.0j, 2.0 - 1.0j])
    rows = cr.jacobian(lambda z: cnp.abs(z) ** 2)(z)
    np.testing.assert_allclose(rows, np.diag(2 * np.conj(z)))
    np.testing.assert_allclose(np.diag(rows), [cr.grad(lambda w: cnp.abs(w) ** 2)(v) for v in z])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cr.jacobian(lambda x: x * (1 + 2j))(np.ones(2)), "^jacobian: output 0 is complex"),
        (lambda: cr.jacobian(cnp.conj)(np.ones(2) + 1j), "^jacobian: output 0 is complex"),
        (
            lambda: cr.jacfwd(cnp.conj)(np.ones(2) + 1j),
            "^jacfwd: differentiated input 0 is complex",
        ),
        (
            lambda: cr.jacfwd(lambda z: cnp.abs(z) ** 2)(np.ones(2) + 1j),
            "^jacfwd: differentiated input 0 is complex",
        ),
        (
            lambda: cr.hessian(lambda z: cnp.sum(cnp.abs(z) ** 2))(np.ones(2) + 1j),
            "^jacfwd: differentiated input 0 is complex",
        ),
        (
            lambda: cr.jacobian(lambda x: x * 1j, holomorphic=True)(np.ones(2)),
            "^jacobian: holomorphic=True needs complex inputs",
        ),
        (
            lambda: cr.jacobian(lambda z: cnp.abs(z), holomorphic=True)(np.ones(2) + 1j),
            "^jacobian: holomorphic=True needs complex outputs",
        ),
        (
            lambda: cr.jacfwd(lambda x: x, holomorphic=True)(np.ones(2)),
            "^jacfwd: holomorphic=True needs complex inputs",
        ),
    ],
)
def test_partial_complex_derivatives_are_refused(call, message):
    with pytest.raises(TypeError, match=message):
        call()
