"""Protected mode (issue 14, acceptance 5): without --auth, a request from another machine gets
403 with the hint; with --allow-unauthenticated it is served.

"Another machine" is a network namespace this test creates, joined to the test's namespace by a
veth pair with a /30 of 10.231.x.0 on its two ends only: the server listens on our end, curl runs
inside the namespace. No route to or from any outside address is added, and everything is
removed by name (and the server stopped by pid) in `finally` blocks.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import sextant_bin

IP = shutil.which("ip") or "/usr/sbin/ip"
HINT = "start the server with --auth (see docs/security.md), or --allow-unauthenticated"


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


class Peer:
    """A network namespace joined to ours by a veth pair: `host_ip` on our end, `peer_ip` in it."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.ns = f"sextant-sec-{tag}"
        self.here = f"sxh{tag}"
        self.there = f"sxp{tag}"
        used = run(IP, "-o", "addr", check=False).stdout
        nets = [n for n in range(256) if f"10.231.{n}." not in used]
        n = random.choice(nets)
        self.host_ip, self.peer_ip = f"10.231.{n}.1", f"10.231.{n}.2"

    def up(self):
        run(IP, "netns", "add", self.ns)
        run(IP, "link", "add", self.here, "type", "veth", "peer", "name", self.there)
        run(IP, "link", "set", self.there, "netns", self.ns)
        run(IP, "addr", "add", f"{self.host_ip}/30", "dev", self.here)
        run(IP, "link", "set", self.here, "up")
        run(IP, "netns", "exec", self.ns, IP, "addr", "add", f"{self.peer_ip}/30", "dev", self.there)
        run(IP, "netns", "exec", self.ns, IP, "link", "set", self.there, "up")
        run(IP, "netns", "exec", self.ns, IP, "link", "set", "lo", "up")

    def down(self):
        # Deleting the namespace deletes its end of the pair, which deletes ours; the second
        # command is for a setup that failed half-way.
        run(IP, "netns", "del", self.ns, check=False)
        run(IP, "link", "del", self.here, check=False)

    def curl(self, url):
        """GET `url` from inside the namespace: (status, body)."""
        r = run(IP, "netns", "exec", self.ns, "curl", "-sS", "--max-time", "20", "--noproxy", "*",
                "-o", "-", "-w", "\n%{http_code}", url, check=False)
        assert r.returncode == 0, f"curl failed from {self.ns}: {r.stderr}"
        body, _, code = r.stdout.rpartition("\n")
        return int(code), body


@pytest.fixture(scope="module")
def peer():
    if os.geteuid() != 0:
        pytest.skip("protected-mode test needs root to create a network namespace (not root here)")
    if not shutil.which("curl"):
        pytest.skip("protected-mode test needs curl inside the namespace (curl not installed)")
    p = Peer()
    try:
        p.up()
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        p.down()
        detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) else str(e)
        pytest.skip(f"cannot create a network namespace and veth pair on this machine: {detail}")
    try:
        yield p
    finally:
        p.down()
        leftover = run(IP, "netns", "list", check=False).stdout
        assert p.ns not in leftover, f"namespace {p.ns} was not removed"


def free_port(ip):
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


class Server:
    """`sextant server` bound to `ip`, with its own stores; stopped by pid."""

    def __init__(self, ip, *flags):
        self.dir = tempfile.mkdtemp(prefix="sextant-security-")
        self.port = free_port(ip)
        self.url = f"http://{ip}:{self.port}"
        self.log = os.path.join(self.dir, "server.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sextant_bin(), "server", "--host", ip, "--port", str(self.port),
                 "--data-dir", self.dir, *flags],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def wait_listening(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {self.output()}"
            if "listening on" in self.output():
                return
            time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.output()}")

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def serving(ip, *flags):
    srv = Server(ip, *flags)
    try:
        srv.wait_listening()
    except BaseException:
        srv.stop()
        raise
    return srv


SEARCH = "/api/2.0/mlflow/experiments/search?max_results=10"


def test_without_auth_another_machine_is_refused_with_the_hint(peer):
    srv = serving(peer.host_ip)
    try:
        out = srv.output()
        assert "Authentication: off" in out and "Protected mode refuses" in out, out
        for path in (SEARCH, "/", "/health"):
            status, body = peer.curl(srv.url + path)
            assert status == 403, (path, status, body)
            err = json.loads(body)
            assert err["error_code"] == "PERMISSION_DENIED", err
            assert HINT in err["message"], err["message"]
            assert peer.peer_ip in err["message"], err["message"]
    finally:
        srv.stop()


def test_allow_unauthenticated_serves_another_machine(peer):
    srv = serving(peer.host_ip, "--allow-unauthenticated")
    try:
        assert "WARNING: who may connect: anyone" in srv.output(), srv.output()
        status, body = peer.curl(srv.url + SEARCH)
        assert status == 200, (status, body)
        assert "experiments" in json.loads(body), body
    finally:
        srv.stop()


def test_the_variable_turns_it_on_too(peer, monkeypatch):
    monkeypatch.setenv("SEXTANT_ALLOW_UNAUTHENTICATED", "1")
    srv = serving(peer.host_ip)
    try:
        status, body = peer.curl(srv.url + SEARCH)
        assert status == 200, (status, body)
    finally:
        srv.stop()
