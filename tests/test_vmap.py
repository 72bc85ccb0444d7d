"""cr.vmap: semantics (in_axes, out_axes, pytrees), errors, composition, fallback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.scipy  # noqa: F401  (its primitives join the table)

rng = np.random.default_rng(0)


def loop(f, *args, in_axes=0):
    """stack([f(example) for example in batch]), the reference for vmap."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    size = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = []
    for b in range(size):
        one = [a if ax is None else np.take(a, b, axis=ax) for a, ax in zip(args, axes)]
        r = f(*one)
        outs.append(r.numpy() if isinstance(r, cr.Tensor) else np.asarray(r))
    return np.stack(outs)


# ------------------------------------------------------------------ semantics
def test_in_axes_none_negative_and_out_axes():
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal(4)
    got = cr.vmap(lambda x, y: x @ y, in_axes=(-1, None))(a, b)
    np.testing.assert_allclose(got, loop(lambda x, y: x @ y, a, b, in_axes=(2, None)))
    got = cr.vmap(lambda x: x * 2, in_axes=1, out_axes=-1)(a)
    np.testing.assert_allclose(got, np.moveaxis(np.moveaxis(a, 1, 0) * 2, 0, -1))
    assert got.shape == (3, 5, 4)


def test_pytrees_in_and_out():
    p = {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    xs = rng.standard_normal((6, 4))

    def f(p, x):
        y = x @ p["w"] + p["b"]
        return {"y": y, "n": (y * y).sum()}

    got = cr.vmap(f, in_axes=({"w": None, "b": None}, 0), out_axes={"y": 1, "n": 0})(p, xs)
    ref = [f(p, x) for x in xs]
    np.testing.assert_allclose(got["y"], np.stack([np.asarray(r["y"]) for r in ref], axis=1))
    np.testing.assert_allclose(got["n"], [float(r["n"]) for r in ref])


def test_numpy_in_numpy_out_tensor_in_tensor_out():
    xs = rng.standard_normal((3, 2))
    assert isinstance(cr.vmap(cr.sin)(xs), np.ndarray)
    out = cr.vmap(cr.sin)(cr.tensor(xs))
    assert isinstance(out, cr.Tensor)
    np.testing.assert_allclose(out.numpy(), np.sin(xs))


def test_unbatched_output_is_broadcast_and_axis_size():
    got = cr.vmap(lambda x: cr.tensor(1.0) + 0 * x.sum(), in_axes=None, axis_size=3)(np.ones(2))
    np.testing.assert_allclose(got, np.ones(3))
    got = cr.vmap(lambda x, c: c, in_axes=(0, None))(np.ones((4, 2)), np.arange(3.0))
    np.testing.assert_allclose(got, np.tile(np.arange(3.0), (4, 1)))


def test_keyword_arguments_are_batched_along_axis_0():
    got = cr.vmap(lambda x, scale: x * scale)(np.ones((3, 2)), scale=np.arange(3.0)[:, None])
    np.testing.assert_allclose(got, np.arange(3.0)[:, None] * np.ones((3, 2)))


def test_branch_that_agrees_across_the_batch_runs():
    def f(x):
        return x * 2 if x.shape[0] > 1 and x.sum() > -100 else x

    np.testing.assert_allclose(cr.vmap(f)(np.ones((3, 2))), 2 * np.ones((3, 2)))


# --------------------------------------------------------------------- errors
def test_mismatched_batch_sizes_name_both_arguments():
    with pytest.raises(ValueError, match=r"argument 0 has size 3 .* argument 1 has size 4"):
        cr.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4))


def test_in_axes_out_of_range_names_the_argument():
    with pytest.raises(ValueError, match=r"in_axes=2 is out of range for argument 1"):
        cr.vmap(lambda a, b: a + b, in_axes=(0, 2))(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="in_axes has 1 entries but .* 2 positional"):
        cr.vmap(lambda a, b: a, in_axes=(0,))(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="out_axes=3 is out of range"):
        cr.vmap(lambda a: a, out_axes=3)(np.ones((3, 2)))
    with pytest.raises(TypeError, match="in_axes must hold ints or None"):
        cr.vmap(lambda a: a, in_axes=1.5)
    with pytest.raises(ValueError, match="no argument is batched"):
        cr.vmap(lambda a: a, in_axes=None)(np.ones(3))
    with pytest.raises(ValueError, match="does not match its structure"):
        cr.vmap(lambda p: p["w"], in_axes=([0, 0],))({"w": np.ones(3)})


def test_branch_that_differs_across_the_batch_is_one_clear_error():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(cr.VmapError, match="differs across the batch") as info:
        cr.vmap(f)(np.array([[1.0], [-1.0], [2.0]]))
    assert "\n" not in str(info.value)


def test_reading_values_inside_vmap_is_refused():
    with pytest.raises(cr.VmapError, match="reads a batched tensor's values"):
        cr.vmap(lambda x: x.numpy())(np.ones((2, 3)))


def test_out_axes_none_for_a_batched_result_is_refused():
    with pytest.raises(ValueError, match="out_axes is None for output leaf 0"):
        cr.vmap(lambda x: x, out_axes=None)(np.ones((2, 3)))


# ---------------------------------------------------------------- composition
def mlp_loss(p, x, y):
    h = cr.tanh(x @ p["w1"] + p["b1"])
    return ((h @ p["w2"] + p["b2"] - y) ** 2).sum()


def mlp_params():
    return {
        "w1": rng.standard_normal((4, 5)),
        "b1": rng.standard_normal(5),
        "w2": rng.standard_normal((5, 2)),
        "b2": rng.standard_normal(2),
    }


def test_vmap_of_grad_is_per_example_gradients():
    p, xs, ys = mlp_params(), rng.standard_normal((7, 4)), rng.standard_normal((7, 2))
    got = cr.vmap(cr.grad(mlp_loss), in_axes=(None, 0, 0))(p, xs, ys)
    for k in p:
        ref = np.stack([cr.grad(mlp_loss)(p, x, y)[k] for x, y in zip(xs, ys)])
        np.testing.assert_allclose(got[k], ref, rtol=1e-10)


def test_grad_of_vmap_sums_the_examples():
    p, xs, ys = mlp_params(), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    got = cr.grad(lambda p: cr.vmap(mlp_loss, (None, 0, 0))(p, xs, ys).sum())(p)
    for k in p:
        ref = sum(cr.grad(mlp_loss)(p, x, y)[k] for x, y in zip(xs, ys))
        np.testing.assert_allclose(got[k], ref, rtol=1e-10)


def test_grad_of_vmap_of_grad():
    # d/dw of sum over examples of |per-example gradient|^2: a second derivative
    # through vmap, checked against finite differences.
    xs = rng.standard_normal((4, 3))

    def f(w):
        pe = cr.vmap(cr.grad(lambda w, x: cr.sin(x @ w).sum()), in_axes=(None, 0))(w, xs)
        return (pe**2).sum()

    assert cr.gradcheck(f, (cr.tensor(rng.standard_normal(3), requires_grad=True),))


def test_vmap_of_vmap():
    a = rng.standard_normal((2, 3, 4))
    got = cr.vmap(cr.vmap(lambda x: cr.logsumexp(x)))(a)
    np.testing.assert_allclose(got, np.log(np.exp(a).sum(-1)))
    b = rng.standard_normal((4, 5))
    got = cr.vmap(cr.vmap(lambda x, m: x @ m, (0, None)), (1, None))(a, b)
    np.testing.assert_allclose(got, np.einsum("ijk,kl->jil", a, b))


def test_vmap_of_jvp_and_of_vjp():
    f = lambda x: cr.sin(x) * x.sum()  # noqa: E731
    xs, ts = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    got = cr.vmap(lambda x, t: cr.jvp(f, (x,), (t,))[1])(xs, ts)
    np.testing.assert_allclose(got, loop(lambda x, t: cr.jvp(f, (x,), (t,))[1], xs, ts))
    # jacobian rows as vmap of one vjp over the basis (jacrev's way)
    x = rng.standard_normal(3)
    _, vjp_fn = cr.vjp(f, x)
    rows = cr.vmap(lambda ct: vjp_fn(ct)[0])(np.eye(3))
    np.testing.assert_allclose(rows, cr.jacobian(f)(x), rtol=1e-12)


def test_vmap_of_hessian():
    g = lambda x: (cr.sin(x) ** 2).sum() * x[0]  # noqa: E731
    xs = rng.standard_normal((4, 3))
    np.testing.assert_allclose(cr.vmap(cr.hessian(g))(xs), loop(cr.hessian(g), xs), rtol=1e-10)


def test_jit_of_vmap_of_grad_retraces_nothing_and_stays_right():
    p, ys = mlp_params(), rng.standard_normal((6, 2))
    f = cr.jit(cr.vmap(cr.grad(mlp_loss), in_axes=(None, 0, 0)))
    for scale in (1.0, 2.0):
        xs = scale * rng.standard_normal((6, 4))
        got = f(p, xs, ys)
        ref = cr.vmap(cr.grad(mlp_loss), in_axes=(None, 0, 0))(p, xs, ys)
        for k in p:
            np.testing.assert_allclose(np.asarray(got[k]), ref[k], rtol=1e-10)


def test_functional_call_on_modules():
    net = cr.nn.Sequential(cr.nn.Linear(4, 6), cr.nn.Tanh(), cr.nn.Linear(6, 2))
    params = {k: v.detach() for k, v in net.named_parameters()}
    xs, ys = cr.randn(5, 4), cr.randn(5, 2)

    def loss(p, x, y):
        return ((cr.func.functional_call(net, p, (x,)) - y) ** 2).sum()

    got = cr.vmap(cr.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    for k, v in params.items():
        ref = np.stack([cr.grad(loss)(params, xs[i], ys[i])[k].numpy() for i in range(5)])
        np.testing.assert_allclose(got[k].numpy(), ref, rtol=1e-5, atol=1e-6)
        assert dict(net.named_parameters())[k] is not v  # the module keeps its own
    with pytest.raises(ValueError, match="no parameter or buffer named 'nope'"):
        cr.func.functional_call(net, {"nope": cr.ones(1)}, (xs[0],))


# ------------------------------------------------------------ random, indexing
def test_dropout_draws_per_example():
    x = np.ones((8, 50), dtype=np.float32)
    out = cr.vmap(lambda v: cr.nn.functional.dropout(v, 0.5))(x)
    kept = out != 0
    assert not (kept == kept[0]).all()  # the masks differ between examples
    np.testing.assert_allclose(out[kept], 2.0)


@pytest.mark.parametrize(
    "draw",
    [
        lambda v: v * cr.randn(3),
        lambda v: v + cr.rand(3, dtype=cr.float64),
        lambda v: v + cr.randint(0, 1000, (3,)),
        lambda v: v * cr.randn_like(v),
    ],
)
def test_factories_draw_per_example_as_a_loop_would(draw):
    # Each example gets numbers of its own; seeded alike, the very numbers a loop
    # over the examples (outer level first) draws, since one draw fills in order.
    xs = rng.standard_normal((2, 4, 3))
    cr.manual_seed(7)
    got = cr.vmap(cr.vmap(draw))(xs)
    cr.manual_seed(7)
    loop = [[draw(cr.tensor(xs[i, j])).data for j in range(4)] for i in range(2)]
    np.testing.assert_array_equal(np.asarray(got), np.array(loop))
    assert not np.allclose(np.asarray(got)[0, 0] / xs[0, 0], np.asarray(got)[0, 1] / xs[0, 1])


def test_like_factories_take_an_examples_shape_and_dtype():
    xs = rng.standard_normal((3, 2)).astype(np.float32)
    for name, fill in (("zeros_like", 0), ("ones_like", 1), ("empty_like", None)):
        out = cr.vmap(lambda v, name=name: getattr(cr, name)(v) + v * 0)(xs)
        assert out.shape == (3, 2) and out.dtype == np.float32
        if fill is not None:
            np.testing.assert_array_equal(out, fill)
    np.testing.assert_array_equal(cr.vmap(lambda v: cr.full_like(v, 2.5))(xs), 2.5)


def test_batched_index_picks_per_example():
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    got = cr.vmap(lambda row, y: row[y])(logits, labels)
    np.testing.assert_allclose(got, logits[np.arange(5), labels])
    table = rng.standard_normal((4, 3))
    got = cr.vmap(lambda y: cr.tensor(table)[y])(labels)
    np.testing.assert_allclose(got, table[labels])


# ----------------------------------------------------------------- fallback
#: Primitives that still run once per example under vmap, with the fallback's warning:
#: none of the built-ins. (Some rules loop by design, silently, where SciPy takes one
#: problem at a time: see chainrule.ops.batch_rules_scipy.) A primitive added without
#: a rule makes the test below fail.
STILL_LOOPING: set[str] = set()


def test_the_primitives_that_fall_back_to_a_loop():
    # In a fresh interpreter: other tests declare primitives of their own.
    import subprocess
    import sys

    code = (
        "import chainrule, chainrule.autograd.function, chainrule.numpy, chainrule.numpy.linalg, "
        "chainrule.numpy.fft, "
        "chainrule.distributed, chainrule.scipy.special, "
        "chainrule.scipy.linalg, chainrule.scipy.signal, chainrule.scipy.integrate, "
        "chainrule.scipy.stats\n"
        "from chainrule.ops.primitive import PRIMITIVES\n"
        "from chainrule.ops.batch_rules import derived_rule\n"
        "print(' '.join(sorted(n for n, p in PRIMITIVES.items() "
        "if p.vmap is None and derived_rule(p) is None)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(out.stdout.split()) == STILL_LOOPING


def test_a_primitive_without_a_rule_loops_with_one_warning():
    @cr.primitive
    def cube_sum(x):
        return (x**3).sum()[None]

    cube_sum.defvjp(lambda g, ans, x: g * 3 * x**2)
    xs = rng.standard_normal((4, 3))
    with pytest.warns(RuntimeWarning, match="'cube_sum' has no batching rule"):
        got = cr.vmap(cube_sum)(xs)
    np.testing.assert_allclose(got, (xs**3).sum(1)[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time: no warning
        got = cr.vmap(cr.grad(lambda x: cube_sum(x).sum()))(xs)
    np.testing.assert_allclose(got, 3 * xs**2)


def test_chainrule_numpy_functions_batch():
    a = rng.standard_normal((3, 4, 4))
    got = cr.vmap(lambda m: cnp.linalg.inv(m) @ m)(a)
    np.testing.assert_allclose(got, np.broadcast_to(np.eye(4), (3, 4, 4)), atol=1e-10)
    spd = a @ np.swapaxes(a, -1, -2) + 4 * np.eye(4)
    b = rng.standard_normal((3, 4))
    np.testing.assert_allclose(
        cr.vmap(cnp.linalg.solve)(spd, b), np.linalg.solve(spd, b[..., None])[..., 0]
    )
    np.testing.assert_allclose(
        cr.vmap(lambda m: cnp.einsum("ij,jk->ik", m, m))(a), np.einsum("bij,bjk->bik", a, a)
    )


def test_gradient_through_a_per_example_index():
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)

    def nll(row, y):
        return -cr.log_softmax(row)[y]

    got = cr.vmap(cr.grad(nll))(logits, labels)
    ref = np.stack([cr.grad(nll)(r, np.array(y)) for r, y in zip(logits, labels)])
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_jacobian_is_one_vmapped_backward_pass(monkeypatch):
    import chainrule.func as func_module

    calls = []
    real = func_module._autograd_grad
    monkeypatch.setattr(
        func_module, "_autograd_grad", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    f = lambda x: cr.tanh(x[:4] * x.sum())  # noqa: E731
    x = rng.standard_normal(6)
    jac = cr.jacobian(f)(x)
    assert len(calls) == 1  # not one pass per output element
    np.testing.assert_allclose(jac, cr.jacfwd(f)(x), rtol=1e-12)


def test_nested_hessian_is_differentiable():
    g = lambda x: (cr.sin(x) ** 2).sum() * x[0]  # noqa: E731
    x = cr.tensor(rng.standard_normal(3), requires_grad=True)
    assert cr.gradcheck(lambda x: (cr.hessian(g)(x) * cr.cos(x)).sum(), (x,))
    assert cr.gradcheck(lambda x: (cr.jacobian(cr.grad(g))(x) ** 2).sum(), (x,))


def test_the_reference_page_examples_run():
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "reference" / "vmap.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text("utf-8"), re.S)
    assert len(blocks) >= 3
    for k, code in enumerate(blocks):
        exec(compile(code, f"vmap.md block {k}", "exec"), {"__name__": "__doc_example__"})


def test_cross_entropy_options_batch_per_example():
    import chainrule.nn.functional as F

    cases = [{}, {"ignore_index": 1}, {"weight": np.array([1.0, 2.0, 3.0])}]
    cases += [{"label_smoothing": 0.1}, {"weight": np.array([1.0, 2.0, 3.0]), "ignore_index": 0}]
    cases += [{"weight": np.array([1.0, 2.0, 3.0]), "label_smoothing": 0.2}]
    for kw in cases:
        xs, ys = rng.standard_normal((4, 5, 3)), rng.integers(0, 3, (4, 5))

        def f(x, y, kw=kw):
            return F.cross_entropy(x, y, **kw)

        got = cr.vmap(f)(xs, ys)
        np.testing.assert_allclose(got, [f(x, y).item() for x, y in zip(xs, ys)], rtol=1e-12)
        got = cr.vmap(cr.grad(f))(xs, ys)
        ref = np.stack([cr.grad(f)(x, y) for x, y in zip(xs, ys)])
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14)


def test_in_place_changes_are_refused_with_a_clear_error():
    def f(x):
        x += 1
        return x

    with pytest.raises(cr.VmapError, match="in-place changes of a batched tensor"):
        cr.vmap(f)(np.ones((2, 3)))


def test_vmap_in_two_threads_at_once():
    import threading

    results, errors = {}, []
    xs = {k: rng.standard_normal((8, 5)) for k in range(2)}

    def work(k):
        try:
            for _ in range(20):
                got = cr.vmap(cr.vmap(lambda v: cr.logsumexp(v * (k + 1))))(xs[k][None])
            results[k] = got[0]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(2):
        ref = np.log(np.exp(xs[k] * (k + 1)).sum(-1))
        np.testing.assert_allclose(results[k], ref, rtol=1e-12)


# Functions that compute an index from values (argsort, argmax, gather, embedding):
# inside vmap, each example's index is its own.
def _value_indexed_cases():
    import chainrule.nn.functional as F

    x = rng.standard_normal((4, 5, 3))
    idx = rng.integers(0, 3, (4, 5, 1))
    tok = rng.integers(0, 6, (4, 2))
    w = cr.tensor(rng.standard_normal((6, 3)))
    return {
        "gather": (lambda a, i: cr.gather(a, 1, i), (x, idx)),
        "take_along_axis": (lambda a, i: cnp.take_along_axis(a, i, axis=1), (x, idx)),
        "embedding": (lambda t: F.embedding(t, w), (tok,)),
        "embedding_padding": (lambda t: F.embedding(t, w, padding_idx=2), (tok,)),
        "masked_fill": (lambda a: cr.masked_fill(a, a > 0, 0.0), (x,)),
        "sort": (lambda a: cr.sort(a, dim=-1)[0], (x,)),
        "sort_indices": (lambda a: cr.sort(a, dim=0, descending=True)[1], (x,)),
        "topk": (lambda a: cr.topk(a, 2)[0], (x,)),
        "argmax": (lambda a: cr.argmax(a, dim=-1), (x,)),
        "argmax_flat": (lambda a: cr.argmax(a), (x,)),
        "argmin_keepdim": (lambda a: cr.argmin(a, dim=0, keepdim=True), (x,)),
        "numpy_sort": (lambda a: cnp.sort(a, axis=0), (x,)),
        "one_hot": (lambda t: F.one_hot(t, 6), (tok,)),
    }


@pytest.mark.parametrize("name", sorted(_value_indexed_cases()))
def test_value_indexed_functions_batch(name):
    f, args = _value_indexed_cases()[name]
    args = tuple(cr.tensor(a) for a in args)
    got = cr.vmap(f)(*args).numpy()
    ref = np.stack([f(*[a[b] for a in args]).numpy() for b in range(4)])
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)
    if got.dtype.kind == "f" and args[0].dtype.kind == "f":

        def g(*a):
            return cr.sum(cr.sin(f(*a)))

        got = cr.vmap(cr.grad(g))(*args).numpy()
        ref = np.stack([cr.grad(g)(*[a[b] for a in args]).numpy() for b in range(4)])
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_the_layer_primitives_batch_without_a_loop():
    # lstm_layer folds the batch into its rows; safe_softmax and layer_normalize shift
    # their axes. Each against a loop, values and per-example gradients, no warning.
    import warnings

    from chainrule.ops.activations import safe_softmax
    from chainrule.ops.normalization import normalize
    from chainrule.ops.recurrent import lstm_layer

    rng = np.random.default_rng(3)
    xp, h0 = rng.standard_normal((3, 4, 2, 20)), rng.standard_normal((3, 2, 5))
    c0, w = rng.standard_normal((2, 5)), rng.standard_normal((20, 5))
    scores = rng.standard_normal((3, 3, 4))
    scores[0, 1] = -np.inf  # a fully masked row
    cases = [
        (lambda x, h: (lstm_layer(x, h, c0, w) ** 2).sum(), (xp, h0)),
        (lambda s: (safe_softmax(s, axis=-1) * s.clip(-9, 9)).sum(), (scores,)),
        (lambda s: (normalize(s, axes=(1,)) ** 3).sum(), (scores[1:],)),
        (lambda s: (normalize(s, axes=(-1,)) ** 3).sum(), (scores[1:],)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a loop fallback would warn
        for f, args in cases:
            nums = tuple(range(len(args)))
            batched = cr.vmap(cr.value_and_grad(f, argnums=nums))(*args)
            for i in range(len(args[0])):
                value, grads = cr.value_and_grad(f, argnums=nums)(*(a[i] for a in args))
                np.testing.assert_allclose(batched[0][i], value, rtol=1e-12)
                for k in nums:
                    np.testing.assert_allclose(batched[1][k][i], grads[k], rtol=1e-10, atol=1e-12)
