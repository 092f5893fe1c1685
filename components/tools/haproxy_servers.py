"""Drain or ready servers in every load balancer (haproxy) through its stats page.

Run in kolla_toolbox by `kp haproxy ACTION` (components/tools/kp), ACTION `drain` or `ready`, with the
parameters as JSON on stdin: "lbs" [[host, stats URL], ...], "user", "password" (the stats page's),
"servers" [[backend, server], ...], "timeout" (seconds). A load balancer that cannot be reached is
skipped: it serves nothing either. `drain` then waits until the servers have no session left (at most
the timeout; the host is stopped anyway after it); `ready` waits until every load balancer sees them UP.
Python 3 standard library only: it runs in whatever python kolla_toolbox has.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class Stats:
    """One load balancer's stats page."""

    def __init__(self, host: str, url: str, user: str, password: str) -> None:
        self.host, self.url = host, url
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, url: str, data: bytes | None = None) -> tuple[str, str]:
        request = urllib.request.Request(url, data=data, headers=self.headers)
        with self.opener.open(request, timeout=5) as response:
            return response.read().decode(), response.geturl()

    def set_state(self, backend: str, server: str, action: str) -> None:
        """The stats page's admin form; haproxy redirects to `;st=DONE` when it applied the action."""
        form = urllib.parse.urlencode({"s": server, "action": action, "b": backend}).encode()
        _, final = self._call(self.url, form)
        if "st=DONE" not in final:
            sys.exit(f"haproxy on {self.host} refused to {action} {backend}/{server} ({final})")

    def servers(self) -> dict[tuple[str, str], dict[str, str]]:
        text = self._call(self.url + ";csv")[0].lstrip("# ")
        return {(row["pxname"], row["svname"]): row for row in csv.DictReader(io.StringIO(text))}


def pending(stats: Stats, servers: list[tuple[str, str]], action: str) -> list[str]:
    """What still keeps `action` from being done on this load balancer."""
    rows = stats.servers()
    waiting = []
    for backend, server in servers:
        row = rows.get((backend, server), {})
        if action == "drain" and int(row.get("scur") or 0) > 0:
            waiting.append(f"{backend}/{server} on {stats.host}: {row['scur']} sessions")
        if action == "ready" and row.get("status") not in ("UP", "no check"):
            waiting.append(f"{backend}/{server} on {stats.host}: {row.get('status', 'absent')}")
    return waiting


def main() -> None:
    action = sys.argv[1]
    params = json.load(sys.stdin)
    servers = [(backend, server) for backend, server in params["servers"]]
    reachable = []
    for host, url in params["lbs"]:
        stats = Stats(host, url, params["user"], params["password"])
        try:
            for backend, server in servers:
                stats.set_state(backend, server, action)
        except (OSError, urllib.error.URLError) as exc:
            print(f"haproxy on {host} not reachable ({exc}): skipped", file=sys.stderr)
            continue
        reachable.append(stats)
    deadline = time.time() + params["timeout"]
    while True:
        waiting = []
        for stats in reachable:
            try:
                waiting += pending(stats, servers, action)
            except (OSError, urllib.error.URLError) as exc:
                print(f"haproxy on {stats.host} stopped answering ({exc}): skipped", file=sys.stderr)
        if not waiting:
            break
        if time.time() > deadline:
            if action == "drain":
                print(f"still in flight after {params['timeout']} s, stopping anyway: {'; '.join(waiting)}")
                break
            sys.exit(f"the load balancers do not see it UP after {params['timeout']} s: {'; '.join(waiting)}")
        time.sleep(1)
    names = ", ".join(f"{backend}/{server}" for backend, server in servers)
    print(f"{action}: {names} on {', '.join(s.host for s in reachable) or 'no load balancer'}")


if __name__ == "__main__":
    main()
