"""``chainrule explain --serve``: the page on 127.0.0.1 at a free port, printed; Ctrl-C
stops it. And the choices that cannot go together get one line and status 2."""

import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from chainrule.commands.serve import HOST, make_server


def _ignore_sigint():
    # as a shell starts a program in the background: SIGINT ignored from the start
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(*words, ignored=False):
    return subprocess.Popen(
        [sys.executable, "-m", "chainrule", "explain", *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if ignored else None,
    )


def _address(proc):
    line = proc.stdout.readline()
    m = re.fullmatch(
        r"Serving the explanation at (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C to stop\)\n", line
    )
    assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
    return m.group(1), int(m.group(2))


@pytest.mark.parametrize(
    "words, expected",
    [
        ((), "backward · "),  # the seed's sigmoid
        (("--model", "mlp", "--dataset", "digits", "--depth", "2"), "Layer by layer"),
    ],
)
def test_serve_prints_the_address_and_serves_the_page_until_ctrl_c(words, expected):
    proc = _start("--serve", *words)
    try:
        url, port = _address(proc)
        assert port > 0
        page = urllib.request.urlopen(url, timeout=30).read().decode("utf-8")
        assert page.startswith("<!DOCTYPE html>") and expected in page
        assert 'id="cr-data"' in page and "script-src 'sha256-" in page
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "other", timeout=30)
        assert err.value.code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0, errors
    assert out.strip() == "stopped" and "Traceback" not in errors


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_server_stops_on_a_signal_even_if_sigint_was_ignored(sig):
    proc = _start("--serve", ignored=True)
    try:
        _address(proc)
    finally:
        proc.send_signal(sig)
        out, errors = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.strip() == "stopped", errors


def test_the_server_listens_on_loopback_only():
    server = make_server("<p>page</p>")
    try:
        host, port = server.server_address[:2]
        assert host == HOST == "127.0.0.1" and port > 0
    finally:
        server.server_close()


@pytest.mark.parametrize(
    "words, message",
    [
        (
            ("--serve", "--format", "text"),
            "--serve shows the HTML page; --format text cannot be served",
        ),
        (("--serve", "--out", "page.html"), "--serve and --out: choose one"),
    ],
)
def test_serve_with_a_choice_it_cannot_honour_says_so(words, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", *words],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert not (tmp_path / "page.html").exists()


def test_out_writes_the_interactive_page(tmp_path):
    out = tmp_path / "page.html"
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", "--format", "html", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    page = out.read_text(encoding="utf-8")
    assert '<svg class="cr-graph"' in page and 'id="cr-next"' in page
