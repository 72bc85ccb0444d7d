"""DistributedDataParallel on one rank: .grad as views of the buckets, what users do
with .grad, hooks, when a pass ends (the two-rank side is in test_distributed_mpi.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import distributed as dist


def _mlp(seed=0):
    cr.nn.manual_seed(seed)
    return cr.nn.Sequential(cr.nn.Linear(5, 7), cr.nn.Tanh(), cr.nn.Linear(7, 3)).double()


def _x(seed=1, rows=6):
    return cr.tensor(np.random.default_rng(seed).normal(size=(rows, 5)))


def _flat_buffers(ddp):
    return [b.flat for b in ddp._reducer.buckets]


def _is_view_of_a_bucket(grad, ddp):
    return any(np.shares_memory(grad.data, flat) for flat in _flat_buffers(ddp))


def test_grads_are_views_of_the_buckets_and_stay_so():
    model = _mlp()
    ddp = dist.DistributedDataParallel(model, bucket_mb=1e-4)
    ddp(_x()).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(_is_view_of_a_bucket(g, ddp) for g in grads)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    for set_to_none in (True, False):
        opt.zero_grad(set_to_none=set_to_none)
        ddp(_x(2)).sum().backward()
        # the same Tensors again: the next backward overwrote them in place
        assert all(p.grad is g for p, g in zip(model.parameters(), grads))


def test_accumulation_none_and_replaced_grads_match_the_plain_module():
    plain, wrapped = _mlp(), _mlp()
    ddp = dist.DistributedDataParallel(wrapped)
    for step in range(4):
        for net, model in ((plain, plain), (ddp, wrapped)):
            if step == 2:  # the user's own .grad: taken as it is, then accumulated into
                for p in model.parameters():
                    p.grad = cr.tensor(np.full(p.shape, 0.5))
            if step == 3:
                model[0].weight.grad = None  # starts from zero
            net(_x(step)).pow(2).sum().backward()
        for p, q in zip(plain.parameters(), wrapped.parameters()):
            np.testing.assert_allclose(q.grad.data, p.grad.data, rtol=1e-14)
    assert all(_is_view_of_a_bucket(p.grad, ddp) for p in wrapped.parameters())


def test_a_grad_of_the_wrong_shape_is_refused():
    model = _mlp()
    ddp = dist.DistributedDataParallel(model)
    model[0].weight.grad = cr.zeros(2, 2, dtype=cr.float64)
    with pytest.raises(RuntimeError, match=r"0\.weight\.grad was set to \(2, 2\)"):
        ddp(_x()).sum().backward()


def test_hooks_on_parameters_see_the_local_gradient_and_may_change_it():
    model = _mlp()
    seen = []
    model[2].bias.register_hook(lambda g: seen.append(g.data.copy()))
    ddp = dist.DistributedDataParallel(model)
    model[2].weight.register_hook(lambda g: g * 0)  # registered after the wrapper
    ddp(_x()).sum().backward()
    np.testing.assert_array_equal(seen[0], np.full(3, 6.0))  # 6 rows, d sum / d bias
    np.testing.assert_array_equal(model[2].weight.grad.data, 0)
    assert model[0].weight.grad.data.any()


def test_autograd_grad_through_the_wrapper_returns_the_local_gradient():
    plain, wrapped = _mlp(), _mlp()
    ddp = dist.DistributedDataParallel(wrapped)
    got = cr.autograd.grad(ddp(_x()).sum(), list(wrapped.parameters()))
    want = cr.autograd.grad(plain(_x()).sum(), list(plain.parameters()))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.data, w.data, rtol=1e-14)
    assert all(p.grad is None for p in wrapped.parameters())  # nothing stored


def test_a_parameter_used_outside_forward_is_refused_not_dropped():
    model = _mlp()
    ddp = dist.DistributedDataParallel(model)
    penalty = (model[0].weight ** 2).sum()  # a gradient that would bypass the reduction
    with pytest.raises(RuntimeError, match=r"0\.weight got a gradient without going through"):
        (ddp(_x()).sum() + penalty).backward()


def test_a_backward_that_reaches_no_parameter_leaves_the_pass_waiting():
    # The GAN pattern: the generator's forward waits while the discriminator's
    # backward (which does not reach it) runs; then its own backward reduces it.
    gen, disc = _mlp(1), cr.nn.Sequential(cr.nn.Linear(3, 1)).double()
    g_ddp, d_ddp = dist.DistributedDataParallel(gen), dist.DistributedDataParallel(disc)
    fake = g_ddp(_x())
    d_ddp(fake.detach()).sum().backward()
    assert all(p.grad is None for p in gen.parameters())
    assert all(p.grad is not None for p in disc.parameters())
    d_ddp(fake).sum().backward()
    ref_gen, ref_disc = _mlp(1), cr.nn.Sequential(cr.nn.Linear(3, 1)).double()
    ref_disc.load_state_dict(disc.state_dict())
    ref_disc(ref_gen(_x())).sum().backward()
    for p, q in zip(ref_gen.parameters(), gen.parameters()):
        np.testing.assert_allclose(q.grad.data, p.grad.data, rtol=1e-14)


def test_the_end_of_backward_callback_runs_once_per_storing_pass():
    from chainrule.autograd import engine

    calls = []

    def note():
        calls.append(engine.pass_stores_grad())

    engine.call_after_backward(note)
    engine.call_after_backward(note)  # registered once
    try:
        x = cr.tensor(2.0, requires_grad=True)
        (x * x).backward()
        cr.autograd.grad(x * x, x)  # returns gradients: not called
        assert calls == [None]  # called after the pass, outside it
    finally:
        engine.cancel_after_backward(note)
    (x * x).backward()
    assert calls == [None]


def test_grad_sync_nodes_are_visited_right_after_their_layer():
    # Each layer's bucket can start while backward goes on to the layers below.
    order = []

    class Three(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = cr.nn.Linear(4, 4).double(), cr.nn.Linear(4, 4).double()

        def forward(self, x):
            h = self.a(x)
            h.register_hook(lambda g: order.append("a's output"))
            return self.b(h)

    model = Three()
    ddp = dist.DistributedDataParallel(model, bucket_mb=1e-5)  # one bucket per parameter
    model.a.weight.register_hook(lambda g: order.append("a.weight"))
    model.b.weight.register_hook(lambda g: order.append("b.weight"))
    ddp(cr.ones(2, 4, dtype=cr.float64)).sum().backward()
    assert order == ["b.weight", "a's output", "a.weight"]


def test_a_weight_read_before_its_layer_runs_still_gets_its_whole_gradient():
    class Tied(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = cr.nn.Linear(4, 4).double(), cr.nn.Linear(4, 4).double()

        def forward(self, x):
            return self.b(self.a(x @ self.b.weight) @ self.b.weight.T)

    cr.nn.manual_seed(3)
    plain = Tied()
    wrapped = Tied()
    wrapped.load_state_dict(plain.state_dict())
    ddp = dist.DistributedDataParallel(wrapped, bucket_mb=1e-5)
    x = cr.tensor(np.random.default_rng(0).normal(size=(3, 4)))
    plain(x).pow(2).sum().backward()
    ddp(x).pow(2).sum().backward()
    for p, q in zip(plain.parameters(), wrapped.parameters()):
        np.testing.assert_allclose(q.grad.data, p.grad.data, rtol=1e-14)


class _Params(cr.nn.Module):
    def __init__(self, shapes, dtypes, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.names = []
        for k, (shape, dtype) in enumerate(zip(shapes, dtypes)):
            setattr(self, f"p{k}", cr.nn.Parameter(cr.tensor(rng.normal(size=shape), dtype=dtype)))
            self.names.append(f"p{k}")

    def forward(self, used, x):
        return sum(((getattr(self, n) ** 3).sum() for n, u in zip(self.names, used) if u), x)


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(st.lists(st.integers(1, 4), max_size=3).map(tuple), min_size=1, max_size=6),
    data=st.data(),
    bucket_bytes=st.integers(1, 200),
    deterministic=st.booleans(),
)
def test_random_parameters_get_their_gradients_through_the_buckets(
    shapes, data, bucket_bytes, deterministic
):
    n = len(shapes)
    dtypes = data.draw(st.lists(st.sampled_from([np.float32, np.float64]), min_size=n, max_size=n))
    used = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    model = _Params(shapes, dtypes, seed=n)
    ddp = dist.DistributedDataParallel(model, bucket_mb=bucket_bytes / 2**20,
                                       deterministic=deterministic)  # fmt: skip
    for flat in _flat_buffers(ddp):  # one dtype per bucket, every slot in one
        assert flat.ndim == 1
    ddp(used, cr.tensor(0.0, requires_grad=True)).backward()
    for name, u in zip(model.names, used):
        p = getattr(model, name)
        if not any(used):  # the backward did not reach this forward: it still waits
            assert p.grad is None
            continue
        assert p.grad.dtype == p.dtype and p.grad.shape == p.shape
        assert _is_view_of_a_bucket(p.grad, ddp)
        want = 3 * p.data.astype(np.float64) ** 2 if u else np.zeros(p.shape)
        np.testing.assert_allclose(p.grad.data, want, rtol=1e-6 if p.dtype == np.float32 else 1e-14)


def test_parameters_changed_after_wrapping_are_refused():
    cr.nn.manual_seed(0)
    model = cr.nn.Linear(3, 2)  # float32 buckets
    ddp = dist.DistributedDataParallel(model)
    model.double()
    with pytest.raises(RuntimeError, match=r"bias is now float64 \(2,\), but was float32"):
        ddp(cr.ones(1, 3, dtype=cr.float64))
