"""Writes (reference §3.8): insert, bulk insert, upsert, update, delete and their answers.

Rows get ids from the identity column; each test works on rows it made, marked by a unique title
prefix, so the tests stay independent of each other and of their order."""

import uuid

import pytest
from postgrest.exceptions import APIError

from support import TIMESTAMPTZ, ids, key_headers, unique_name


@pytest.fixture
def tag(request):
    return unique_name(request.node.name.split("[")[0])


def titles(rows):
    return [row["title"] for row in rows]


def rows_titled(client, prefix):
    return client.table("todos").select("*").like("title", f"{prefix}%").order("id").execute().data


def test_insert_single_fills_defaults(service, tag):
    res = service.table("todos").insert({"title": tag}).execute()
    assert len(res.data) == 1
    row = res.data[0]
    assert isinstance(row["id"], int)
    assert TIMESTAMPTZ.match(row["created_at"]), row["created_at"]
    assert {k: v for k, v in row.items() if k not in ("id", "created_at")} == {
        "title": tag, "done": False, "priority": None, "tags": None, "meta": None, "owner": None, "due": None, "amount": None,
    }
    assert rows_titled(service, tag) == [row]


def test_insert_answers_201_and_minimal_by_default(project, http, anon, tag):
    headers = key_headers(project.anon_key)
    represented = http.post("/rest/v1/todos", json={"title": tag + "a"}, headers={**headers, "Prefer": "return=representation"})
    assert represented.status_code == 201
    assert titles(represented.json()) == [tag + "a"]
    minimal = http.post("/rest/v1/todos", json={"title": tag + "b"}, headers=headers)
    assert (minimal.status_code, minimal.content) == (201, b"")
    assert titles(rows_titled(anon, tag)) == [tag + "a", tag + "b"]


def test_insert_returning_minimal(service, tag):
    res = service.table("todos").insert({"title": tag, "priority": 4}, returning="minimal").execute()
    assert res.data == []
    assert [(row["title"], row["priority"]) for row in rows_titled(service, tag)] == [(tag, 4)]


def test_bulk_insert_missing_keys_become_null(service, tag):
    res = service.table("todos").insert([
        {"title": tag + "1", "priority": 7},
        {"title": tag + "2", "tags": ["t"]},
    ]).execute()
    assert [(r["title"], r["priority"], r["tags"], r["done"]) for r in res.data] == [
        (tag + "1", 7, None, False),
        (tag + "2", None, ["t"], False),
    ]
    assert res.data == rows_titled(service, tag)


def test_bulk_insert_missing_not_null_key_is_23502(service, tag):
    with pytest.raises(APIError) as raised:
        service.table("todos").insert([{"title": tag + "1", "done": True}, {"title": tag + "2"}]).execute()
    assert raised.value.code == "23502"
    assert rows_titled(service, tag) == []


def test_bulk_insert_default_to_null_false_uses_defaults(service, tag):
    res = service.table("todos").insert(
        [{"title": tag + "1", "done": True}, {"title": tag + "2"}], default_to_null=False
    ).execute()
    assert [(r["title"], r["done"]) for r in res.data] == [(tag + "1", True), (tag + "2", False)]


def test_insert_with_count(service, tag):
    res = service.table("todos").insert([{"title": tag + "1"}, {"title": tag + "2"}, {"title": tag + "3"}], count="exact").execute()
    assert (titles(res.data), res.count) == ([tag + "1", tag + "2", tag + "3"], 3)


def test_insert_null_into_not_null_is_23502(service):
    with pytest.raises(APIError) as raised:
        service.table("todos").insert({"title": None}).execute()
    assert raised.value.code == "23502"


def test_insert_duplicate_primary_key_is_23505_with_409(service, project, http, tag):
    existing = service.table("todos").insert({"title": tag}).execute().data[0]
    with pytest.raises(APIError) as raised:
        service.table("todos").insert({"id": existing["id"], "title": tag + "dup"}).execute()
    assert raised.value.code == "23505"
    raw = http.post("/rest/v1/todos", json={"id": existing["id"], "title": tag + "dup"}, headers=key_headers(project.service_role_key))
    assert (raw.status_code, raw.json()["code"]) == (409, "23505")
    assert rows_titled(service, tag) == [existing]


def settings_of(client, owner):
    return client.table("settings").select("key, value").eq("owner", owner).order("key").execute().data


def test_upsert_on_composite_unique_key_merges(service):
    owner = str(uuid.uuid4())
    first = service.table("settings").upsert({"owner": owner, "key": "theme", "value": "dark"}, on_conflict="owner,key").execute()
    second = service.table("settings").upsert({"owner": owner, "key": "theme", "value": "light"}, on_conflict="owner,key").execute()
    assert [(r["key"], r["value"]) for r in first.data] == [("theme", "dark")]
    assert [(r["id"], r["key"], r["value"]) for r in second.data] == [(first.data[0]["id"], "theme", "light")]
    assert settings_of(service, owner) == [{"key": "theme", "value": "light"}]


def test_upsert_ignore_duplicates_keeps_the_existing_row(service):
    owner = str(uuid.uuid4())
    service.table("settings").insert({"owner": owner, "key": "theme", "value": "dark"}).execute()
    res = service.table("settings").upsert(
        {"owner": owner, "key": "theme", "value": "blue"}, on_conflict="owner,key", ignore_duplicates=True
    ).execute()
    assert res.data == []
    assert settings_of(service, owner) == [{"key": "theme", "value": "dark"}]


def test_bulk_upsert_inserts_and_merges(service):
    owner = str(uuid.uuid4())
    service.table("settings").insert({"owner": owner, "key": "theme", "value": "dark"}).execute()
    res = service.table("settings").upsert([
        {"owner": owner, "key": "theme", "value": "light"},
        {"owner": owner, "key": "lang", "value": "de"},
    ], on_conflict="owner,key").execute()
    assert [(r["key"], r["value"]) for r in res.data] == [("theme", "light"), ("lang", "de")]
    assert settings_of(service, owner) == [{"key": "lang", "value": "de"}, {"key": "theme", "value": "light"}]


def test_upsert_by_primary_key_sets_only_given_columns(service, tag):
    row = service.table("todos").insert({"title": tag, "priority": 4}).execute().data[0]
    res = service.table("todos").upsert({"id": row["id"], "title": tag + "x", "done": True}).execute()
    assert [(r["id"], r["title"], r["done"], r["priority"]) for r in res.data] == [(row["id"], tag + "x", True, 4)]
    assert ids(service.table("todos").select("id").eq("id", row["id"]).execute().data) == [row["id"]]


def test_upsert_on_column_without_unique_constraint_is_42p10(service):
    with pytest.raises(APIError) as raised:
        service.table("settings").upsert({"owner": str(uuid.uuid4()), "key": "k", "value": "v"}, on_conflict="value").execute()
    assert raised.value.code == "42P10"


def test_duplicate_composite_key_insert_is_23505(service):
    owner = str(uuid.uuid4())
    service.table("settings").insert({"owner": owner, "key": "theme"}).execute()
    with pytest.raises(APIError) as raised:
        service.table("settings").insert({"owner": owner, "key": "theme"}).execute()
    assert raised.value.code == "23505"


def test_update_with_filter_returns_changed_rows(service, tag):
    service.table("todos").insert([{"title": tag + "1"}, {"title": tag + "2"}, {"title": tag + "3"}]).execute()
    res = service.table("todos").update({"done": True, "priority": 9}).eq("title", tag + "2").execute()
    assert [(r["title"], r["done"], r["priority"]) for r in res.data] == [(tag + "2", True, 9)]
    assert [(r["title"], r["done"], r["priority"]) for r in rows_titled(service, tag)] == [
        (tag + "1", False, None), (tag + "2", True, 9), (tag + "3", False, None),
    ]


def test_update_many_rows_with_count(service, tag):
    service.table("todos").insert([{"title": tag + "1"}, {"title": tag + "2"}]).execute()
    res = service.table("todos").update({"meta": {"seen": True}}, count="exact").like("title", f"{tag}%").execute()
    assert (sorted(titles(res.data)), res.count) == ([tag + "1", tag + "2"], 2)
    assert [r["meta"] for r in rows_titled(service, tag)] == [{"seen": True}, {"seen": True}]


def test_update_matching_nothing_returns_empty(service, tag):
    assert service.table("todos").update({"done": True}).eq("title", tag).execute().data == []


def test_update_and_delete_minimal_answer_204(project, http, service, tag):
    service.table("todos").insert({"title": tag}).execute()
    headers = {**key_headers(project.service_role_key), "Prefer": "return=minimal"}
    patched = http.patch("/rest/v1/todos", params={"title": f"eq.{tag}"}, json={"priority": 1}, headers=headers)
    assert (patched.status_code, patched.content) == (204, b"")
    assert [r["priority"] for r in rows_titled(service, tag)] == [1]
    deleted = http.request("DELETE", "/rest/v1/todos", params={"title": f"eq.{tag}"}, json={}, headers=headers)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert rows_titled(service, tag) == []


def test_update_returning_minimal_through_client(service, tag):
    service.table("todos").insert({"title": tag}).execute()
    res = service.table("todos").update({"priority": 2}, returning="minimal").eq("title", tag).execute()
    assert res.data == []
    assert [r["priority"] for r in rows_titled(service, tag)] == [2]


def test_delete_with_filter_returns_deleted_rows(service, tag):
    inserted = service.table("todos").insert([{"title": tag + "1"}, {"title": tag + "2"}]).execute().data
    res = service.table("todos").delete().eq("title", tag + "1").execute()
    assert res.data == [inserted[0]]
    assert rows_titled(service, tag) == [inserted[1]]


def test_delete_with_in_and_count(service, tag):
    inserted = service.table("todos").insert([{"title": tag + "1"}, {"title": tag + "2"}, {"title": tag + "3"}]).execute().data
    res = service.table("todos").delete(count="exact").in_("id", [inserted[0]["id"], inserted[2]["id"]]).execute()
    assert (sorted(titles(res.data)), res.count) == ([tag + "1", tag + "3"], 2)
    assert titles(rows_titled(service, tag)) == [tag + "2"]


def test_update_without_filters_is_21000(service, tag):
    service.table("todos").insert({"title": tag}).execute()
    before = service.table("todos").select("id", count="exact").execute().count
    with pytest.raises(APIError) as raised:
        service.table("todos").update({"done": True}).execute()
    assert raised.value.code == "21000"
    assert [r["done"] for r in rows_titled(service, tag)] == [False]
    assert service.table("todos").select("id", count="exact").execute().count == before


def test_delete_without_filters_is_21000(service, project, http, tag):
    service.table("todos").insert({"title": tag}).execute()
    before = service.table("todos").select("id", count="exact").execute().count
    with pytest.raises(APIError) as raised:
        service.table("todos").delete().execute()
    assert raised.value.code == "21000"
    raw = http.request("DELETE", "/rest/v1/todos", json={}, headers=key_headers(project.service_role_key))
    assert (raw.status_code, raw.json()["code"]) == (400, "21000")
    assert service.table("todos").select("id", count="exact").execute().count == before


def test_anon_key_can_write_until_row_level_security(anon, tag):
    res = anon.table("todos").insert({"title": tag}).execute()
    assert titles(res.data) == [tag]
    assert titles(anon.table("todos").delete().eq("title", tag).execute().data) == [tag]
