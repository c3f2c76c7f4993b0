"""API keys and tenant isolation: a request's project comes from its `apikey` alone, bad keys get a
401 JSON error, and one project's key never reaches another project's tables or rows."""

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from postgrest.exceptions import APIError

from nodes import BACKENDS, admin_client, create_project, read_node, supabase_client
from support import SCHEMA_SQL, SEED_TODOS, ids, key_headers

OTHER_SQL = SCHEMA_SQL + "\ncreate table secrets (id bigint primary key, secret text not null);\n"
ALL_IDS = [row["id"] for row in SEED_TODOS]


@pytest.fixture(scope="module")
def other(node):
    """Project B on the same node: the same `todos` table with its own row, plus a `secrets` table."""
    project = create_project(node, "keys_other", OTHER_SQL)
    client = supabase_client(project, project.service_role_key)
    client.table("todos").insert({"id": 1, "title": "B only"}).execute()
    client.table("secrets").insert({"id": 1, "secret": "b-secret"}).execute()
    return project


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_key(ref, role="service_role", secret=b"not-the-project-secret"):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    payload = b64url(json.dumps({"iss": "cellbase", "ref": ref, "role": role, "iat": now, "exp": now + 3600}).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def test_missing_apikey_is_401_json(seeded, http):
    res = http.get("/rest/v1/todos")
    assert res.status_code == 401
    assert res.json()["code"] == "no_api_key"


def test_authorization_alone_is_not_an_apikey(seeded, http, project):
    res = http.get("/rest/v1/todos", headers={"Authorization": f"Bearer {project.anon_key}"})
    assert (res.status_code, res.json()["code"]) == (401, "no_api_key")


@pytest.mark.parametrize("key", ["garbage", "a.b.c", "", "eyJhbGciOiJIUzI1NiJ9.e30.", "x" * 10000])
def test_invalid_apikey_is_401_json(seeded, http, key):
    res = http.get("/rest/v1/todos", headers={"apikey": key})
    body = res.json()
    assert res.status_code == 401
    assert body["code"] == ("no_api_key" if key == "" else "invalid_api_key")


def test_invalid_apikey_through_the_client(seeded, project):
    client = supabase_client(project, "definitely-not-a-key")
    with pytest.raises(APIError) as raised:
        client.table("todos").select("*").execute()
    assert raised.value.code == "invalid_api_key"


@pytest.mark.parametrize("ref_of", ["project", "unknown"])
def test_key_signed_with_another_secret_is_401(seeded, http, project, ref_of):
    ref = project.ref if ref_of == "project" else "zzzzzzzzzzzzzzzzzzzz"
    res = http.get("/rest/v1/todos", headers=key_headers(forged_key(ref)))
    assert (res.status_code, res.json()["code"]) == (401, "invalid_api_key")


def test_key_of_another_install_is_401(seeded, http, node):
    other_backend = next(b for b in BACKENDS if b != node.backend)
    foreign = read_node(other_backend)
    with admin_client(foreign) as admin:
        listed = admin.get("/admin/v1/projects")
    assert listed.status_code == 200
    foreign_keys = [p["anon_key"] for p in listed.json()]
    assert foreign_keys
    res = http.get("/rest/v1/todos", headers=key_headers(foreign_keys[0]))
    assert (res.status_code, res.json()["code"]) == (401, "invalid_api_key")


def test_apikey_header_name_is_case_insensitive_and_query_param_works(seeded, http, project):
    for headers, params in [({"APIKEY": project.anon_key}, {}), ({"apikey": project.anon_key}, {}), ({}, {"apikey": project.anon_key})]:
        res = http.get("/rest/v1/todos", headers=headers, params={"select": "id", "order": "id", **params})
        assert (res.status_code, ids(res.json())) == (200, ALL_IDS)


def test_anon_and_service_role_read_the_same(seeded, anon, service):
    assert anon.table("todos").select("*").order("id").execute().data == service.table("todos").select("*").order("id").execute().data


def test_other_projects_table_is_not_found(seeded, anon, other):
    with pytest.raises(APIError) as raised:
        anon.table("secrets").select("*").execute()
    assert raised.value.code == "PGRST205"
    b = supabase_client(other, other.anon_key)
    assert b.table("secrets").select("*").execute().data == [{"id": 1, "secret": "b-secret"}]


def test_same_table_name_holds_each_projects_own_rows(seeded, anon, other):
    b = supabase_client(other, other.anon_key)
    assert b.table("todos").select("id, title").execute().data == [{"id": 1, "title": "B only"}]
    assert ids(anon.table("todos").select("id").order("id").execute().data) == ALL_IDS
    assert anon.table("todos").select("id").eq("title", "B only").execute().data == []


def test_authorization_of_another_project_does_not_switch_project(seeded, http, project, other):
    # The project is the apikey's; a bearer token that is not one of its keys must verify with its
    # secret, so another project's key is refused as PostgREST refuses a foreign JWT.
    res = http.get(
        "/rest/v1/todos",
        params={"select": "id", "order": "id"},
        headers={"apikey": project.anon_key, "Authorization": f"Bearer {other.service_role_key}"},
    )
    assert (res.status_code, res.json()["code"]) == (401, "PGRST301")


def test_writes_stay_in_the_keys_project(seeded, anon, other):
    assert anon.table("todos").delete().eq("title", "B only").execute().data == []
    assert anon.table("todos").update({"done": True}).eq("id", 1).select("id, title, done").execute().data == [
        {"id": 1, "title": "Buy milk", "done": True}
    ]
    b = supabase_client(other, other.service_role_key)
    assert b.table("todos").select("id, title, done").execute().data == [{"id": 1, "title": "B only", "done": False}]
    anon.table("todos").update({"done": False}).eq("id", 1).execute()


def test_admin_api_needs_the_admin_token(node, project):
    with httpx.Client(base_url=node.url, timeout=30) as client:
        for headers in [{}, {"Authorization": "Bearer wrong"}, key_headers(project.service_role_key)]:
            res = client.post("/admin/v1/projects", json={"name": "should_not_exist"}, headers=headers)
            assert (res.status_code, res.json()["code"]) == (401, "invalid_admin_token")
