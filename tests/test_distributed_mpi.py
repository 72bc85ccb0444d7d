"""cr.distributed on two ranks: run by CI as ``mpiexec -n 2 python -m pytest -m mpi``.

Every test here runs on both ranks at once (the same tests, in the same order:
pytest-randomly is off in that run). The tests that start ``mpiexec`` themselves
run it from rank 0 only, while rank 1 waits without spinning, and share the result.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed as dist

pytestmark = pytest.mark.mpi


@pytest.fixture(autouse=True, scope="module")
def _two_ranks():
    if not dist.launched_by_mpi():
        pytest.fail("the mpi tests run under mpiexec -n 2 (see .ci/run), not alone")
    assert dist.size() == 2


def _model(seed, dtype=np.float64):
    cr.nn.manual_seed(seed)
    model = cr.nn.Sequential(cr.nn.Linear(5, 16), cr.nn.Tanh(), cr.nn.Linear(16, 3))
    return model.double() if dtype == np.float64 else model


def _gathered(t):
    return dist.all_gather(t).data


def _same_on_every_rank(model):
    for p in model.parameters():
        g = _gathered(p)
        np.testing.assert_array_equal(g[0], g[1])


def test_broadcast_parameters_makes_the_ranks_identical():
    model = _model(seed=10 + dist.rank())  # different weights on each rank
    assert not np.array_equal(*_gathered(model[0].weight))
    dist.broadcast_parameters(model)
    _same_on_every_rank(model)
    assert dist.broadcast_object({"r": dist.rank()}) == {"r": 0}


def test_all_reduce_values_and_gradients():
    x = cr.tensor(np.full(3, dist.rank() + 1.0), requires_grad=True)
    y = dist.all_reduce(x, op="sum")
    np.testing.assert_array_equal(y.data, 3.0)
    # The total loss is the sum of the ranks' losses: d/dx_r sum_s sum(y_s) = 2.
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * 2 * 3.0)
    z = cr.tensor(np.full(2, dist.rank() + 1.0), requires_grad=True)
    dist.all_reduce(z, op="mean").sum().backward()
    np.testing.assert_allclose(z.grad.data, 1.0)


def test_all_reduce_refuses_unequal_shapes_on_every_rank():
    with pytest.raises(ValueError, match="arrays differ"):
        dist.all_reduce(cr.tensor(np.zeros(2 + dist.rank())))


def _train(model, steps, x, y, ddp_kwargs=None):
    net = dist.DistributedDataParallel(model, **ddp_kwargs) if ddp_kwargs is not None else model
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        loss = cr.nn.functional.cross_entropy(net(cr.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@pytest.mark.parametrize("bucket_mb", [25, 1e-3])
def test_two_half_batches_give_the_one_rank_full_batch_result(bucket_mb):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(12, 5)), rng.integers(0, 3, 12)
    alone = _train(_model(1), 4, x, y)
    half = slice(6 * dist.rank(), 6 * dist.rank() + 6)
    together = _train(_model(1), 4, x[half], y[half], {"bucket_mb": bucket_mb})
    for p, q in zip(alone.parameters(), together.parameters()):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-12, atol=1e-14)
    _same_on_every_rank(together)


def test_an_unused_parameter_does_not_hang_and_gets_zero():
    class Heads(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = cr.nn.Linear(3, 2).double()
            self.b = cr.nn.Linear(3, 2).double()  # used on rank 1 only
            self.never = cr.nn.Linear(3, 2).double()

        def forward(self, x):
            out = self.a(x)
            return out + self.b(x) if dist.rank() == 1 else out

    model = Heads()
    ddp = dist.DistributedDataParallel(model, bucket_mb=1e-4)  # many buckets
    ddp(cr.ones(4, 3, dtype=cr.float64)).sum().backward()
    np.testing.assert_array_equal(model.never.weight.grad.data, 0)
    # b's gradient is rank 1's (4 rows of ones) averaged with rank 0's zeros.
    np.testing.assert_allclose(model.b.weight.grad.data, np.full((2, 3), 2.0))
    np.testing.assert_allclose(model.a.weight.grad.data, np.full((2, 3), 4.0))


def test_sampler_shards_are_disjoint_equal_and_cover():
    for n, drop_last in ((10, False), (11, False), (11, True)):
        s = dist.DistributedSampler(range(n), seed=4, drop_last=drop_last)
        s.set_epoch(2)
        shards = _gathered(cr.tensor(s.indices()))  # equal lengths, or all_gather refuses
        flat = shards.ravel().tolist()
        if drop_last:
            assert len(set(flat)) == len(flat) == n - n % 2
        else:
            assert set(flat) == set(range(n)) and len(flat) - n == n % 2


def test_deterministic_gives_bit_identical_weights_over_two_runs():
    rng = np.random.default_rng(8 + dist.rank())
    x, y = rng.normal(size=(16, 5)).astype(np.float32), rng.integers(0, 3, 16)
    runs = [
        _train(_model(2, np.float32), 5, x, y, {"deterministic": True, "bucket_mb": 1e-3})
        for _ in range(2)
    ]
    for p, q in zip(*(m.parameters() for m in runs)):
        assert p.data.tobytes() == q.data.tobytes()
    _same_on_every_rank(runs[0])


# ------------------------------------------------------------------ whole programs
def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else "mpiexec"


def _clean_env():
    # A fresh job: without the launcher variables of the job this test runs in.
    prefixes = ("PMI_", "HYDRA_", "MPI_", "OMPI_", "PMIX_", "MPIR_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _from_rank0(fn):
    """``fn()`` on rank 0, its JSON result on both; rank 1 sleeps while it waits."""
    result = fn() if dist.rank() == 0 else None
    request = dist.world.comm().Ibarrier()
    while not request.Test():
        time.sleep(0.05)
    return dist.broadcast_object(result)


FAIL_SCRIPT = """
import chainrule as cr
cr.distributed.init()
if cr.distributed.rank() == 1:
    raise RuntimeError("rank one gives up")
cr.distributed.barrier()   # rank 0 would wait here forever without the abort hook
"""


def test_one_rank_raising_ends_both_with_its_message():
    def run():
        start = time.monotonic()
        try:
            command = [_mpiexec(), "-n", "2", sys.executable, "-c", FAIL_SCRIPT]
            out = subprocess.run(
                command, capture_output=True, text=True, timeout=60, env=_clean_env()
            )
        except subprocess.TimeoutExpired:
            return {"code": None, "seconds": 60, "text": "hung"}
        return {"code": out.returncode, "seconds": time.monotonic() - start,
                "text": out.stdout + out.stderr}  # fmt: skip

    result = _from_rank0(run)
    assert result["code"] not in (0, None), result
    assert result["seconds"] < 30
    assert "rank one gives up" in result["text"] and "[rank 1]" in result["text"]


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _weights(path):
    return {k: np.asarray(v.data) for k, v in cr.load(path)["model"].items()}


def test_mpiexec_train_matches_one_process(tmp_path_factory):
    def run():
        base = tmp_path_factory.mktemp("train")
        flags = ["train", "--dataset", "digits", "--epochs", "2", "--no-progress"]
        one, two = str(base / "one"), str(base / "two")
        alone = [sys.executable, "-m", "chainrule", *flags, "--out", one]
        together = [_mpiexec(), "-n", "2", sys.executable, "-m", "chainrule", *flags, "--out", two]
        a = subprocess.run(alone, capture_output=True, text=True, timeout=600, env=_clean_env())
        b = subprocess.run(together, capture_output=True, text=True, timeout=600, env=_clean_env())
        if a.returncode or b.returncode:
            return {"error": a.stdout + a.stderr + b.stdout + b.stderr}
        wa, wb = (
            _weights(os.path.join(one, "checkpoint.safetensors")),
            _weights(os.path.join(two, "checkpoint.safetensors")),
        )
        ma, mb = (_read_json(os.path.join(d, "metrics.json")) for d in (one, two))
        return {
            "rel": {k: float(np.linalg.norm(wb[k] - wa[k]) / np.linalg.norm(wa[k])) for k in wa},
            "acc": [ma["final"]["test_accuracy"], mb["final"]["test_accuracy"]],
            "files": sorted(os.listdir(two)),
            "stdout": b.stdout,
        }

    result = _from_rank0(run)
    assert "error" not in result, result.get("error")
    assert max(result["rel"].values()) < 1e-5, result["rel"]
    assert result["acc"][0] == result["acc"][1]
    assert result["files"] == ["checkpoint.safetensors", "curves.png", "metrics.json"]
    # rank 0 alone prints: one "done" line, one start line naming the BLAS threads
    assert result["stdout"].count("done: test accuracy") == 1
    assert result["stdout"].count("BLAS threads per rank") == 1


def test_checkpoints_are_written_by_rank0_and_read_by_every_rank(tmp_path):
    folder = dist.broadcast_object(str(tmp_path))  # rank 0's folder, for both
    path = os.path.join(folder, "shared.safetensors")
    model = _model(seed=20 + dist.rank())
    dist.save(model.state_dict(), path)
    back = dist.load(path)
    for name, p in model.state_dict().items():
        g = _gathered(back[name])
        np.testing.assert_array_equal(g[0], g[1])  # every rank read rank 0's file
        if dist.rank() == 0:
            np.testing.assert_array_equal(g[0], p.data)
    with pytest.raises(OSError, match="No such file"):
        dist.load(os.path.join(folder, "missing.safetensors"))


def test_ctrl_c_on_mpiexec_stops_every_rank_with_a_complete_checkpoint(tmp_path_factory):
    import signal

    def run():
        out = str(tmp_path_factory.mktemp("ctrl-c") / "run")
        command = [
            _mpiexec(),
            "-n",
            "2",
            sys.executable,
            "-m",
            "chainrule",
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "200",
            "--no-progress",
            "--out",
            out,
        ]
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_clean_env()
        )
        lines = []
        for line in proc.stdout:  # after the first epoch's line: Ctrl-C, as a terminal sends
            lines.append(line)
            if line.startswith("epoch 1/200"):
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=120)
        state = cr.load(os.path.join(out, "checkpoint.safetensors"))
        return {
            "code": proc.returncode,
            "text": "".join(lines) + rest,
            "epoch": int(state["epoch"]),
            "files": sorted(os.listdir(out)),
        }

    result = _from_rank0(run)
    assert result["code"] != 0, result
    assert "interrupted: checkpoint saved" in result["text"], result["text"]
    assert 1 <= result["epoch"] < 200
    assert result["files"] == ["checkpoint.safetensors", "curves.png", "metrics.json"]


# ------------------------------------------------------------------ gradients as bucket views
def test_accumulated_replaced_and_dropped_grads_match_one_rank():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(24, 5)), rng.integers(0, 3, 24)
    alone, wrapped = _model(4), _model(4)
    ddp = dist.DistributedDataParallel(wrapped, bucket_mb=1e-3)
    for step, micro in enumerate((slice(0, 12), slice(12, 24), slice(0, 12))):
        for net, model, rows in ((alone, alone, micro), (ddp, wrapped, None)):
            if rows is None:  # this rank's half of the micro-batch
                rows = slice(micro.start + 6 * dist.rank(), micro.start + 6 * dist.rank() + 6)
            if step == 2:  # the user's own .grad (the same on both ranks), and one dropped
                for p in model.parameters():
                    p.grad = cr.tensor(np.full(p.shape, 0.25))
                model[2].bias.grad = None
            loss = cr.nn.functional.cross_entropy(net(cr.tensor(x[rows])), y[rows])
            loss.backward()  # no zero_grad: the micro-batches' gradients add up
        for p, q in zip(alone.parameters(), wrapped.parameters()):
            np.testing.assert_allclose(q.grad.data, p.grad.data, rtol=1e-12, atol=1e-14)
    _same_on_every_rank(wrapped)
    for p in wrapped.parameters():
        np.testing.assert_array_equal(*_gathered(p.grad))


def test_a_generator_waits_through_the_discriminators_backward():
    # GAN-style: a backward that reaches no rank's generator pass leaves it waiting.
    rng = np.random.default_rng(12)
    z = rng.normal(size=(8, 5))
    gen, disc = _model(5), cr.nn.Sequential(cr.nn.Linear(3, 1)).double()
    g_ddp, d_ddp = dist.DistributedDataParallel(gen), dist.DistributedDataParallel(disc)
    half = slice(4 * dist.rank(), 4 * dist.rank() + 4)
    fake = g_ddp(cr.tensor(z[half]))
    d_ddp(fake.detach()).sum().backward()
    assert all(p.grad is None for p in gen.parameters())
    d_ddp(fake).sum().backward()
    ref_gen, ref_disc = _model(5), cr.nn.Sequential(cr.nn.Linear(3, 1)).double()
    ref_disc.load_state_dict(disc.state_dict())
    (ref_disc(ref_gen(cr.tensor(z))).sum() / 2).backward()  # the mean of the ranks' sums
    for p, q in zip(ref_gen.parameters(), gen.parameters()):
        np.testing.assert_allclose(q.grad.data, p.grad.data, rtol=1e-12, atol=1e-14)


NO_GRADIENT_SCRIPT = """
import json
import numpy as np
import chainrule as cr
from chainrule import distributed as dist

class Maybe(cr.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
        self.skip = False

    def forward(self, x):
        return x[:, :2] * 1.0 if self.skip else self.net(x)

dist.init()
r = dist.rank()
cr.nn.manual_seed(0)
model = Maybe().double()
ddp = dist.DistributedDataParallel(model, bucket_mb=1e-4)  # one bucket per parameter
x = cr.tensor(np.arange(15.0).reshape(5, 3) / 10, requires_grad=True)
ref = Maybe().double()
ref.load_state_dict(model.state_dict())
ref(x).sum().backward()
want = {n: p.grad.data / 2 for n, p in ref.named_parameters()}  # rank 0's, with rank 1's zeros
worst = {}
for case in ("rank 1's loss ignores the output", "rank 1's forward reads no parameter",
             "rank 1's backward is of a tensor unconnected to the module"):
    for p in model.parameters():
        p.grad = None
    model.skip = r == 1 and "reads no" in case
    out = ddp(x)
    if r == 1 and "ignores" in case:
        loss = (x * 2).sum()
    elif r == 1 and "unconnected" in case:
        loss = cr.tensor(3.0, requires_grad=True) * 2
    else:
        loss = out.sum()
    loss.backward()
    # (without the fix rank 1 gets here with no gradients and waits in all_gather,
    # while rank 0 waits for rank 1's buckets)
    grads = {n: np.zeros(p.shape) if p.grad is None else p.grad.data
             for n, p in model.named_parameters()}
    worst[case] = max(float(np.abs(g - want[n]).max()) for n, g in grads.items())
    for g in grads.values():
        both = dist.all_gather(cr.tensor(g)).data
        assert np.array_equal(both[0], both[1])
if r == 0:
    print("RESULT " + json.dumps(worst))
"""


def test_a_rank_whose_backward_reaches_no_parameter_takes_part_with_zeros():
    def run():
        command = [_mpiexec(), "-n", "2", sys.executable, "-c", NO_GRADIENT_SCRIPT]
        try:
            out = subprocess.run(
                command, capture_output=True, text=True, timeout=90, env=_clean_env()
            )
        except subprocess.TimeoutExpired:
            return {"error": "hung: rank 0 waited for rank 1's buckets"}
        if out.returncode or "RESULT " not in out.stdout:
            return {"error": out.stdout + out.stderr}
        return json.loads(out.stdout.split("RESULT ", 1)[1])

    result = _from_rank0(run)
    assert "error" not in result, result.get("error")
    assert len(result) == 3
    for case, worst in result.items():
        assert worst < 1e-15, case


COUNT_READS_SCRIPT = """
import sys
import chainrule
import chainrule.serialization
from chainrule.cli import main

reads = []
real = chainrule.serialization.load

def counted(path, *args, **kwargs):
    reads.append(str(path))
    return real(path, *args, **kwargs)

chainrule.serialization.load = chainrule.load = counted
code = main(sys.argv[1:])
from chainrule.distributed import world
print(f"READS rank {world.comm().Get_rank()}: {len(reads)}", flush=True)
sys.exit(code)
"""


def test_resume_reads_the_checkpoint_on_rank0_only(tmp_path_factory):
    def run():
        out = str(tmp_path_factory.mktemp("resume") / "run")
        flags = ["--dataset", "digits", "--no-progress"]
        env = _clean_env()
        first = [sys.executable, "-m", "chainrule", "train", *flags, "--epochs", "1", "--out", out]
        made = subprocess.run(first, capture_output=True, text=True, timeout=300, env=env)
        if made.returncode:
            return {"error": made.stdout + made.stderr}
        ckpt = os.path.join(out, "checkpoint.safetensors")
        alone = [sys.executable, "-m", "chainrule", "train", "--epochs", "0", "--resume", ckpt]
        result = {"alone": subprocess.run(alone, capture_output=True, text=True, timeout=300,
                                          env=env).stdout}  # fmt: skip
        for epochs in ("0", "2"):  # evaluate, then train on (rewriting the checkpoint)
            command = [_mpiexec(), "-n", "2", sys.executable, "-c", COUNT_READS_SCRIPT, "train",
                       "--no-progress", "--epochs", epochs, "--resume", ckpt]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
            if done.returncode:
                return {"error": done.stdout + done.stderr}
            result[epochs] = done.stdout
        return result

    result = _from_rank0(run)
    assert "error" not in result, result.get("error")
    for epochs in ("0", "2"):
        text = result[epochs]
        assert "READS rank 0: 1" in text and "READS rank 1: 0" in text, text

    def evaluated(text):
        return [line for line in text.splitlines() if line.startswith("evaluated")]

    assert evaluated(result["0"]) == evaluated(result["alone"]) and evaluated(result["0"])
    assert result["2"].count("resumed from") == 1 and "done: test accuracy" in result["2"]
