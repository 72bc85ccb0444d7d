"""Under ``mpiexec`` (the tests marked ``mpi``), a test that fails on one rank
aborts every rank: the others would otherwise wait forever in the next collective,
or go on out of step. mpiexec then exits non-zero, so CI fails.

Also the headless browser the page tests share (one per test module)."""

import pytest


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
