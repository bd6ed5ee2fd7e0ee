"""Real fencepost processes for the tests: one node or a 3-node cluster on free ports,
from the binary in $FENCEPOST_BIN. No mocks: every test talks to these.

Rules as in the repo's other suites: never a fixed port, never sleep for a state (poll
for it with a deadline)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Callable, Dict, List, Optional, TypeVar

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SECRET = "fencepost-python-client-tests"
T = TypeVar("T")


def bin_path() -> str:
    """The server binary under test."""
    return os.environ.get("FENCEPOST_BIN") or os.path.join(ROOT, "target", "debug", "fencepost")


def free_ports(n: int) -> List[int]:
    """n distinct free TCP ports (bound together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(timeout: float, what: str, fn: Callable[[], Optional[T]], interval: float = 0.05) -> T:
    """Poll fn() until it returns something truthy (returned), else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for: {what}")
        time.sleep(interval)


def pairs(v: object) -> Dict[str, object]:
    """RAFT INFO (RESP2 flat array or RESP3 map) as a dict."""
    if isinstance(v, dict):
        return {k.decode() if isinstance(k, bytes) else str(k): x for k, x in v.items()}
    assert isinstance(v, list), v
    return {(v[i].decode() if isinstance(v[i], bytes) else str(v[i])): v[i + 1] for i in range(0, len(v), 2)}


class Node:
    """One fencepost process; start() again restarts it on the same ports and data."""

    def __init__(
        self, node_id: int, port: int, raft_port: int, base: str, extra: List[str],
        password: Optional[str] = None,
    ) -> None:
        self.node_id = node_id
        self.port = port
        self.raft_port = raft_port
        self.dir = os.path.join(base, f"n{node_id}")
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "fencepost.log")
        self.extra = extra
        self.password = password
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def addr(self) -> str:
        """host:port of its RESP listener."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the process (output to its log file)."""
        args = [bin_path(), "--node-id", str(self.node_id), "--port", str(self.port),
                "--raft-port", str(self.raft_port), "--data-dir", os.path.join(self.dir, "data"),
                *self.extra]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def alive(self) -> bool:
        """The process is running."""
        return self.proc is not None and self.proc.poll() is None

    def raft_info(self) -> Optional[Dict[str, object]]:
        """RAFT INFO, or None when the node does not answer."""
        c = redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                        socket_timeout=2, socket_connect_timeout=1)
        try:
            return pairs(c.execute_command("RAFT", "INFO"))  # type: ignore[no-untyped-call]
        except Exception:
            return None
        finally:
            c.close()

    def kill(self) -> None:
        """SIGKILL, as a power cut."""
        if self.proc is not None and self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, n: int = 30) -> str:
        """The last n lines of its log."""
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


class Cluster:
    """`size` nodes started with one --initial-cluster list (size 1: a lone node)."""

    def __init__(
        self, size: int = 3, extra: Optional[List[str]] = None, password: Optional[str] = None
    ) -> None:
        self.base = tempfile.mkdtemp(prefix="fencepost-pyclient-")
        self.nodes: Dict[int, Node] = {}
        last: Optional[BaseException] = None
        for _ in range(3):
            ports = free_ports(2 * size)
            initial = ",".join(
                f"{i + 1}=127.0.0.1:{ports[2 * i]}/127.0.0.1:{ports[2 * i + 1]}" for i in range(size)
            )
            flags = list(extra or [])
            if password:
                flags += ["--requirepass", password]
            if size > 1:
                flags += ["--initial-cluster", initial, "--cluster-secret", SECRET, "--worker-threads", "1"]
            self.nodes = {i + 1: Node(i + 1, ports[2 * i], ports[2 * i + 1], self.base, flags, password)
                          for i in range(size)}
            for n in self.nodes.values():
                shutil.rmtree(os.path.join(n.dir, "data"), ignore_errors=True)
                n.start()
            try:
                self.leader(timeout=30)
                return
            except AssertionError as e:
                last = e
                tails = " ".join(n.log_tail(20) for n in self.nodes.values()).lower()
                self.kill_all()
                if "in use" not in tails:
                    break
        raise RuntimeError(f"cluster did not start: {last}\n{self.logs()}")

    @property
    def addrs(self) -> List[str]:
        """Every node's host:port."""
        return [n.addr for n in self.nodes.values()]

    def leader(self, timeout: float = 20.0) -> int:
        """The id every live node names as leader, and which says it leads."""
        def agreed() -> Optional[int]:
            seen = set()
            for n in self.nodes.values():
                if not n.alive():
                    continue
                info = n.raft_info()
                if info is None or info.get("leader-id") is None:
                    return None
                seen.add(int(str(info["leader-id"])))
            if len(seen) != 1:
                return None
            lid = seen.pop()
            info = self.nodes[lid].raft_info() if lid in self.nodes else None
            role = info.get("role") if info else None
            return lid if role in (b"leader", "leader") else None

        return wait_until(timeout, f"nodes of {self.base} to agree on a leader", agreed)

    def logs(self) -> str:
        """Every node's log tail."""
        return "\n".join(f"--- node {i} ---\n{n.log_tail()}" for i, n in self.nodes.items())

    def kill_all(self) -> None:
        """SIGKILL every node."""
        for n in self.nodes.values():
            n.kill()

    def stop(self) -> None:
        """Kill every node and remove the data."""
        self.kill_all()
        shutil.rmtree(self.base, ignore_errors=True)
