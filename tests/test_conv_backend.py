"""The convolution backend: choosing it (name, environment variable, clear errors
when oneDNN is missing or misnumbered), oneDNN's three convolution computations
against their definitions over random geometries, and the convolution primitives
under it (layers, gradients, cr.jit, float64 untouched).

oneDNN's CPU wheel (``onednn-cpu-gomp``) is in the test extra, so these tests run
wherever the suite does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv_primitive import _case, geometry

import chainrule as cr
import chainrule.nn as nn
from chainrule import conv_backend, onednn
from chainrule.ops import conv

FLOAT32 = {"rtol": 2e-5, "atol": 2e-5}


pytestmark = pytest.mark.usefixtures("conv_backend_restored")


def _three(x, w, b, g, p):
    """The three computations of one convolution, by the backend in use."""
    return (
        conv._conv2d_forward(x, w, b, **p),
        conv._input_grad_forward(g, w, shape=x.shape, **p),
        conv._weight_grad_forward(g, x, shape=w.shape, **p),
    )


# ----------------------------------------------------------------- choosing
def test_the_default_is_numpy():
    assert conv_backend.BACKENDS == ("numpy", "onednn")
    cr.set_conv_backend("numpy")
    assert cr.get_conv_backend() == "numpy"


@pytest.mark.parametrize("bad", ["mkl", "", "dnnl", None, 3])
def test_a_bad_name_raises_one_line_and_keeps_the_backend(bad):
    cr.set_conv_backend("onednn")
    with pytest.raises(ValueError, match="must be one of numpy, onednn") as info:
        cr.set_conv_backend(bad)
    assert "\n" not in str(info.value)
    assert cr.get_conv_backend() == "onednn"


def test_names_are_read_without_case_or_spaces():
    cr.set_conv_backend(" oneDNN ")
    assert cr.get_conv_backend() == "onednn"


def test_missing_onednn_says_what_to_install(monkeypatch, tmp_path):
    from importlib import metadata

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "files", not_installed)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # no libdnnl there either
    monkeypatch.setattr(conv_backend, "_planner", None)
    cr.set_conv_backend("numpy")
    with pytest.raises(ImportError, match="needs Intel oneDNN.*install onednn-cpu-gomp") as info:
        cr.set_conv_backend("onednn")
    assert "\n" not in str(info.value)
    assert cr.get_conv_backend() == "numpy"


def test_a_library_that_numbers_its_constants_otherwise_is_refused(monkeypatch):
    wrong = dict(onednn._EXPECTED_NAMES, dnnl_fmt_tag2str={onednn._TAG_ABCD: "abdc"})
    monkeypatch.setattr(onednn, "_EXPECTED_NAMES", wrong)
    with pytest.raises(ImportError, match="numbers its constants differently"):
        onednn.Library()


def test_an_unloadable_library_says_why(tmp_path):
    bogus = tmp_path / "libdnnl.so.3"
    bogus.write_bytes(b"not a library")
    with pytest.raises(ImportError, match="could not load oneDNN.*libgomp1"):
        onednn.Library(str(bogus))


def test_the_environment_variable_chooses_it(monkeypatch):
    monkeypatch.setenv(conv_backend.ENV_VAR, "onednn")
    conv_backend._from_environment()
    assert cr.get_conv_backend() == "onednn"
    monkeypatch.setenv(conv_backend.ENV_VAR, "numpy")
    conv_backend._from_environment()
    assert cr.get_conv_backend() == "numpy"


def test_a_bad_environment_value_fails_at_import_in_one_line():
    run = subprocess.run(
        [sys.executable, "-c", "import chainrule.conv_backend"],
        env={"CHAINRULE_CONV": "fast", "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "CHAINRULE_CONV='fast': must be one of numpy, onednn" in run.stderr


# ----------------------------------------------------------------- values
@settings(max_examples=60, deadline=None)
@given(geo=geometry)
def test_onednn_computes_the_three_convolutions_as_numpy_does(geo):
    case = _case(geo, np.float32)
    if case is None:
        return
    x, w, b, g, _, p = case
    cr.set_conv_backend("numpy")
    want = _three(x, w, b, g, p)
    cr.set_conv_backend("onednn")
    got = _three(x, w, b, g, p)
    for a, e in zip(got, want):
        assert a.dtype == np.float32 and a.shape == e.shape
        np.testing.assert_allclose(a, e, **FLOAT32)
    # without a bias too (its own oneDNN plan)
    np.testing.assert_allclose(
        conv._conv2d_forward(x, w, None, **p), want[0] - b.reshape(-1, 1, 1), **FLOAT32
    )


def test_non_contiguous_operands_are_read_as_their_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 9, 8)).astype(np.float32).transpose(0, 1, 3, 2)[:, ::2]
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)[:, :, ::-1]
    g = rng.normal(size=(3, 4, 8, 9)).astype(np.float32)[..., ::-1]
    p = conv._params((1, 1), (1, 1), (1, 1), 1)
    cr.set_conv_backend("numpy")
    want = _three(x, w, None, g, p)
    cr.set_conv_backend("onednn")
    for a, e in zip(_three(x, w, None, g, p), want):
        np.testing.assert_allclose(a, e, **FLOAT32)


def test_float64_and_empty_batches_stay_on_numpy_bit_for_bit():
    rng = np.random.default_rng(1)
    p = conv._params((1, 1), (1, 1), (1, 1), 1)
    for n, dtype in ((2, np.float64), (0, np.float32)):
        x = rng.normal(size=(n, 3, 6, 6)).astype(dtype)
        w, b = rng.normal(size=(4, 3, 3, 3)).astype(dtype), rng.normal(size=4).astype(dtype)
        g = rng.normal(size=(n, 4, 6, 6)).astype(dtype)
        cr.set_conv_backend("numpy")
        want = _three(x, w, b, g, p)
        cr.set_conv_backend("onednn")
        for a, e in zip(_three(x, w, b, g, p), want):
            assert a.dtype == e.dtype and np.array_equal(a, e)


def test_a_layer_trains_alike_on_both_backends():
    """Two SGD steps of a small CNN, float32: losses and weights agree."""

    def run(backend):
        cr.set_conv_backend(backend)
        cr.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 4, 3, stride=2, groups=2), nn.Flatten(), nn.Linear(4, 3),
        )  # fmt: skip
        opt = cr.optim.SGD(model.parameters(), lr=0.1)
        rng = np.random.default_rng(2)
        x = cr.tensor(rng.normal(size=(5, 2, 8, 8)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, size=5))
        losses = []
        for _ in range(2):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, [q.data.copy() for q in model.parameters()]

    (l0, p0), (l1, p1) = run("numpy"), run("onednn")
    np.testing.assert_allclose(l1, l0, rtol=1e-5)
    for a, e in zip(p1, p0):
        np.testing.assert_allclose(a, e, **FLOAT32)


def test_jit_and_second_derivatives_go_through_the_same_primitives():
    rng = np.random.default_rng(3)
    x = cr.tensor(rng.normal(size=(2, 3, 7, 7)).astype(np.float32))
    w = cr.tensor(rng.normal(size=(4, 3, 3, 3)).astype(np.float32))

    def f(x, w):
        return (nn.functional.conv2d(x, w, padding=1) ** 2).sum()

    def grads(backend):
        cr.set_conv_backend(backend)
        gx = cr.grad(f)(x, w)
        jx = cr.jit(cr.grad(f))(x, w)
        hvp = cr.grad(lambda x: (cr.grad(f)(x, w) * x).sum())(x)  # a second derivative
        return gx.data, jx.data, hvp.data

    want, got = grads("numpy"), grads("onednn")
    np.testing.assert_allclose(got[1], got[0], **FLOAT32)  # jit = eager on oneDNN
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4)


def test_plans_are_kept_per_geometry_and_bounded(monkeypatch):
    cr.set_conv_backend("onednn")
    monkeypatch.setattr(onednn, "MAX_PLANS", 3)
    planner = conv_backend._planner
    planner.plans.clear()
    rng = np.random.default_rng(4)
    w = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    p = conv._params((1, 1), (0, 0), (1, 1), 1)
    for n in (1, 2, 3, 4, 1):
        x = rng.normal(size=(n, 1, 5, 5)).astype(np.float32)
        cr.set_conv_backend("numpy")
        want = conv._conv2d_forward(x, w, None, **p)
        cr.set_conv_backend("onednn")
        np.testing.assert_allclose(conv._conv2d_forward(x, w, None, **p), want, **FLOAT32)
    assert [key[0][0] for key in planner.plans] == [3, 4, 1]
    names = conv_backend.kernel_names()
    assert set(names) == set(planner.plans)
    assert all(set(k) == {"forward"} and all(k.values()) for k in names.values())


def test_threads_may_convolve_at_once():
    cr.set_conv_backend("onednn")
    rng = np.random.default_rng(5)
    p = conv._params((1, 1), (1, 1), (1, 1), 1)
    cases = [
        (rng.normal(size=(4, 3, 10, 10)).astype(np.float32),
         rng.normal(size=(6, 3, 3, 3)).astype(np.float32))
        for _ in range(4)
    ]  # fmt: skip
    cr.set_conv_backend("numpy")
    want = [conv._conv2d_forward(x, w, None, **p) for x, w in cases]
    cr.set_conv_backend("onednn")
    got: dict[int, list] = {}

    def work(i):
        got[i] = [conv._conv2d_forward(*cases[i % 4], None, **p) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        for y in got[i]:
            np.testing.assert_allclose(y, want[i % 4], **FLOAT32)


def test_numpy_blas_is_held_to_one_thread_while_onednn_convolves():
    from chainrule import gemm_backend

    cr.set_conv_backend("numpy")
    before = gemm_backend.numpy_blas_threads()
    assert before is not None  # NumPy's wheels bring OpenBLAS
    try:
        gemm_backend.numpy_blas_threads(2)
        cr.set_conv_backend("onednn")
        assert gemm_backend.numpy_blas_threads() == 1
        cr.set_conv_backend("onednn")  # again: still held, the count to restore kept
        cr.set_conv_backend("numpy")
        assert gemm_backend.numpy_blas_threads() == 2
    finally:
        gemm_backend.numpy_blas_threads(before)


# ----------------------------------------------------------------- max pooling
def _pool(x, g, geo):
    """The max pool and its gradient (through the primitives' own forwards)."""
    from chainrule.ops import nn_ops

    k, s, p, d = geo
    m = nn_ops._max_pool_forward(x, k, s, p, d)
    params = dict(kernel_size=k, stride=s, padding=p, dilation=d)
    return m, nn_ops._max_pool_scatter_forward(g(m.shape), x, m, **params)


pool_geometry = st.tuples(
    st.tuples(st.integers(1, 3), st.integers(1, 3)),  # kernel
    st.tuples(st.integers(1, 3), st.integers(1, 3)),  # stride
    st.tuples(st.integers(0, 1), st.integers(0, 1)),  # padding (at most half the kernel)
    st.tuples(st.integers(1, 2), st.integers(1, 2)),  # dilation
    st.integers(0, 2**31 - 1),
)


@settings(max_examples=60, deadline=None)
@given(geo=pool_geometry)
def test_onednn_max_pools_as_numpy_does_ties_included(geo):
    k, s, p, d, seed = geo
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        return  # PyTorch's rule: padding at most half the kernel
    rng = np.random.default_rng(seed)
    # Small integers: many windows hold their maximum twice or more, where the
    # gradient must go to the first in row-major order only.
    x = rng.integers(-2, 3, size=(2, 3, 7, 6)).astype(np.float32)
    if any(xi + 2 * pi < di * (ki - 1) + 1 for xi, pi, di, ki in zip((7, 6), p, d, k)):
        return
    grads = {}

    def g(shape):
        return grads.setdefault(shape, rng.normal(size=shape).astype(np.float32))

    cr.set_conv_backend("numpy")
    want = _pool(x, g, (k, s, p, d))
    cr.set_conv_backend("onednn")
    got = _pool(x, g, (k, s, p, d))
    assert np.array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)  # overlaps add
    if d == (1, 1):  # undilated: one of oneDNN's JIT kernels, on a channel-blocked layout
        key = ("max_pool", x.shape, k, s, p, d)
        assert conv_backend.kernel_names()[key]["max_pool"].startswith("jit")


def test_a_pool_without_a_jit_kernel_goes_to_numpy(monkeypatch):
    """Dilated windows: oneDNN has only its reference loop (100x NumPy's time), so
    the pool and its gradient run on NumPy's path, with NumPy's numbers."""
    from chainrule import onednn as dnn

    calls = []
    original = dnn.MaxPoolPlan.forward
    monkeypatch.setattr(
        dnn.MaxPoolPlan, "forward", lambda self, *a: calls.append(1) or original(self, *a)
    )
    x = np.random.default_rng(3).normal(size=(2, 3, 9, 9)).astype(np.float32)
    geo = ((3, 3), (1, 1), (1, 1), (2, 2))

    def g(shape):
        return np.ones(shape, dtype=np.float32)

    cr.set_conv_backend("numpy")
    want = _pool(x, g, geo)
    cr.set_conv_backend("onednn")
    got = _pool(x, g, geo)
    assert calls == []
    key = ("max_pool", x.shape, *geo)
    assert not conv_backend.kernel_names()[key]["max_pool"].startswith("jit")
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_nan_keeps_max_pooling_on_numpy_where_the_maximum_is_nan():
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 3, 3] = 5

    def g(shape):
        return np.ones(shape, dtype=np.float32)

    geo = ((2, 2), (2, 2), (0, 0), (1, 1))
    cr.set_conv_backend("numpy")
    want = _pool(x, g, geo)
    cr.set_conv_backend("onednn")
    got = _pool(x, g, geo)
    assert np.isnan(got[0][0, 0, 0, 0]) and got[0][0, 0, 1, 1] == 5
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_a_window_of_minus_infinity_pools_to_minus_infinity():
    """oneDNN gives a window holding only -inf the lowest finite float32 (-3.4e38);
    PyTorch and NumPy's path give -inf. An image that is not all finite is pooled on
    NumPy's path, infinities of either sign, padding included."""
    rng = np.random.default_rng(8)
    geos = (((2, 2), (2, 2), (0, 0), (1, 1)), ((3, 3), (2, 2), (1, 1), (1, 1)))
    for geo, plus_inf in ((geos[0], False), (geos[1], False), (geos[0], True)):
        x = rng.integers(-2, 3, size=(2, 9, 8, 8)).astype(np.float32)
        x[x == -2] = -np.inf
        x[0, 0, :4, :4] = -np.inf  # a whole window or more of -inf
        if plus_inf:  # (with both signs the sum is NaN)
            x[1, 1, 0, 0] = np.inf

        def g(shape):
            return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)

        cr.set_conv_backend("numpy")
        want = _pool(x, g, geo)
        cr.set_conv_backend("onednn")
        got = _pool(x, g, geo)
        assert np.isneginf(got[0][0, 0, 0, 0])
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_the_pool_gradient_reads_the_forwards_workspace_or_finds_the_maxima_again(monkeypatch):
    from chainrule import onednn as dnn
    from chainrule.ops import nn_ops

    cr.set_conv_backend("onednn")
    calls = []
    original = dnn.MaxPoolPlan.backward
    monkeypatch.setattr(
        dnn.MaxPoolPlan, "backward", lambda self, *a: calls.append(1) or original(self, *a)
    )
    rng = np.random.default_rng(6)
    x = cr.tensor(rng.normal(size=(2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    y = nn.functional.max_pool2d(x, 2)
    (y * y).sum().backward()  # the layer's backward pass finds the forward's workspace
    assert calls == [1]
    m = y.data
    assert id(m) in conv_backend._workspaces
    params = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    g = np.ones(m.shape, dtype=np.float32)
    # Another array with the same values: not the forward's output, so NumPy's path.
    again = nn_ops._max_pool_scatter_forward(g, x.data, m.copy(), **params)
    assert calls == [1]
    np.testing.assert_array_equal(again, nn_ops._max_pool_scatter_forward(g, x.data, m, **params))
    del y, m
    import gc

    gc.collect()
    assert not conv_backend._workspaces  # dropped with the pool's output


FORKED_CHILD = """
import os, warnings
import numpy as np
import chainrule as cr
from chainrule.ops import conv
cr.set_conv_backend("onednn")
rng = np.random.default_rng(0)
x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
p = conv._params((1, 1), (1, 1), (1, 1), 1)
parent = conv._conv2d_forward(x, w, None, **p)  # oneDNN's threads now exist
pid = os.fork()
if pid == 0:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        child = conv._conv2d_forward(x, w, None, **p)
    ok = np.allclose(child, parent, rtol=2e-5, atol=2e-5)
    said = any("forked after oneDNN was loaded" in str(c.message) for c in caught)
    os._exit(0 if ok and said else 3)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_convolves_on_numpy_and_says_so():
    # GNU OpenMP's threads do not survive a fork: a child that ran oneDNN would hang.
    run = subprocess.run(
        [sys.executable, "-c", FORKED_CHILD],
        env={**os.environ, "OMP_NUM_THREADS": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "child exit 0" in run.stdout
