"""cr.jit: compiled functions give eager chainrule's results, and refuse what they cannot record."""

import linecache
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
import chainrule.numpy as cnp


def _leaves(obj):
    if isinstance(obj, tuple | list):
        return [x for o in obj for x in _leaves(o)]
    if isinstance(obj, dict):
        return [x for k in obj for x in _leaves(obj[k])]
    return [obj]


def _close(a, b, rtol=1e-12):
    la, lb = _leaves(a), _leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        assert type(x) is type(y)
        if isinstance(x, cr.Tensor):
            assert not x.requires_grad
            x, y = x.data, y.data
        if isinstance(x, np.ndarray):
            assert x.shape == y.shape and x.dtype == y.dtype
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-300)
        else:
            assert x == y


def check(fn, calls, rtol=1e-12):
    """Every call of jit(fn) agrees with fn; the third distinct call runs compiled code."""
    jitted = cr.jit(fn)
    for args in calls:
        _close(jitted(*args), fn(*args), rtol)
    assert jitted.traces == min(len(calls), 2)
    return jitted


def _rng(seed=0):
    return np.random.default_rng(seed)


def sigmoid(z):
    return 1 / (1 + cr.exp(-z))


def chain(z):
    for _ in range(20):
        z = sigmoid(z)
    return z


# ------------------------------------------------------------------ agreement
def test_scalar_chain_value_and_grad():
    calls = [(np.float64(v),) for v in (0.3, -0.7, 1.5, 2.0)]
    check(cr.value_and_grad(chain), calls)


def test_python_float_inputs_are_constants_of_the_compiled_code():
    # A Python number is static: each value is a signature of its own.
    jitted = cr.jit(cr.grad(sigmoid))
    for v in (0.5, 0.5, 0.5, 1.5):
        assert jitted(v).item() == cr.grad(sigmoid)(v).item()
    assert jitted.traces == 4  # no array input: nothing to verify with, never compiled


def test_small_ops_program_forward_and_backward():
    c = _rng(1).normal(size=64)

    def f(x):
        for _ in range(5):
            x = -cr.exp(cr.tanh((x + c) * 0.9))
        return x.sum()

    calls = [(_rng(s).normal(size=64),) for s in range(4)]
    check(cr.value_and_grad(f), calls)


def test_broadcasting_in_the_backward_pass_is_summed_back():
    def f(a, b, c):
        return (cr.tanh(a * b + c) ** 2).mean()

    calls = [
        (_rng(s).normal(size=(3, 1, 4)), _rng(s + 9).normal(size=(5, 1)), np.float64(s))
        for s in range(3)
    ]
    check(cr.grad(f, argnums=(0, 1, 2)), calls)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_loss_and_gradients_with_cross_entropy(dtype):
    rng = _rng(2)
    params = [
        rng.normal(size=(12, 8)).astype(dtype),
        np.zeros(8, dtype),
        rng.normal(size=(8, 5)).astype(dtype),
        np.zeros(5, dtype),
    ]

    def loss(w1, b1, w2, b2, x, y):
        return F.cross_entropy(cr.relu(x @ w1 + b1) @ w2 + b2, y)

    calls = [
        (*params, _rng(s).normal(size=(6, 12)).astype(dtype), _rng(s).integers(0, 5, 6))
        for s in range(3)
    ]
    jitted = check(cr.value_and_grad(loss, argnums=(0, 1, 2, 3)), calls, rtol=1e-5)
    value, grads = jitted(*calls[0])
    assert value.dtype == dtype and all(g.dtype == dtype for g in grads)


def test_cross_entropy_with_weights_ignore_index_and_smoothing():
    weight = _rng(3).uniform(0.5, 2.0, 6)

    def loss(logits, y):
        return F.cross_entropy(logits, y, weight=weight, ignore_index=2, label_smoothing=0.1)

    calls = [(_rng(s).normal(size=(7, 6)), _rng(s).integers(0, 6, 7)) for s in range(4)]
    check(cr.value_and_grad(loss), calls)


def test_nll_loss_of_log_softmax():
    def loss(logits, y):
        return F.nll_loss(cr.log_softmax(logits, axis=1), y)

    calls = [(_rng(s).normal(size=(5, 4)), _rng(s).integers(0, 4, 5)) for s in range(3)]
    check(cr.value_and_grad(loss), calls)


def test_hessian_jacobian_and_second_derivatives():
    def rosenbrock(x):
        return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()

    calls = [(_rng(s).uniform(-1, 1, 5),) for s in range(3)]
    check(cr.hessian(rosenbrock), calls)
    check(cr.jacobian(lambda x: cr.tanh(x) * x[::-1]), calls)
    check(cr.jacfwd(lambda x: cr.sin(x) * 2), calls)
    check(cr.grad(cr.grad(lambda x: cr.sin(x) * cr.exp(x))), [(np.float64(v),) for v in (1, 2, 3)])


def test_vjp_inside_jit():
    def f(x, ct):
        out, pull = cr.vjp(lambda a: cr.tanh(a) @ a.T, x)
        return out, pull(ct)

    calls = [(_rng(s).normal(size=(3, 2)), _rng(s + 5).normal(size=(3, 3))) for s in range(3)]
    check(f, calls)


def test_reductions_indexing_and_shapes():
    def f(x):
        y = x.reshape(4, 3).T[1:, ::2]
        return (y.max(axis=0) + x.sum(axis=1, keepdims=True).squeeze() * cr.mean(y)).sum()

    calls = [(_rng(s).normal(size=(2, 6)),) for s in range(3)]
    check(cr.value_and_grad(f), calls)


def test_index_arrays_computed_from_inputs():
    def picked(x, i):
        return (x[i] ** 2).sum()

    calls = [
        (np.arange(5.0) * s, np.array(idx)) for s, idx in ((1, [1, 2]), (2, [3, 3]), (3, [4, 0]))
    ]
    check(cr.value_and_grad(picked), calls)

    def nll(logits, y):
        return -cr.log_softmax(logits, axis=1)[np.arange(logits.shape[0]), y].mean()

    calls = [(_rng(s).normal(size=(4, 3)), _rng(s).integers(0, 3, 4)) for s in range(3)]
    check(cr.value_and_grad(nll), calls)


def test_linear_algebra_and_attention():
    def spd(a):
        return a @ a.T + np.eye(3)

    def lin(a, b):
        m = spd(a)
        sign, logdet = cnp.linalg.slogdet(m)
        return sign * logdet + cnp.linalg.solve(m, b).sum() + cnp.trace(cnp.linalg.inv(m))

    calls = [(_rng(s).normal(size=(3, 3)), _rng(s + 1).normal(size=3)) for s in range(3)]
    check(cr.value_and_grad(lin, argnums=(0, 1)), calls, rtol=1e-10)

    def attention(q, k, v):
        s = cr.softmax(q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1]), axis=-1)
        return (s @ v).sum()

    calls = [tuple(_rng(s + i).normal(size=(2, 70, 4)) for i in range(3)) for s in range(3)]
    check(cr.value_and_grad(attention, argnums=(0, 1, 2)), calls, rtol=1e-10)


def test_numpy_api_code():
    def f(x):
        return cnp.sum(cnp.log1p(cnp.exp(x)) * cnp.where(x > 0, x, 0.5 * x))

    calls = [(_rng(s).normal(size=7),) for s in range(3)]
    check(cr.value_and_grad(f), calls)


def test_integer_and_boolean_results_and_plain_forward_functions():
    def f(x, y):
        return (x > 0.5), (y * 2 + 1), cr.exp(x).sum()

    # Inside a jitted function array inputs are Tensors, so results are Tensors.
    calls = [
        (cr.tensor(_rng(s).uniform(size=4)), cr.tensor(_rng(s).integers(0, 9, 3))) for s in range(3)
    ]
    check(f, calls)


@settings(max_examples=25, deadline=None)
@given(
    shape_a=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    drop=st.integers(0, 3),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_broadcasting_and_dtypes(shape_a, drop, dtype, seed):
    shape_b = shape_a[drop:]  # a suffix: broadcasts against shape_a
    rng = _rng(seed)

    def f(a, b):
        return (cr.tanh(a * b) + cr.exp(-b) / (1 + a * a)).sum()

    calls = [
        (rng.normal(size=shape_a).astype(dtype), rng.normal(size=shape_b).astype(dtype))
        for _ in range(3)
    ]
    check(cr.value_and_grad(f, argnums=(0, 1)), calls, rtol=1e-5 if dtype == np.float32 else 1e-12)


# ------------------------------------------------------------ caching, verification
def test_compiled_after_two_different_inputs_and_not_before():
    jitted = cr.jit(cr.grad(chain))
    x = np.float64(0.2)
    for _ in range(3):
        jitted(x)
    assert jitted.traces == 3  # identical inputs verify nothing
    jitted(np.float64(0.4))
    assert jitted.traces == 4
    jitted(np.float64(0.9))
    assert jitted.traces == 4


def test_verify_false_compiles_the_first_trace():
    jitted = cr.jit(cr.grad(chain), verify=False)
    jitted(np.float64(0.2))
    jitted(np.float64(0.2))
    assert jitted.traces == 1


def test_a_new_shape_dtype_or_static_argument_traces_again():
    jitted = cr.jit(lambda x, k: (x * k).sum(), verify=False)
    jitted(np.ones(3), 2.0)
    jitted(np.ones(3), 2.0)
    jitted(np.ones(4), 2.0)
    jitted(np.ones(3, np.float32), 2.0)
    jitted(np.ones(3), 3.0)
    assert jitted.traces == 4


def test_decorator_forms():
    @cr.jit
    def f(x):
        return x * 2

    @cr.jit(verify=False)
    def g(x):
        return x * 3

    assert f(np.ones(2)).tolist() == [2.0, 2.0]
    assert g(np.ones(2)).tolist() == [3.0, 3.0]
    assert isinstance(f, cr.jit.__globals__["Jitted"]) and f.__name__ == "f"


def test_structures_of_results_keep_their_kinds():
    @cr.jit(verify=False)
    def f(d):
        return {"sum": d["a"] + d["b"][0], "raw": np.float64(1.5), "none": None, "n": 3}

    out = f({"a": np.ones(2), "b": [np.ones(2)]})
    out = f({"a": np.ones(2), "b": [np.ones(2)]})
    assert isinstance(out["sum"], cr.Tensor) and out["sum"].tolist() == [2.0, 2.0]
    assert isinstance(out["raw"], np.ndarray) and out["none"] is None and out["n"] == 3


def test_the_same_array_passed_twice_is_two_inputs():
    jitted = cr.jit(lambda a, b: a - b)
    x = np.ones(3)
    for s in range(3):
        y = _rng(s).normal(size=3)
        assert np.array_equal(jitted(y, y).data, np.zeros(3))
        assert np.array_equal(jitted(x, y).data, x - y)


def test_captured_tensor_updated_in_place_is_read_at_call_time():
    w = cr.tensor([1.0, 2.0])
    jitted = cr.jit(lambda x: (w * x).sum(), verify=False)
    assert jitted(np.ones(2)).item() == 3.0
    w.data[:] = [10.0, 20.0]
    assert jitted(np.ones(2)).item() == 30.0


def test_inputs_in_a_graph_run_uncompiled_so_the_gradient_flows():
    # Compiled code records no graph: a gradient through it used to be silently
    # zero (cr.grad(cr.jit(f)), backward() on its result, a captured tensor under
    # a transform). Such calls run the function itself, with one warning.
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    jitted = cr.jit(lambda t: (t**3).sum(), verify=False)
    with pytest.warns(RuntimeWarning, match="runs uncompiled here"):
        out = jitted(x)
    out.backward()
    np.testing.assert_allclose(x.grad.data, 3 * x.data**2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per jitted function
        np.testing.assert_allclose(cr.grad(jitted)(np.array([1.0, 3.0])), [3.0, 27.0])

    second = cr.jit(cr.grad(lambda t: (cr.tanh(t) ** 3).sum()))
    x = np.array([0.3, -0.7])
    eager = cr.grad(lambda t: cr.grad(lambda u: (cr.tanh(u) ** 3).sum())(t).sum())(x)
    with pytest.warns(RuntimeWarning):
        np.testing.assert_allclose(cr.grad(lambda t: second(t).sum())(x), eager)

    w0, data = np.array([0.5, -1.0]), np.array([1.0, 2.0])

    def captured(w):
        scaled = cr.jit(lambda d: (w * d).sum())
        return scaled(data) + scaled(data)

    with pytest.warns(RuntimeWarning):
        np.testing.assert_allclose(cr.grad(captured)(w0), 2 * data)
    # outside a transform, with inputs that need no gradient, it compiles as before
    plain = cr.jit(lambda t: t * 2)
    for v in (1.0, 2.0, 3.0):
        assert not plain(cr.tensor([v, 2.0])).requires_grad
    assert plain.traces == 2


def test_jit_inside_jit_is_recorded_in_the_outer_trace():
    inner = cr.jit(lambda x: cr.exp(x) * 2)
    outer = cr.jit(cr.grad(lambda x: inner(x).sum()))
    for s in range(3):
        x = _rng(s).normal(size=3)
        np.testing.assert_allclose(outer(x).data, 2 * np.exp(x))
    assert outer.traces == 2 and inner.traces == 0


def test_source_and_ops_show_the_straight_line_program():
    jitted = cr.jit(cr.value_and_grad(sigmoid))
    source = jitted.source(np.float64(0.5))
    assert source.startswith("def value_and_grad_sigmoid_(v0):")
    for line in ("v1 = -v0  # neg", "  # exp", "  # div", "return (v4, "):
        assert line in source
    assert jitted.ops(np.float64(0.5)) == len(source.strip().splitlines()) - 2


def test_errors_in_compiled_code_are_raised_with_its_source_in_the_traceback():
    # Class targets are checked by the compiled code too, on every call.
    loss = cr.jit(cr.grad(lambda x, y: F.cross_entropy(x, y)), verify=False)
    loss(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(IndexError, match="target 3 is out of range for 3 classes") as info:
        loss(np.zeros((2, 3)), np.array([0, 3]))
    frames = traceback.extract_tb(info.value.__traceback__)
    compiled = [fr for fr in frames if fr.filename.startswith("<chainrule.jit")]
    assert compiled and "# class_weights" in linecache.getline(
        compiled[0].filename, compiled[0].lineno
    )


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "body, what",
    [
        (lambda x: x * 2 if x.sum() > 0 else x, "bool"),
        (lambda x: x * x.sum().item(), r"item\(\)"),
        (lambda x: x * float(x.sum()), r"float\(t\)"),
        (lambda x: x * np.asarray(x), "NumPy conversion"),
        (lambda x: x * x.numpy(), r"numpy\(\)"),
        (lambda x: cnp.argmax(x) + x, "NumPy function on the tensor's values"),
        (lambda x: x.tolist(), r"tolist\(\)"),
    ],
)
def test_reading_a_traced_value_is_refused(body, what):
    with pytest.raises(cr.JitError, match=what):
        cr.jit(body)(np.ones(3))


def test_value_reads_through_data_are_refused_naming_the_line():
    def leaky(x):
        return x * np.exp(x.data)  # the NumPy part would be frozen

    with pytest.raises(cr.JitError, match=r"t\.data at test_jit\.py:\d+: return x \* np\.exp"):
        cr.jit(leaky)(np.ones(2))


def test_value_leaks_the_tracer_cannot_see_are_found_by_the_second_trace():
    # x._data stands for a leak inside library code (which may read t.data).
    def leaky(x):
        return x * np.exp(x._data)

    jitted = cr.jit(leaky)
    jitted(np.ones(2))
    with pytest.raises(cr.JitError, match="two calls traced differently"):
        jitted(np.zeros(2))


def test_random_numbers_are_found_by_the_second_trace():
    rng = _rng(0)
    jitted = cr.jit(lambda x: x + rng.normal(size=3))
    jitted(np.ones(3))
    with pytest.raises(cr.JitError, match="has different values"):
        jitted(np.ones(3))


def test_value_dependent_python_control_flow_through_data_is_found():
    def branchy(x):
        return cr.exp(x) if x._data.sum() > 0 else cr.sin(x)  # a leak jit cannot see

    jitted = cr.jit(branchy)
    jitted(np.ones(2))
    with pytest.raises(cr.JitError, match="operation 0 is 'exp' in one trace and 'sin'"):
        jitted(-np.ones(2))


def test_side_effects_are_refused():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        return loss

    with pytest.raises(cr.JitError, match="calls backward"):
        cr.jit(step)(np.ones(2))

    def assign(x):
        y = x * 1
        y[0] = 5.0
        return y

    with pytest.raises((cr.JitError, RuntimeError), match="in place"):
        cr.jit(assign)(np.ones(2))


def test_slice_bounds_from_traced_values_are_refused():
    with pytest.raises(cr.JitError, match="used as an index"):
        cr.jit(lambda x, n: x[:n])(np.arange(5.0), np.array(2))


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a function"):
        cr.jit(3)
    with pytest.raises(TypeError, match="neither an array nor hashable"):
        cr.jit(lambda x, s: x)(np.ones(2), {1, 2})
    # Nothing is left active after an error in the traced function.
    with pytest.raises(ZeroDivisionError):
        cr.jit(lambda x: 1 / 0)(np.ones(2))
    assert cr.exp(cr.tensor(0.0)).item() == 1.0
    assert cr.tensor(1.0).item() == 1.0


def test_repeated_computations_run_once():
    jitted = cr.jit(lambda x: cr.exp(x * 2) + cr.exp(x * 2) + cr.exp(x * 2.0))
    source = jitted.source(np.ones(3))
    # x * 2 and x * 2.0 differ (an int and a float constant); each is computed once.
    assert source.count("# exp") == 2 and source.count("# mul") == 2
    calls = [(_rng(s).normal(size=3),) for s in range(3)]
    check(lambda x: cr.exp(x * 2) + cr.exp(x * 2) + cr.exp(x * 2.0), calls)


def test_example_runs(capsys):
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "jit.py"
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "sigma'(0.5) = 0.2350037122" in out
    assert "closed form sigma (1 - sigma) = 0.2350037122" in out
    assert "same gradient: True" in out and "Python traces: 2" in out


def test_constant_results_are_fresh_on_every_call():
    jitted = cr.jit(cr.grad(lambda x, y: (x * 2).sum(), argnums=(0, 1)), verify=False)
    gx, gy = jitted(np.ones(2), np.ones(2))
    gy += 5  # y is unused: its gradient is a constant of the compiled code
    gx, gy = jitted(np.ones(2), np.ones(2))
    assert gy.tolist() == [0.0, 0.0] and gx.tolist() == [2.0, 2.0]


def test_an_input_unchanged_while_verifying_is_checked_when_it_changes():
    def leaky(w, x):
        return w * np.exp(x._data)  # frozen at the x of the traces (unseen by the tracer)

    jitted = cr.jit(leaky)
    x = np.ones(2)
    jitted(np.ones(2), x)
    jitted(np.zeros(2), x)  # w changed: compiled
    assert jitted.traces == 2
    assert np.allclose(jitted(np.full(2, 3.0), x).data, 3 * np.e)  # x as traced: compiled
    assert jitted.traces == 2
    with pytest.raises(cr.JitError, match="has different values"):
        jitted(np.ones(2), np.zeros(2))  # x's first new value: traced again, compared

    honest = cr.jit(lambda w, x: w * cr.exp(x))
    honest(np.ones(2), x)
    honest(np.zeros(2), x)
    honest(np.ones(2), np.zeros(2))  # x changes: one more trace, which agrees
    assert honest.traces == 3
    for s in range(3):
        w, x2 = _rng(s).normal(size=2), _rng(s + 3).normal(size=2)
        np.testing.assert_allclose(honest(w, x2).data, w * np.exp(x2))
    assert honest.traces == 3


def test_tensor_copies_of_traced_values_keep_or_convert_their_dtype():
    def f(x):
        return cr.tensor(x) * 2 + cr.tensor(x, dtype="float32")

    calls = [(cr.tensor(_rng(s).normal(size=3)),) for s in range(3)]
    jitted = check(f, calls)
    assert jitted(*calls[0]).dtype == np.float64
    assert "# cast" in jitted.source(*calls[0])


def _big(seed, shape=(64, 80)):  # 40 KB in float64: above jit.codegen.BUFFER_MIN_BYTES
    return _rng(seed).normal(size=shape)


def test_large_intermediates_reuse_buffers_and_results_stay_fresh():
    def f(a, b):
        h = cr.tanh(a * b + 1.0)  # intermediates: buffered
        return (h * h).sum(), h[::2] * 3, (a + b).reshape(80, 64)  # results: never

    jitted = cr.jit(f)
    first = None
    for s in range(4):
        args = (_big(s), _big(s + 10))
        got = jitted(*args)
        _close(got, f(*map(cr.tensor, args)))
        if first is None:
            first, first_copy = got, [g.data.copy() for g in got]
    assert jitted.traces == 2
    for g, c in zip(first, first_copy):  # later calls did not write into earlier results
        assert np.array_equal(g.data, c)
    assert "out=b" in jitted.source(_big(0), _big(1))


def test_buffered_code_is_safe_from_several_threads():
    import threading

    jitted = cr.jit(lambda a: (cr.exp(a * 0.5) * a).sum(axis=0))
    jitted(_big(0))
    jitted(_big(1))
    errors = []

    def worker(seed):
        for k in range(30):
            a = _big(seed * 100 + k)
            if not np.allclose(jitted(a).data, (np.exp(a * 0.5) * a).sum(axis=0)):
                errors.append(seed)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and jitted.traces == 2


_UNARY = [cr.tanh, cr.exp, cr.sin, lambda t: -t, lambda t: t * 0.5, lambda t: cr.reshape(t, (-1,))]
_BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / (1 + b * b)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # exp of exp overflows, eagerly too
@settings(max_examples=30, deadline=None)
@given(
    program=st.lists(
        st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 9), st.integers(0, 9)),
        min_size=1,
        max_size=12,
    ),
    returned=st.lists(st.integers(0, 9), max_size=3),
    big=st.booleans(),
)
def test_random_programs_with_buffers_and_in_place_results(program, returned, big):
    # Arrays large enough for buffers (and small ones), values used many times or
    # once, some intermediates returned: every compiled call matches eager chainrule.
    shape = (48, 48) if big else (3, 4)

    def f(x, y):
        pool = [x, y]
        for unary, op, i, j in program:
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            if unary:
                pool.append(_UNARY[op % len(_UNARY)](a))
            elif a.shape == b.shape:
                pool.append(_BINARY[op % len(_BINARY)](a, b))
        loss = sum(cr.tanh(p).sum() for p in pool[2:]) if len(pool) > 2 else (x * y).sum()
        return loss, [pool[r % len(pool)] * 1 for r in returned]

    def value_and_grads(x, y):
        (loss, extra), grads = cr.value_and_grad(f, argnums=(0, 1), has_aux=True)(x, y)
        return loss, extra, grads

    calls = [(_rng(s).normal(size=shape), _rng(s + 7).normal(size=shape)) for s in range(4)]
    jitted = cr.jit(value_and_grads)
    outs = []
    for args in calls:
        got = jitted(*args)
        _close(got, value_and_grads(*args), rtol=1e-10)  # NumPy in, NumPy out
        as_tensors = map(cr.tensor, args)
        _close(cr.jit(value_and_grads)(*as_tensors), value_and_grads(*map(cr.tensor, args)))
        outs.append((got, [np.array(g) for g in _leaves(got)]))
    for got, copies in outs:  # no later call wrote into an earlier call's results
        live = [np.asarray(g) for g in _leaves(got)]
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(live, copies))


def test_matmul_and_default_transpose_compile_to_operators():
    # With arrays in, matmul is `@` and a transpose with default axes is `.T`;
    # transposes with axes, and 1-D and batched products, give the same results.
    def f(a, b, c, v):
        return (
            (a.T @ b).sum() + (cr.transpose(c, (1, 0, 2)) @ b[:3]).sum() + (v @ a).sum(),
            cr.transpose(c).sum(),
        )

    rng = _rng(5)
    calls = [
        (
            rng.normal(size=(3, 4)),
            rng.normal(size=(3, 5)),
            rng.normal(size=(2, 3, 3)),
            rng.normal(size=3),
        )
        for _ in range(3)
    ]
    jitted = check(cr.value_and_grad(f, argnums=(0, 1, 2, 3), has_aux=True), calls)
    source = jitted.source(*calls[0])
    assert "v0.T" in source and " @ " in source
    transposes = [line for line in source.splitlines() if line.endswith("# transpose")]
    assert any("= f" in line for line in transposes)  # axes (1, 0, 2): a call
    assert any(line.strip().endswith(".T  # transpose") for line in transposes)


def test_a_relu_gradient_multiplies_by_its_bool_mask_without_a_float_copy():
    """g * (x > 0) traced records a cast of the mask to floats; the compiled code
    multiplies by the bool mask itself: the same bits, one pass less."""

    def loss(x, w):
        return (cr.relu(x @ w) ** 2).sum()

    calls = [(_big(s), _rng(s + 7).normal(size=(80, 32))) for s in range(3)]
    jitted = check(cr.grad(loss, argnums=(0, 1)), calls)
    source = jitted.source(*calls[0])
    assert "# greater" in source and "# cast" not in source
    for x, w in calls:
        for got, want in zip(jitted(x, w), cr.grad(loss, argnums=(0, 1))(x, w)):
            assert np.array_equal(got.data, want.data)


def test_a_mask_cast_read_twice_or_into_another_dtype_is_kept():
    def twice(x):
        m = cr.tensor(x > 0, dtype="float64")  # the mask as floats, read by two products
        return x * m + m * 3

    def wider(x):
        return x * cr.tensor(x > 0, dtype="float64")  # float32 times float64: a wider result

    calls = [(cr.tensor(_rng(s).normal(size=5)),) for s in range(3)]
    jitted = check(twice, calls)
    assert "# cast" in jitted.source(*calls[0])
    calls32 = [(cr.tensor(_rng(s).normal(size=5).astype(np.float32)),) for s in range(3)]
    jitted = check(wider, calls32)
    assert jitted(*calls32[0]).dtype == np.float64
    assert "# cast" in jitted.source(*calls32[0])


def test_a_stack_times_one_matrix_compiles_to_one_folded_gemm():
    """x @ W and a Linear layer on a (batch, tokens, features) stack, forward and
    backward: the compiled products are one GEMM over the folded stack
    (ops.linalg.stack_matmul), with the eager numbers; a plain 2-D product stays @."""
    lin = cr.nn.Linear(6, 5)

    def loss(x, w):
        return (cr.tanh(x @ w) * lin(x)).sum() + (x[0] @ w).sum()

    calls = [(_rng(s).normal(size=(4, 3, 6)), _rng(s + 1).normal(size=(6, 5))) for s in range(3)]
    grad = cr.grad(loss, argnums=(0, 1))
    jitted = check(grad, calls)
    source = jitted.source(*calls[0])
    folded = [line for line in source.splitlines() if "_stack_matmul(" in line]
    assert len(folded) >= 2  # x @ w forward, and the gradient products of the stack
    assert any(" @ " in line for line in source.splitlines())  # x[0]'s products: 2-D
    for x, w in calls:
        for got, want in zip(jitted(x, w), grad(x, w)):
            assert np.array_equal(got.data, want.data)
