"""``chainrule explain ... --serve``: the explanation's page on 127.0.0.1, nowhere else.

The page is built once and served from memory by the standard library's HTTP
server, bound to the loopback address on a port the system picks free, so no
other machine can reach it and no port is ever taken from another program. The
address is printed; Ctrl-C (or SIGTERM) stops the server.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

#: the only address served: the page is for the person at this machine
HOST = "127.0.0.1"


def make_server(page: str, port: int = 0) -> ThreadingHTTPServer:
    """A server (not yet serving) that answers ``GET /`` with ``page``, on ``HOST``."""
    body = page.encode("utf-8")

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(404, "only / is served")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # a request per page view is not worth a line on the terminal

    return ThreadingHTTPServer((HOST, port), Page)


def serve(page: str, out: TextIO | None = None) -> int:
    """Serve ``page`` until Ctrl-C; prints the address first. Returns the exit status.

    The server runs on a thread of its own; the main thread only sleeps until a
    signal's handler notes it, then stops the server. (With the server on the main
    thread, the KeyboardInterrupt that Ctrl-C raises could land anywhere in it:
    once, in CI, inside the start of a request's thread, and the process never
    exited.)"""
    out = out or sys.stdout
    try:
        server = make_server(page)
    except OSError as exc:
        sys.stderr.write(f"chainrule explain: cannot serve on {HOST}: {exc.strerror or exc}\n")
        return 2
    stop: list[int] = []
    # Ctrl-C must stop it even where SIGINT was inherited as ignored (a program started
    # in the background by a shell), and so must a plain `kill` (SIGTERM)
    signal.signal(signal.SIGINT, lambda signum, frame: stop.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    with server:
        thread = threading.Thread(target=server.serve_forever, name="explain-server", daemon=True)
        thread.start()
        port = server.server_address[1]
        # from the first line on, a signal (even one sent on reading it) ends cleanly
        out.write(f"Serving the explanation at http://{HOST}:{port}/ (Ctrl-C to stop)\n")
        out.flush()
        while not stop:
            time.sleep(0.1)
        server.shutdown()
        thread.join()
        out.write("stopped\n")
    return 0
