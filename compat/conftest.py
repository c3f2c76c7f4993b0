"""Fixtures: one fresh Cellbase project per test module on each backend, reached through the
real supabase-py client and through raw httpx.

The nodes are started by scripts/test (or by hand) and found through the environment:
CELLBASE_DATA_SQLITE / CELLBASE_DATA_POSTGRES (data directories), optionally
CELLBASE_URL_SQLITE / CELLBASE_URL_POSTGRES and CELLBASE_BIN (for `cellbase status --json`).
A missing node is a failure, never a skip: a suite that silently runs nothing proves nothing.
"""

from pathlib import Path

import httpx
import pytest

from nodes import BACKENDS, TIMEOUT, create_project, read_node, supabase_client
from support import SEED_TODOS

@pytest.fixture(scope="module", params=BACKENDS)
def node(request):
    return read_node(request.param)


@pytest.fixture(scope="module")
def project(node, request):
    return create_project(node, Path(request.module.__file__).stem)


@pytest.fixture(scope="module")
def anon(project):
    return supabase_client(project, project.anon_key)


@pytest.fixture(scope="module")
def service(project):
    return supabase_client(project, project.service_role_key)


@pytest.fixture(scope="module")
def http(project):
    """Raw HTTP to the project's node, for what the client hides (statuses, headers, bad bodies)."""
    with httpx.Client(base_url=project.url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(scope="module")
def seeded(service):
    """The module's project with SEED_TODOS inserted (explicit ids 1..6)."""
    res = service.table("todos").insert(SEED_TODOS).execute()
    assert [row["id"] for row in res.data] == [1, 2, 3, 4, 5, 6]
    return service
