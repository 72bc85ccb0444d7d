"""The GEMM backend: choosing it (name, environment variable, clear errors), its
direct cblas calls against np.matmul over random shapes, dtypes and transposed
views, the layouts it hands back to NumPy, and the LSTM and convolution primitives
under it (values, finite differences).

The cblas path runs on every machine through the ``openblas`` backend (NumPy's own
OpenBLAS); the ``mkl`` backend is tested as well where the ``mkl`` package is
installed (it is 1 GB, not a test dependency), by the same tests."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv_primitive import _case, _loops_input_grad, _loops_weight_grad, geometry

import chainrule as cr
from chainrule import gemm_backend
from chainrule.ops import conv
from chainrule.ops.recurrent import lstm_layer


def _installed(name: str) -> bool:
    try:
        gemm_backend.set_gemm_backend(name)
    except ImportError:
        return False
    finally:
        gemm_backend.set_gemm_backend("numpy")
    return True


CBLAS = ["openblas"] + (["mkl"] if _installed("mkl") else [])


@pytest.fixture(autouse=True)
def _restore_backend():
    before = cr.get_gemm_backend()
    yield
    cr.set_gemm_backend(before)


def _tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


# ----------------------------------------------------------------- choosing
def test_the_default_is_numpy_matmul_itself():
    cr.set_gemm_backend("numpy")
    assert cr.get_gemm_backend() == "numpy"
    assert gemm_backend.matmul is np.matmul


@pytest.mark.parametrize("bad", ["blas", "", "mkl2", None, 3])
def test_a_bad_name_raises_one_line_and_keeps_the_backend(bad):
    cr.set_gemm_backend("openblas")
    with pytest.raises(ValueError, match="must be one of numpy, mkl, openblas") as info:
        cr.set_gemm_backend(bad)
    assert "\n" not in str(info.value)
    assert cr.get_gemm_backend() == "openblas"


def test_names_are_read_without_case_or_spaces():
    cr.set_gemm_backend(" OpenBLAS ")
    assert cr.get_gemm_backend() == "openblas"


def test_openblas_is_held_to_one_thread_while_any_backend_with_threads_holds_it():
    """MKL's and oneDNN's OpenMP pools and OpenBLAS's threads would take turns on the
    same cores: while either holds it, NumPy's OpenBLAS runs on one thread, and its
    count comes back only when neither does."""
    before = gemm_backend.numpy_blas_threads()
    assert before is not None  # NumPy's wheels bring OpenBLAS
    try:
        gemm_backend.numpy_blas_threads(2)
        gemm_backend.hold_numpy_blas("mkl", True)
        assert gemm_backend.numpy_blas_threads() == 1
        gemm_backend.hold_numpy_blas("onednn", True)
        gemm_backend.hold_numpy_blas("mkl", True)  # again: nothing changes
        gemm_backend.hold_numpy_blas("mkl", False)
        assert gemm_backend.numpy_blas_threads() == 1  # oneDNN still holds it
        gemm_backend.hold_numpy_blas("onednn", False)
        assert gemm_backend.numpy_blas_threads() == 2
        gemm_backend.hold_numpy_blas("onednn", False)  # a release without a hold
        assert gemm_backend.numpy_blas_threads() == 2
        if "mkl" in CBLAS:
            cr.set_gemm_backend("mkl")
            assert gemm_backend.numpy_blas_threads() == 1
            cr.set_gemm_backend("openblas")
            assert gemm_backend.numpy_blas_threads() == 2
    finally:
        for holder in ("mkl", "onednn"):
            gemm_backend.hold_numpy_blas(holder, False)
        gemm_backend.numpy_blas_threads(before)


def test_missing_mkl_says_what_to_install(monkeypatch, tmp_path):
    from importlib import metadata

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "files", not_installed)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # no libmkl_rt there either
    monkeypatch.setattr(gemm_backend, "_loaded", {})
    with pytest.raises(ImportError, match="needs Intel MKL.*pip install mkl") as info:
        cr.set_gemm_backend("mkl")
    assert "\n" not in str(info.value)
    assert cr.get_gemm_backend() == "numpy"


def test_the_environment_variable_sets_the_backend(monkeypatch):
    monkeypatch.setenv(gemm_backend.ENV_VAR, "openblas")
    gemm_backend._from_environment()
    assert cr.get_gemm_backend() == "openblas"
    monkeypatch.setenv(gemm_backend.ENV_VAR, "numpy")
    gemm_backend._from_environment()
    assert cr.get_gemm_backend() == "numpy"


def test_a_bad_environment_value_stops_the_first_use_with_one_line():
    # The variable is read when chainrule first needs a GEMM backend (its module
    # loads on first use, so that `import chainrule` stays quick): an LSTM here.
    program = (
        "import chainrule as cr\n"
        "print('imported', flush=True)\n"
        "cr.nn.LSTM(2, 3)(cr.ones(4, 1, 2))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program],
        env={"CHAINRULE_GEMM": "fast", "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and run.stdout == "imported\n"
    last = run.stderr.strip().splitlines()[-1]
    assert last == "ValueError: CHAINRULE_GEMM='fast': must be one of numpy, mkl, openblas"


# ----------------------------------------------------------------- values
def _operand(rng, rows, cols, dtype, transposed, pad):
    """A (rows, cols) matrix: a transposed view of a (cols, rows) array or a plain
    one, with ``pad`` unused columns in its storage (a leading dimension > width)."""
    if transposed:
        return rng.standard_normal((cols, rows + pad)).astype(dtype)[:, :rows].T
    return rng.standard_normal((rows, cols + pad)).astype(dtype)[:, :cols]


@pytest.mark.parametrize("backend", CBLAS)
@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 20),
    n=st.integers(1, 20),
    k=st.integers(1, 20),
    dtype=st.sampled_from([np.float32, np.float64]),
    ta=st.booleans(),
    tb=st.booleans(),
    pad=st.integers(0, 2),
    with_out=st.booleans(),
    stack=st.sampled_from([(), (1,), (3,)]),
    stacked=st.sampled_from([(True, True), (True, False), (False, True)]),
    seed=st.integers(0, 2**16),
)
def test_matmul_is_np_matmul(backend, m, n, k, dtype, ta, tb, pad, with_out, stack, stacked, seed):
    rng = np.random.default_rng(seed)

    def operand(rows, cols, transposed, is_stacked):
        if not (stack and is_stacked):
            return _operand(rng, rows, cols, dtype, transposed, pad)
        if transposed:  # a stack of transposed views, with padded storage
            full = rng.standard_normal((*stack, cols, rows + pad)).astype(dtype)
            return full[..., :rows].swapaxes(1, 2)
        return rng.standard_normal((*stack, rows, cols + pad)).astype(dtype)[..., :cols]

    a, b = operand(m, k, ta, stacked[0]), operand(k, n, tb, stacked[1])
    shape = (*stack, m, n)
    cr.set_gemm_backend(backend)
    impl = gemm_backend._loaded[backend]
    out = np.full((*stack, m, n + pad), np.nan, dtype)[..., :n] if with_out else None
    assert impl.steps(a, b, out if with_out else np.empty(shape, dtype), False) is not None
    got = gemm_backend.matmul(a, b, out=out)
    if with_out:
        assert got is out
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_allclose(got, np.matmul(a, b), **_tol(dtype))


@pytest.mark.parametrize("backend", CBLAS)
@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 4),
    m=st.integers(1, 9),
    n=st.integers(1, 9),
    k=st.integers(1, 9),
    dtype=st.sampled_from([np.float32, np.float64]),
    per_step=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    tb=st.booleans(),
    accumulate=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_products_per_step_are_np_matmul_per_step(
    backend, steps, m, n, k, dtype, per_step, tb, accumulate, seed
):
    rng = np.random.default_rng(seed)

    def stack(rows, cols, many, transposed=False):
        if not many:
            return _operand(rng, rows, cols, dtype, transposed, 0)
        if transposed:
            return rng.standard_normal((steps, cols, rows)).astype(dtype).swapaxes(1, 2)
        return rng.standard_normal((steps, rows, cols)).astype(dtype)

    a, b = stack(m, k, per_step[0]), stack(k, n, per_step[1], tb)
    out = stack(m, n, per_step[2])
    want = out.copy()
    for t in range(steps):
        pick = lambda x, t=t: x[t] if x.ndim == 3 else x  # noqa: E731
        if accumulate:
            pick(want)[...] += pick(a) @ pick(b)
        else:
            pick(want)[...] = pick(a) @ pick(b)
    cr.set_gemm_backend(backend)
    product = gemm_backend._loaded[backend].steps(a, b, out, accumulate)
    assert product is not None
    for t in range(steps):
        product(t)
    np.testing.assert_allclose(out, want, **_tol(dtype))
    if 3 in (a.ndim, b.ndim, out.ndim):  # past the last step: an error, not a stray write
        for t in (steps, -1):
            with pytest.raises(IndexError, match=f"step {t} of a product over {steps} steps"):
                product(t)


def _fallbacks(rng):
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    sq = f32(4, 4)
    return {
        "stacks to broadcast": (f32(1, 3, 4), f32(2, 4, 5), None),
        "a stack of stacks": (f32(2, 2, 3, 4), f32(2, 2, 4, 5), None),
        "mixed dtypes": (f32(3, 4), f32(4, 5).astype(np.float64), None),
        "complex": (f32(3, 4) + 1j, f32(4, 5).astype(np.complex64), None),
        "integers": (np.ones((3, 4), np.int64), np.ones((4, 5), np.int64), None),
        "strided rows and columns": (f32(6, 8)[::2, ::2], f32(4, 5), None),
        "a vector": (f32(3, 4), f32(4), None),
        "byte-swapped": (f32(3, 4).astype(">f4"), f32(4, 5).astype(">f4"), None),
        "an empty product": (f32(3, 0), f32(0, 5), None),
        "out is an operand": (sq, f32(4, 4), sq),
        "out with strided columns": (f32(3, 4), f32(4, 5), np.empty((3, 10), np.float32)[:, ::2]),
        "a list": ([[1.0, 2.0]], f32(2, 2), None),
    }


@pytest.mark.parametrize("backend", CBLAS)
@pytest.mark.parametrize("case", list(_fallbacks(np.random.default_rng(0))))
def test_other_layouts_go_to_numpy_with_numpys_result(backend, case):
    a, b, out = _fallbacks(np.random.default_rng(0))[case]
    want = np.matmul(np.array(a), np.array(b))
    cr.set_gemm_backend(backend)
    got = gemm_backend.matmul(a, b, out=out)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    if out is not None:
        assert got is out
    if isinstance(a, np.ndarray) and a.ndim == b.ndim == want.ndim == 2:  # cblas declined
        dest = out if out is not None else np.empty(want.shape, want.dtype)
        assert gemm_backend._loaded[backend].steps(a, b, dest, False) is None


@pytest.mark.parametrize("backend", CBLAS)
def test_a_mismatch_raises_numpys_error(backend):
    cr.set_gemm_backend(backend)
    with pytest.raises(ValueError, match="mismatch"):
        gemm_backend.matmul(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))


# ----------------------------------------------------------------- the LSTM under it
def _lstm_run(dtype, seed, steps=5, batch=4, hidden=3):
    """lstm_layer's output and its four gradients, nn.LSTM's layout (xproj a view
    of a feature-major array)."""
    rng = np.random.default_rng(seed)
    xproj = rng.normal(size=(steps, 4 * hidden, batch)).astype(dtype).swapaxes(1, 2)
    args = [
        cr.tensor(a, requires_grad=True)
        for a in (
            xproj,
            rng.normal(size=(batch, hidden)).astype(dtype),
            rng.normal(size=(batch, hidden)).astype(dtype),
            (rng.normal(size=(4 * hidden, hidden)) * 0.7).astype(dtype),
        )
    ]
    out = lstm_layer(*args)
    out.backward(rng.normal(size=out.shape).astype(dtype))
    return [out.data] + [a.grad.data for a in args]


@pytest.mark.parametrize("backend", CBLAS)
@settings(max_examples=10, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    steps=st.integers(1, 6),
    batch=st.integers(1, 5),
    hidden=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_lstm_layer_under_the_backend_is_lstm_layer_under_numpy(
    backend, dtype, steps, batch, hidden, seed
):
    cr.set_gemm_backend("numpy")
    want = _lstm_run(dtype, seed, steps, batch, hidden)
    cr.set_gemm_backend(backend)
    got = _lstm_run(dtype, seed, steps, batch, hidden)
    for g, w in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w, **_tol(dtype))


def _count_plans(monkeypatch, record):
    """Records (first operand's shape, whether cblas took it) of every plan of
    products per step that a cblas backend is asked for."""
    steps = gemm_backend._Cblas.steps

    def counted(self, a, b, out, accumulate):
        product = steps(self, a, b, out, accumulate)
        record.append((a.shape, product is not None))
        return product

    monkeypatch.setattr(gemm_backend._Cblas, "steps", counted)


@pytest.mark.parametrize("backend", CBLAS)
def test_lstm_layer_passes_gradcheck_under_the_backend(backend, monkeypatch):
    rng = np.random.default_rng(3)
    args = [
        rng.normal(size=(4, 12, 3)).swapaxes(1, 2),  # nn.LSTM's feature-major layout
        rng.normal(size=(3, 3)),
        rng.normal(size=(3, 3)),
        rng.normal(size=(12, 3)) * 0.7,
    ]
    cr.set_gemm_backend(backend)
    plans = []
    _count_plans(monkeypatch, plans)
    tensors = [cr.tensor(a, requires_grad=True) for a in args]
    assert cr.gradcheck(lambda *a: lstm_layer(*a), tensors)
    assert plans and all(taken for _, taken in plans)  # the products went to cblas


def test_lstm_products_are_planned_once_per_pass_not_per_step(monkeypatch):
    cr.set_gemm_backend("openblas")
    plans = []
    _count_plans(monkeypatch, plans)
    _lstm_run(np.float32, 0, steps=7, hidden=3)
    # forward: W_hh h; backward: W_hh^T da and da h^T (da for all 7 steps)
    assert plans == [((12, 3), True), ((3, 12), True), ((7, 12, 4), True)]


def test_the_numpy_backend_adds_products_into_their_result_by_openblas(monkeypatch):
    # np.matmul cannot add into out; under "numpy" an accumulating product per step
    # (the LSTM's weight gradient) goes to NumPy's own OpenBLAS with beta = 1, and
    # gives np.matmul's sums; without that library, the temporary-and-add way.
    cr.set_gemm_backend("numpy")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 12, 5)).astype(np.float32)
    b = rng.normal(size=(6, 5, 4)).astype(np.float32)
    want = np.einsum("tik,tkj->ij", a.astype(np.float64), b.astype(np.float64))
    for library in ("found", "missing"):
        if library == "missing":
            monkeypatch.setitem(gemm_backend._loaded, "openblas", None)
        out = np.zeros((12, 4), np.float32)
        product = gemm_backend.matmul_steps(a, b, out, accumulate=True)
        assert (getattr(product, "keep", None) is not None) == (library == "found")
        for t in range(6):
            product(t)
        np.testing.assert_allclose(out, want, **_tol(np.float32))
    plain = gemm_backend.matmul_steps(a, b, np.zeros((6, 12, 4), np.float32))
    assert getattr(plain, "keep", None) is None  # a plain product stays np.matmul


def test_nn_lstm_trains_the_same_under_the_backend():
    def losses(backend):
        cr.set_gemm_backend(backend)
        cr.nn.manual_seed(0)
        lstm, head = cr.nn.LSTM(6, 8), cr.nn.Linear(8, 3)
        params = list(lstm.parameters()) + list(head.parameters())
        opt = cr.optim.SGD(params, lr=0.1)
        rng = np.random.default_rng(0)
        x = cr.tensor(rng.normal(size=(5, 4, 6)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, 4))
        out = []
        for _ in range(3):
            opt.zero_grad()
            loss = cr.nn.functional.cross_entropy(head(lstm(x)[0][-1]), y)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    want = losses("numpy")
    for backend in CBLAS:
        np.testing.assert_allclose(losses(backend), want, rtol=1e-5)


# ----------------------------------------------------------------- the convolution under it
@pytest.mark.parametrize("backend", CBLAS)
@settings(max_examples=20, deadline=None, database=None)
@given(
    geo=geometry,
    dtype=st.sampled_from([np.float32, np.float64]),
    chunk_images=st.sampled_from([1, 2, 100]),
)
def test_the_convolution_under_the_backend_is_its_definition(backend, geo, dtype, chunk_images):
    case = _case(geo, dtype)
    if case is None:
        return
    x, w, b, g, y, params = case
    s, p, d, groups = (params[k] for k in ("stride", "padding", "dilation", "groups"))
    # a chunk of 1, 2 or all images: the last chunk's columns are then a strided view
    per_image = x.shape[1] * w.shape[2] * w.shape[3] * y.shape[2] * (y.shape[3] + 2 * p[1] + 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv, "CHUNK_BYTES", chunk_images * per_image * x.itemsize)
        plans = []
        _count_plans(mp, plans)
        cr.set_gemm_backend(backend)
        out = conv._conv2d_forward(x, w, b, **params)
        gx = conv._input_grad_forward(g, w, shape=x.shape, **params)
        gw = conv._weight_grad_forward(g, x, shape=w.shape, **params)
    assert plans and all(taken for _, taken in plans)  # every GEMM went to cblas
    assert out.dtype == gx.dtype == gw.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-11
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    np.testing.assert_allclose(out, y, atol=tol, rtol=tol)
    ref_x = _loops_input_grad(g64, w64, x.shape, s, p, d, groups)
    ref_w = _loops_weight_grad(g64, x64, w.shape, s, p, d, groups)
    np.testing.assert_allclose(gx, ref_x, atol=tol * 10, rtol=tol)
    np.testing.assert_allclose(gw, ref_w, atol=tol * 10, rtol=tol)


@pytest.mark.parametrize("backend", CBLAS)
def test_conv2d_passes_gradcheck_under_the_backend(backend):
    rng = np.random.default_rng(5)
    params = {"stride": (1, 2), "padding": (1, 0), "dilation": (1, 1), "groups": 2}
    x, w, b = rng.normal(size=(2, 4, 5, 6)), rng.normal(size=(4, 2, 3, 2)), rng.normal(size=4)
    cr.set_gemm_backend(backend)
    args = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert cr.gradcheck(lambda a, ww, bb: conv.conv2d(a, ww, bb, **params), args)
    assert cr.gradgradcheck(lambda a, ww: (conv.conv2d(a, ww, None, **params) ** 2).sum(), args[:2])


@pytest.mark.parametrize("backend", CBLAS)
def test_a_read_only_result_is_refused_as_numpy_refuses_it(backend):
    cr.set_gemm_backend(backend)
    out = np.zeros((3, 5), np.float32)
    out.flags.writeable = False
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="read-only"):
        gemm_backend.matmul(a, b, out=out)
    assert not out.any()


@pytest.mark.parametrize("backend", CBLAS)
def test_a_stack_of_results_that_overlap_goes_to_numpy(backend):
    from numpy.lib.stride_tricks import as_strided

    cr.set_gemm_backend(backend)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 2, 4)).astype(np.float32), np.ones((4, 2), np.float32)
    base = np.zeros(8, np.float32)
    impl = gemm_backend._loaded[backend]
    for steps in (4, 0):  # one item apart, or the same matrix three times
        out = as_strided(base, shape=(3, 2, 2), strides=(steps, 8, 4))
        assert out.flags.writeable
        assert impl.steps(a, b, out, False) is None
    fine = as_strided(base, shape=(2, 2, 2), strides=(16, 8, 4))  # apart: taken
    assert impl.steps(a[:2], b, fine, False) is not None


@pytest.mark.parametrize("backend", CBLAS)
def test_a_stack_of_results_interleaved_row_by_row_is_taken(backend):
    # The LSTM loop's gate gradients: step t's result is column t of a (M, T, N)
    # array, its rows T * N apart; the steps' rows interleave without overlapping.
    cr.set_gemm_backend(backend)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4, 5)).astype(np.float32), rng.standard_normal((5, 2))
    b = b.astype(np.float32)
    base = np.zeros((4, 3, 2), np.float32)
    impl = gemm_backend._loaded[backend]
    product = impl.steps(a, b, base.swapaxes(0, 1), False)
    assert product is not None
    for t in range(3):
        product(t)
    np.testing.assert_allclose(base.swapaxes(0, 1), a @ b, rtol=1e-6, atol=1e-6)
    # rows one step too close together: the last step's row would run into the next
    from numpy.lib.stride_tricks import as_strided

    tight = as_strided(np.zeros(32, np.float32), shape=(3, 4, 2), strides=(8, 20, 4))
    assert impl.steps(a, b, tight, False) is None
