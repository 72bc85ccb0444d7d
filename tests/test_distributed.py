"""cr.distributed as one rank, without mpiexec (the tests marked mpi run on two)."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import distributed as dist
from chainrule.commands.train_args import UsageError
from chainrule.commands.train_team import MPITeam


def _mlp(seed=0, dtype=np.float64):
    cr.nn.manual_seed(seed)
    model = cr.nn.Sequential(cr.nn.Linear(5, 7), cr.nn.Tanh(), cr.nn.Linear(7, 3))
    return model.double() if dtype == np.float64 else model


def test_one_rank_world():
    dist.init()
    dist.init()  # idempotent
    assert (dist.rank(), dist.size(), dist.is_main()) == (0, 1, True)
    dist.barrier()


def test_importing_chainrule_does_not_import_mpi():
    code = "import sys, chainrule; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_the_extra_one_line_says_what_to_install():
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import chainrule as cr\n"
        "try:\n    cr.distributed.rank()\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and 'pip install "chainrule[distributed]"' in lines[0]


def test_all_reduce_is_a_primitive_whose_gradient_is_an_all_reduce():
    assert cr.PRIMITIVES["all_reduce"].formulas
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = dist.all_reduce(x * x, op="mean")
    assert y.grad_fn.prim is cr.PRIMITIVES["all_reduce"]
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data)
    for op in ("sum", "mean"):
        assert cr.gradcheck(lambda a, op=op: dist.all_reduce(a, op=op) ** 3,
                            (cr.tensor(np.array([0.3, -1.2]), requires_grad=True),))  # fmt: skip
        assert cr.gradgradcheck(lambda a, op=op: dist.all_reduce(a * a, op=op),
                                (cr.tensor(np.array([0.7, 1.1]), requires_grad=True),))  # fmt: skip
    _, tangent = cr.jvp(lambda a: dist.all_reduce(a), (np.array([1.0, 2.0]),),
                        (np.array([0.5, 0.25]),))  # fmt: skip
    np.testing.assert_allclose(tangent.data, [0.5, 0.25])


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    dtype=st.sampled_from([np.float32, np.float64]),
    op=st.sampled_from(["sum", "mean"]),
)
def test_all_reduce_keeps_shape_and_dtype(shape, dtype, op):
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    y = dist.all_reduce(cr.tensor(x), op=op)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y.data, x)  # one rank: the sum is x itself


def test_all_reduce_shows_in_explain():
    ex = cr.explain(lambda a: dist.all_reduce(a * 2).sum(), a=[1.0, 2.0])
    assert "all_reduce" in ex.to_text()


def test_bad_op_is_one_clear_error():
    with pytest.raises(ValueError, match="op must be 'sum' or 'mean'"):
        dist.all_reduce(cr.tensor([1.0]), op="max")


def test_all_gather_stacks_the_ranks():
    out = dist.all_gather(cr.tensor([[1.0, 2.0]]))
    assert out.shape == (1, 1, 2)


def test_broadcast_object_is_json_only():
    obj = {"a": [1, 2.5, "x"], "b": None, "n": np.int64(3)}
    assert dist.broadcast_object(obj) == {"a": [1, 2.5, "x"], "b": None, "n": 3}
    with pytest.raises(TypeError, match="JSON only"):
        dist.broadcast_object({"s": {1, 2}})


def test_broadcast_state_round_trips_a_checkpoint():
    model = _mlp()
    opt = cr.optim.Adam(model.parameters(), lr=0.1)
    model(cr.ones(2, 5)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "arr": np.arange(3),
             "nested": [{"x": 1.5}]}  # fmt: skip
    back = dist.broadcast_state(state)
    for k, v in state["model"].items():
        np.testing.assert_array_equal(back["model"][k].data, v.data)
    np.testing.assert_array_equal(back["arr"], np.arange(3))
    assert back["nested"] == [{"x": 1.5}]
    fresh = cr.optim.Adam(_mlp().parameters(), lr=0.1)
    fresh.load_state_dict(back["opt"])


def test_broadcast_parameters_keeps_values_on_one_rank():
    model = _mlp()
    before = {k: v.data.copy() for k, v in model.state_dict().items()}
    dist.broadcast_parameters(model)
    dist.broadcast_parameters(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k])
    with pytest.raises(TypeError, match="Module or a dict"):
        dist.broadcast_parameters([1, 2])


@pytest.mark.parametrize("bucket_mb", [25, 1e-4])
@pytest.mark.parametrize("deterministic", [False, True])
def test_ddp_on_one_rank_gives_the_plain_gradients(bucket_mb, deterministic):
    plain, wrapped = _mlp(), _mlp()
    ddp = dist.DistributedDataParallel(wrapped, bucket_mb=bucket_mb, deterministic=deterministic)
    if bucket_mb < 1:
        assert len(ddp.bucket_sizes) == 4  # 56 bytes is above the limit: one per parameter
    x = np.random.default_rng(1).normal(size=(6, 5))
    for _ in range(2):  # gradients accumulate, as without the wrapper
        plain(cr.tensor(x)).pow(2).sum().backward()
        ddp(cr.tensor(x)).pow(2).sum().backward()
    for p, q in zip(plain.parameters(), wrapped.parameters()):
        np.testing.assert_allclose(q.grad.data, p.grad.data, rtol=1e-14)
    # the wrapped forward leaves the module's own parameters in place
    assert all(isinstance(p, cr.nn.Parameter) for p in wrapped.parameters())
    assert wrapped[0].weight is list(wrapped.parameters())[0]


def test_ddp_unused_parameter_gets_zero_gradient():
    class TwoHeads(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = cr.nn.Linear(3, 2)
            self.unused = cr.nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    model = TwoHeads()
    ddp = dist.DistributedDataParallel(model)
    ddp(cr.ones(4, 3)).sum().backward()
    np.testing.assert_array_equal(model.unused.weight.grad.data, 0)
    assert model.used.weight.grad.data.any()


def test_ddp_refuses_a_second_backward_through_one_graph():
    ddp = dist.DistributedDataParallel(_mlp())
    out = ddp(cr.ones(2, 5, dtype=cr.float64)).sum()
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already reduced"):
        out.backward()


def test_ddp_without_grad_and_the_bare_module_are_local():
    model = _mlp()
    ddp = dist.DistributedDataParallel(model)
    with cr.no_grad():
        assert ddp(cr.ones(1, 5, dtype=cr.float64)).grad_fn is None
    model(cr.ones(1, 5, dtype=cr.float64)).sum().backward()  # no wrapped pass waiting
    assert model[0].weight.grad is not None


def test_ddp_checks_its_arguments():
    with pytest.raises(TypeError, match="wraps a cr.nn.Module"):
        dist.DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_mb"):
        dist.DistributedDataParallel(_mlp(), bucket_mb=0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), replicas=st.integers(1, 5), shuffle=st.booleans(),
       drop_last=st.booleans(), epoch=st.integers(0, 3))  # fmt: skip
def test_sampler_shards_are_equal_disjoint_and_cover(n, replicas, shuffle, drop_last, epoch):
    if drop_last and n < replicas:
        return
    shards = []
    for r in range(replicas):
        s = dist.DistributedSampler(range(n), shuffle=shuffle, seed=7, drop_last=drop_last,
                                    num_replicas=replicas, rank=r)  # fmt: skip
        s.set_epoch(epoch)
        shards.append(list(s))
        assert len(shards[-1]) == len(s)
    assert len({len(x) for x in shards}) == 1
    flat = [i for x in shards for i in x]
    if drop_last:
        assert len(set(flat)) == len(flat) == (n // replicas) * replicas
    else:
        assert set(flat) == set(range(n))
        assert len(flat) - len(set(flat)) == len(flat) - n < replicas  # padding only


def test_sampler_epochs_differ_and_repeat():
    s = dist.DistributedSampler(range(50), seed=3, num_replicas=1, rank=0)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first
    s.set_epoch(0)
    assert list(s) == first
    with pytest.raises(ValueError, match="rank 2 of 2"):
        dist.DistributedSampler(range(5), num_replicas=2, rank=2)


def test_save_and_load_on_one_rank(tmp_path):
    path = tmp_path / "m.safetensors"
    model = _mlp()
    dist.save(model.state_dict(), path)
    back = dist.load(path)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(back[k].data, v.data)
    assert dist.on_main(lambda: 42) == 42


def test_train_refuses_a_batch_not_divisible_by_the_ranks(monkeypatch):
    monkeypatch.setattr(dist, "init", lambda: None)
    monkeypatch.setattr(dist, "size", lambda: 3)
    monkeypatch.setattr(dist, "rank", lambda: 0)
    with pytest.raises(UsageError) as info:
        MPITeam(100, None, print)
    message = str(info.value)
    assert "\n" not in message and "--batch-size 100" in message and "99 or 102" in message


def test_blas_threads_default_and_override(monkeypatch):
    threads, why = dist.set_blas_threads()
    assert threads >= 1 and "cores" in why
    monkeypatch.setenv("CHAINRULE_BLAS_THREADS", "1")
    assert dist.set_blas_threads() == (1, "from CHAINRULE_BLAS_THREADS")
    assert dist.set_blas_threads(2) == (2, "as asked")


def test_train_help_says_how_to_run_on_mpi():
    out = subprocess.run([sys.executable, "-m", "chainrule", "train", "--help"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    text = " ".join(out.stdout.split())
    assert "mpiexec -n N chainrule train" in text and "--blas-threads" in text


@pytest.mark.parametrize(
    "name",
    [
        "chainrule.distributed",
        "chainrule.distributed.collectives",
        "chainrule.distributed.ddp",
        "chainrule.distributed.sampler",
    ],
)
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_reference_example_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    doc = Path(__file__).parent.parent / "docs" / "reference" / "distributed.md"
    block = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)[0]
    block = block.replace("/tmp/model.safetensors", str(tmp_path / "model.safetensors"))
    exec(compile(block, "distributed.md", "exec"), {})
    assert (tmp_path / "model.safetensors").exists()
