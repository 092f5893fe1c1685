"""components/tools/haproxy_servers.py, the gates' load-balancer step, against a stats page that
answers as haproxy's does (admin form: a 303 to `;st=DONE`; `;csv`: pxname, svname, scur, status).
The real haproxy is exercised by the HA end-to-end tests; this pins the tool's own decisions."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

TOOL = Path(__file__).resolve().parent.parent / "components" / "tools" / "haproxy_servers.py"
AUTH = "Basic " + base64.b64encode(b"openstack:pw").decode()


class FakeHaproxy(ThreadingHTTPServer):
    """servers: (backend, server) -> {"scur": str, "status": str}; `sessions_end_after` polls later the
    drained sessions are gone, `up_after` polls later a ready server is UP."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.servers = {("keystone_internal_back", "h2"): {"scur": "3", "status": "UP"}}
        self.actions: list[tuple[str, str, str]] = []
        self.polls = 0
        self.sessions_end_after = 2
        self.up_after = 2
        self.refuse = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class Handler(BaseHTTPRequestHandler):
    server: FakeHaproxy

    def log_message(self, *args: object) -> None:
        pass

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != AUTH:
            self.send_response(401)
            self.end_headers()
            return False
        return True

    def do_POST(self) -> None:
        if not self._authorized():
            return
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        key = (form["b"][0], form["s"][0])
        self.server.actions.append((*key, form["action"][0]))
        if form["action"][0] == "drain":
            self.server.servers[key]["status"] = "DRAIN"
        self.send_response(303)
        self.send_header("Location", "/;st=DENY" if self.server.refuse else "/;st=DONE")
        self.end_headers()

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.endswith(";csv"):
            self.server.polls += 1
            for row in self.server.servers.values():
                if row["status"] == "DRAIN" and self.server.polls >= self.server.sessions_end_after:
                    row["scur"] = "0"
                if self.server.actions and self.server.actions[-1][2] == "ready":
                    row["status"] = "UP" if self.server.polls >= self.server.up_after else "DOWN"
            lines = ["# pxname,svname,scur,status"]
            lines += [f"{b},{s},{r['scur']},{r['status']}" for (b, s), r in self.server.servers.items()]
            body = ("\n".join(lines) + "\n").encode()
        else:
            body = b"<html>stats</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def haproxy() -> Iterator[FakeHaproxy]:
    server = FakeHaproxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def run_tool(action: str, lbs: list[list[str]], timeout: int = 10) -> subprocess.CompletedProcess[str]:
    params = {
        "lbs": lbs,
        "user": "openstack",
        "password": "pw",
        "servers": [["keystone_internal_back", "h2"]],
        "timeout": timeout,
    }
    return subprocess.run(
        [sys.executable, str(TOOL), action], input=json.dumps(params), capture_output=True, text=True, timeout=60
    )


def test_drain_sets_the_state_and_waits_for_the_sessions_to_end(haproxy):
    done = run_tool("drain", [["h1", haproxy.url]])
    assert done.returncode == 0, done.stderr
    assert haproxy.actions == [("keystone_internal_back", "h2", "drain")]
    assert haproxy.polls >= 2  # not before the sessions were gone
    assert "drain: keystone_internal_back/h2 on h1" in done.stdout


def test_ready_waits_until_the_load_balancer_sees_it_up(haproxy):
    haproxy.up_after = 3
    done = run_tool("ready", [["h1", haproxy.url]])
    assert done.returncode == 0, done.stderr
    assert haproxy.polls >= 3
    assert haproxy.actions[-1] == ("keystone_internal_back", "h2", "ready")


def test_a_server_never_up_fails_ready_saying_where(haproxy):
    haproxy.up_after = 10**6
    done = run_tool("ready", [["h1", haproxy.url]], timeout=2)
    assert done.returncode != 0
    assert "do not see it UP" in done.stderr and "keystone_internal_back/h2 on h1: DOWN" in done.stderr


def test_sessions_that_never_end_stop_waiting_but_not_the_drain(haproxy):
    haproxy.sessions_end_after = 10**6
    done = run_tool("drain", [["h1", haproxy.url]], timeout=2)
    assert done.returncode == 0
    assert "stopping anyway" in done.stdout


def test_an_unreachable_load_balancer_is_skipped(haproxy):
    done = run_tool("drain", [["h9", "http://127.0.0.1:9/"], ["h1", haproxy.url]])
    assert done.returncode == 0, done.stderr
    assert "haproxy on h9 not reachable" in done.stderr
    assert "on h1" in done.stdout


def test_a_refused_action_fails(haproxy):
    haproxy.refuse = True
    done = run_tool("drain", [["h1", haproxy.url]])
    assert done.returncode != 0 and "refused to drain keystone_internal_back/h2" in done.stderr
