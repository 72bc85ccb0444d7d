"""Instructions per unit of work, counted by valgrind's callgrind: a cost that does not
move with the load of a shared machine, for changes too small for wall-clock medians
to see (a few percent on B1).

    python benchmarks/instruction_counts.py                      # this checkout
    python benchmarks/instruction_counts.py --base /path/to/old  # and an older one

Each probe runs twice under callgrind, with ``n`` small and large; the difference,
divided by the extra units of work, cancels the start-up (imports, compiling). BLAS
runs on one thread (its idle threads spin, which callgrind counts). The base tree is
imported through PYTHONPATH, so it must be a checkout of chainrule (e.g. a
``git worktree add --detach /tmp/old <commit>``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# name -> (program taking n from argv, small n, large n, units of work per n, unit)
PROBES = {
    "B1 eager (500 sigmoids, forward + backward)": (
        """
import gc, sys
import chainrule as cr
def chain(z):
    for _ in range(500):
        z = 1 / (1 + cr.exp(-z))
    return z
gc.disable()
for _ in range(int(sys.argv[1])):
    z = cr.tensor(0.5, dtype="float64", requires_grad=True)
    chain(z).backward()
""",
        2,
        22,
        2000,
        "op",
    ),
    "B1 cr.jit (compiled value_and_grad)": (
        """
import gc, sys
import numpy as np
import chainrule as cr
def chain(z):
    for _ in range(500):
        z = 1 / (1 + cr.exp(-z))
    return z
f = cr.jit(cr.value_and_grad(chain))
for i in range(4):
    f(np.float64(0.5 + i * 0.01))
x = np.float64(0.5)
gc.disable()
for _ in range(int(sys.argv[1])):
    f(x)
""",
        2,
        42,
        1,
        "call",
    ),
    "B2 nn API step (784-512-256-10, batch 128, SGD)": (
        """
import gc, sys
import numpy as np
import chainrule as cr
from chainrule import nn
import chainrule.nn.functional as F
cr.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                      nn.Linear(256, 10))
opt = cr.optim.SGD(model.parameters(), lr=0.01)
rng = np.random.default_rng(0)
x = cr.tensor(rng.normal(size=(128, 784)).astype(np.float32))
y = cr.tensor(rng.integers(0, 10, 128))
gc.disable()
for _ in range(int(sys.argv[1])):
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
""",
        1,
        6,
        1,
        "step",
    ),
    "B3 cr.jit (120 small elementwise ops on (64,))": (
        """
import gc, sys
import numpy as np
import chainrule as cr
c = np.linspace(0, 1, 64)
def small(x):
    for _ in range(40):
        x = cr.exp(-cr.tanh((x + c) * 0.9))
    return x.sum()
f = cr.jit(cr.value_and_grad(small))
for i in range(4):
    f(np.full(64, 0.1 * i))
x = np.full(64, 0.3)
gc.disable()
for _ in range(int(sys.argv[1])):
    f(x)
""",
        2,
        42,
        1,
        "call",
    ),
}


def count(program: Path, n: int, tree: Path | None, out_dir: Path) -> int:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    out = out_dir / f"callgrind.{program.stem}.{n}.{os.getpid()}"
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(program),
            str(n),
        ],  # fmt: skip
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_unit(source: str, small: int, large: int, units: int, tree: Path | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "probe.py"
        program.write_text(source)
        a = count(program, small, tree, Path(tmp))
        b = count(program, large, tree, Path(tmp))
    return (b - a) / ((large - small) * units)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="an older chainrule checkout to compare with")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("instruction_counts: valgrind is not installed (apt-get install valgrind)")
        return 2
    here = Path(__file__).resolve().parent.parent
    for name, (source, small, large, units, unit) in PROBES.items():
        now = per_unit(source, small, large, units, here)
        line = f"{name}: {now:,.0f} instructions/{unit}"
        if args.base is not None:
            before = per_unit(source, small, large, units, args.base.resolve())
            line += f"  (base {before:,.0f}; ratio {now / before:.3f})"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
