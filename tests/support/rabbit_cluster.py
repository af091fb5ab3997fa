"""A three-node RabbitMQ cluster on this machine, for the scale-out tests (loopback only).

Each node is a ``rabbitmq-server`` of its own: its node name, AMQP and distribution ports, data
and log folders, an empty plugin list (no management), its own config file (the system's would
put it on 5672) and env file; all share an Erlang cookie in a HOME of their own, so the system's
broker and its cookie are never touched. The first node starts alone, the other two join it
through classic peer discovery. Quorum queues declared afterwards get a member on each node.

    cluster = RabbitCluster(tmp); cluster.start()    # ~20 s on two cores
    cluster.url(vhost)         # every node's URL, joined by commas (the first node first)
    cluster.kill(0)            # kill -9 that node's Erlang VM; cluster.restart(0) brings it back
    cluster.stop()

Needs the ``rabbitmq-server`` scripts (Debian: /usr/lib/rabbitmq/bin): ``require_cluster``
skips without them on a laptop and fails in CI.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Debian's /usr/sbin wrappers switch to the rabbitmq user (and its cookie): use the real scripts
_SCRIPT_FOLDERS = [Path("/usr/lib/rabbitmq/bin"), Path("/usr/lib/rabbitmq/sbin")]


def rabbitmq_scripts() -> Path | None:
    """The folder with rabbitmq-server and rabbitmqctl that runs as whoever calls it."""
    for folder in _SCRIPT_FOLDERS:
        if (folder / "rabbitmq-server").is_file() and (folder / "rabbitmqctl").is_file():
            return folder
    found = shutil.which("rabbitmq-server")
    if found and Path(found).with_name("rabbitmqctl").is_file():
        return Path(found).parent
    return None


def require_cluster() -> Path:
    """The scripts' folder; skip without them on a laptop, fail in CI."""
    folder = rabbitmq_scripts()
    if folder is not None:
        return folder
    if os.environ.get("CI"):
        pytest.fail("rabbitmq-server is not installed, and CI requires the cluster tests")
    pytest.skip("no rabbitmq-server to start a cluster with")


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports from 20000 to 45000 (a node's CLI takes its distribution
    port + 10000 to + 10010: still under 65535)."""
    ports: list[int] = []
    while len(ports) < count:
        port = 20000 + secrets.randbelow(25000)
        if port in ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class Node:
    name: str  # hubtest-…-1@localhost
    port: int  # AMQP
    dist_port: int  # Erlang distribution (and, + 10000, the CLI's)
    base: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.base / "beam.pid"

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


class RabbitCluster:
    """Three (or ``size``) RabbitMQ nodes in one cluster, started and stopped by the tests."""

    def __init__(self, directory: Path, size: int = 3, scripts: Path | None = None) -> None:
        self.directory = directory
        self.scripts = scripts or rabbitmq_scripts() or Path("/usr/lib/rabbitmq/bin")
        self.home = directory / "home"  # the cookie's home, for the nodes and rabbitmqctl
        token = uuid.uuid4().hex[:6]
        ports = free_ports(2 * size)
        self.nodes = [
            Node(
                f"hubtest-{token}-{i + 1}@localhost",
                ports[2 * i],
                ports[2 * i + 1],
                directory / f"n{i + 1}",
            )
            for i in range(size)
        ]

    # ------------------------------------------------------------------ the nodes
    def start(self, timeout: float = 120) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        for node in self.nodes:
            self._write_config(node)
        first, *others = self.nodes
        self._launch(first)
        self._wait_answering([first], timeout)
        for node in others:  # the others join the first (classic peer discovery)
            self._launch(node)
        self._wait_answering(others, timeout)
        self.wait_clustered(timeout)

    def _write_config(self, node: Node) -> None:
        node.base.mkdir(parents=True, exist_ok=True)
        (node.base / "enabled_plugins").write_text("[].\n")
        (node.base / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
        peers = "\n".join(
            f"cluster_formation.classic_config.nodes.{i} = {n.name}"
            for i, n in enumerate(self.nodes, start=1)
        )
        (node.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{node.port}\n"
            "cluster_formation.peer_discovery_backend = classic_config\n"
            f"{peers}\n"
            "log.console = false\n"
            "log.file.level = info\n"
        )

    def _env(self, node: Node) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.home),
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(node.port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_MNESIA_BASE=str(node.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(node.base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(node.base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(node.base / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(node.base / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(node.pid_file),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        return env

    def _launch(self, node: Node) -> None:
        with contextlib.suppress(FileNotFoundError):
            node.pid_file.unlink()
        log = open(node.base / "server.log", "ab")  # noqa: SIM115 - the child keeps it
        node.process = subprocess.Popen(
            [str(self.scripts / "rabbitmq-server")],
            env=self._env(node),
            cwd=node.base,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() takes all of it
        )
        log.close()

    def _wait_answering(self, nodes: list[Node], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(nodes)
        while waiting:
            for node in list(waiting):
                if node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"{node.name} exited; see {node.base / 'server.log'}")
                if node.answers():
                    waiting.remove(node)
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"{[n.name for n in waiting]} did not start in {timeout} s")
            time.sleep(0.2)

    def running_nodes(self, via: int | None = None) -> list[str]:
        """The nodes the cluster says are running (asked of the first node that answers)."""
        for node in [self.nodes[via]] if via is not None else self.nodes:
            if not node.answers():
                continue
            result = self.ctl("cluster_status", "--formatter", "json", node=node, check=False)
            if result.returncode == 0:
                return sorted(json.loads(result.stdout)["running_nodes"])
        return []

    def wait_clustered(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        wanted = sorted(n.name for n in self.nodes)
        while (running := self.running_nodes()) != wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster has {running}, not {wanted}")
            time.sleep(0.5)

    def kill(self, index: int) -> int:
        """kill -9 the node's Erlang VM (not a shutdown: the node just vanishes)."""
        node = self.nodes[index]
        pid = int(node.pid_file.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        if node.process is not None:  # the script waiting for it exits too
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(10)
        return pid

    def restart(self, index: int, timeout: float = 120) -> None:
        """Start a stopped node again on its data: it rejoins, its queue members catch up."""
        node = self.nodes[index]
        self._launch(node)
        self._wait_answering([node], timeout)
        self.wait_clustered(timeout)

    def stop(self) -> None:
        """Every node, hard (their data is thrown away with the folder)."""
        for node in self.nodes:
            if node.process is None:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(node.process.pid, signal.SIGKILL)
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(node.pid_file.read_text().strip()), signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(10)
            node.process = None

    # ------------------------------------------------------------------ using it
    def ctl(
        self, *args: str, node: Node | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """rabbitmqctl against a node (the first by default) with the cluster's cookie."""
        target = node or next((n for n in self.nodes if n.answers()), self.nodes[0])
        env = self._env(target)
        return subprocess.run(
            [str(self.scripts / "rabbitmqctl"), "-n", target.name, *args],
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def new_vhost(self) -> str:
        name = f"hubtest-{uuid.uuid4().hex[:10]}"
        self.ctl("add_vhost", name)
        self.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return name

    def url(self, vhost: str, first: int = 0) -> str:
        """Every node's URL for ``vhost``, comma-separated, starting with node ``first``."""
        order = self.nodes[first:] + self.nodes[:first]
        return ",".join(f"amqp://guest:guest@127.0.0.1:{n.port}/{vhost}" for n in order)

    def queue_members(self, vhost: str) -> dict[str, tuple[list[str], list[str]]]:
        """Each quorum queue of ``vhost``: (its members, those online)."""
        out = self.ctl(
            "list_queues", "-p", vhost, "name", "type", "members", "online", "--formatter", "json"
        ).stdout
        return {
            q["name"]: (sorted(q["members"]), sorted(q["online"]))
            for q in json.loads(out)
            if q.get("type") == "quorum"
        }


@pytest.fixture(scope="module")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """A three-node cluster for the module's tests (starting one takes ~20 s), then gone."""
    scripts = require_cluster()
    cluster = RabbitCluster(tmp_path_factory.mktemp("rabbit-cluster"), scripts=scripts)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
