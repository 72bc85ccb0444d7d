"""Under ``mpiexec`` (the tests marked ``mpi``), a test that fails on one rank
aborts every rank: the others would otherwise wait forever in the next collective,
or go on out of step. mpiexec then exits non-zero, so CI fails.

Also the headless browser the page tests share (one per test module), and the
Hypothesis profile CI runs under."""

import os

import pytest
from hypothesis import settings

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) draws the same examples on every run, so
# that whether a commit lands does not depend on which random examples one run
# drew; a run without the variable (the README's command) draws new ones each time,
# which is how property tests keep finding new cases.
settings.register_profile("ci", derandomize=True)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


@pytest.fixture(scope="module")
def browser():
    from _chromium import Chromium

    with Chromium() as c:
        yield c


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        from chainrule.distributed.world import launched_by_mpi, launcher_rank

        if launched_by_mpi():
            import sys

            from chainrule.distributed import world

            sys.stderr.write(
                f"[rank {launcher_rank()}] {item.nodeid} failed:\n{report.longreprtext}\n"
                "aborting every rank\n"
            )
            sys.stderr.flush()
            world.abort(1)


@pytest.fixture
def conv_backend_restored():
    """The convolution backend as it was before the test (tests switch it)."""
    import chainrule as cr

    before = cr.get_conv_backend()
    yield
    cr.set_conv_backend(before)


@pytest.fixture
def numba_kernels_at_any_size(monkeypatch):
    """The compiled kernels on, for arrays of any size (their size threshold at 0),
    and on again afterwards, whatever the test switched."""
    from chainrule.ops import compiled

    monkeypatch.setattr(compiled, "MIN_SIZE", 0)
    compiled.use_numba(True)
    yield
    compiled.use_numba(True)
