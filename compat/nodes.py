"""Reaching the Cellbase nodes under test: where they are, their admin API, fresh projects and
supabase-py clients for them. The fixtures in conftest.py are built from these."""

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from supabase import create_client
from supabase.lib.client_options import SyncClientOptions

from support import SCHEMA_SQL, unique_name

BACKENDS = ["sqlite", "postgres"]
TIMEOUT = 30.0


@dataclass(frozen=True)
class Node:
    backend: str
    url: str
    admin_token: str


@dataclass(frozen=True)
class Project:
    node: Node
    ref: str
    name: str
    anon_key: str
    service_role_key: str
    shard: str

    @property
    def url(self):
        return self.node.url


@functools.cache
def read_node(backend):
    suffix = backend.upper()
    data = os.environ.get(f"CELLBASE_DATA_{suffix}")
    if not data:
        pytest.fail(f"CELLBASE_DATA_{suffix} is not set: start the nodes with scripts/test", pytrace=False)
    binary = os.environ.get("CELLBASE_BIN")
    if binary:
        out = subprocess.run([binary, "status", "--data", data, "--json"], check=True, capture_output=True, text=True, timeout=60)
        status = json.loads(out.stdout)
        url, token = status["url"], status["admin_token"]
    else:
        directory = Path(data)
        token = (directory / "admin_token").read_text().strip()
        url = json.loads((directory / "cellbase.json").read_text())["url"]
    # The environment names the address the test driver actually reached the node on.
    url = os.environ.get(f"CELLBASE_URL_{suffix}") or url
    return Node(backend=backend, url=url.rstrip("/"), admin_token=token)


def admin_client(node):
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {node.admin_token}"}, timeout=TIMEOUT)


def create_project(node, prefix, sql=SCHEMA_SQL):
    """A fresh project with `sql` applied, checking the admin API's answers exactly."""
    name = unique_name(prefix)
    with admin_client(node) as admin:
        created = admin.post("/admin/v1/projects", json={"name": name})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["name"] == name
        # `node` and `plan` are left out when they have no value.
        assert set(body) - {"node", "plan"} == {
            "ref", "name", "anon_key", "service_role_key", "shard", "created_at", "cell", "placement_version",
        }
        assert body["cell"] == "default"
        assert isinstance(body["placement_version"], int) and body["placement_version"] > 0
        assert body.get("plan") is None
        if node.backend in ("sqlite", "s3"):
            assert body["shard"] == "local"
            # A project on the node's own SQLite is pinned to that node.
            assert isinstance(body.get("node"), str) and len(body["node"]) == 20
        else:
            assert body["shard"] != "local", "the postgres node must place new projects on a PostgreSQL shard"
            assert body.get("node") is None
        migrated = admin.post(f"/admin/v1/projects/{body['ref']}/migrations", json={"name": "001_schema", "sql": sql})
        assert migrated.status_code == 201, migrated.text
    return Project(node, body["ref"], name, body["anon_key"], body["service_role_key"], body["shard"])


def supabase_client(project, key):
    return create_client(project.url, key, options=SyncClientOptions(postgrest_client_timeout=TIMEOUT))
