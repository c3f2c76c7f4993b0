"""Acknowledged writes survive `kill -9` of the node and a restart of PostgreSQL.

These tests start their own `cellbase serve` processes (from $CELLBASE_BIN) on temporary data
directories, so killing them disturbs nothing else. The PostgreSQL restart uses the server that
scripts/test started ($PG_DIR, $PG_BIN).
"""

import os
import signal
import subprocess
import tempfile
import time

import httpx
import pytest

from support import free_port, required_env

SCHEMA = "create table events (id int primary key, kind text not null);"


class NodeProcess:
    def __init__(self, data, extra=()):
        self.data = data
        self.extra = list(extra)
        self.port = free_port()
        self.process = None

    def start(self):
        binary = required_env("CELLBASE_BIN")
        self.process = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--port", str(self.port), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        pytest.fail("cellbase serve did not become ready")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def admin(self, method, path, **kwargs):
        token = open(os.path.join(self.data, "admin_token")).read().strip()
        return httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs)


def create_project(node, name):
    created = node.admin("POST", "/admin/v1/projects", json={"name": name})
    assert created.status_code == 201, created.text
    project = created.json()
    migrated = node.admin("POST", f"/admin/v1/projects/{project['ref']}/migrations", json={"name": "0001.sql", "sql": SCHEMA})
    assert migrated.status_code == 201, migrated.text
    return project


def write_rows(node, project, ids):
    headers = {"apikey": project["anon_key"], "Prefer": "return=minimal"}
    for i in ids:
        answer = httpx.post(f"{node.url}/rest/v1/events", headers=headers, json={"id": i, "kind": f"k{i}"}, timeout=30)
        assert answer.status_code == 201, answer.text


def read_ids(node, project):
    answer = httpx.get(f"{node.url}/rest/v1/events?select=id&order=id", headers={"apikey": project["anon_key"]}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_acknowledged_writes_survive_kill_9(backend):
    extra = []
    if backend == "postgres":
        extra = ["--shard", "pg=" + required_env("CELLBASE_TEST_POSTGRES_URL"), "--default-shard", "pg"]
    with tempfile.TemporaryDirectory() as data:
        node = NodeProcess(data, extra).start()
        try:
            project = create_project(node, f"durable_{backend}")
            write_rows(node, project, range(1, 201))
        finally:
            node.kill()
        restarted = NodeProcess(data, extra).start()
        try:
            assert read_ids(restarted, project) == list(range(1, 201))
        finally:
            restarted.kill()


def test_writes_survive_a_postgres_restart_and_the_node_reconnects():
    pg_dir = required_env("PG_DIR")
    pg_ctl = os.path.join(required_env("PG_BIN"), "pg_ctl")
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    extra = ["--shard", "pg=" + required_env("CELLBASE_TEST_POSTGRES_URL"), "--default-shard", "pg"]
    with tempfile.TemporaryDirectory() as data:
        node = NodeProcess(data, extra).start()
        try:
            project = create_project(node, "pg_restart")
            write_rows(node, project, range(1, 51))
            subprocess.run(as_postgres + [pg_ctl, "-D", os.path.join(pg_dir, "data"), "-l", os.path.join(pg_dir, "server.log"),
                            "-m", "immediate", "-w", "restart"],
                           check=True, capture_output=True, timeout=120)
            # The pool reconnects: retry reads for a bounded time while it does.
            deadline = time.monotonic() + 60
            while True:
                try:
                    ids = read_ids(node, project)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            assert ids == list(range(1, 51))
            write_rows(node, project, range(51, 61))
            assert read_ids(node, project) == list(range(1, 61))
        finally:
            node.kill()
