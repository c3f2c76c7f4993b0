"""Hostile and malformed input, through the client and through raw HTTP: each gets its exact
PostgREST error, and afterwards the table still holds every seeded row (nothing was dropped)."""

import pytest
from postgrest.exceptions import APIError

from support import SEED_TODOS, ids, key_headers


@pytest.fixture(autouse=True)
def table_intact(seeded, anon):
    yield
    # Only the seeded ids: a test whose bad insert wrongly succeeded fails itself, not every later one.
    res = anon.table("todos").select("id, title").lte("id", len(SEED_TODOS)).order("id").execute()
    assert res.data == [{"id": row["id"], "title": row["title"]} for row in SEED_TODOS]
    assert anon.table("settings").select("id").execute().data == []


def api_error(run):
    with pytest.raises(APIError) as raised:
        run()
    return raised.value


CLIENT_ERRORS = [
    ("unknown table", lambda c: c.table("nope").select("*"), "PGRST205"),
    ("sql in table name", lambda c: c.table("todos;drop table todos").select("*"), "PGRST205"),
    ("quoted table name", lambda c: c.table('todos"; drop table todos; --').select("*"), "PGRST205"),
    ("unknown column in select", lambda c: c.table("todos").select("nope"), "42703"),
    ("unknown column in filter", lambda c: c.table("todos").select("id").eq("nope", 1), "42703"),
    ("unknown column in order", lambda c: c.table("todos").select("id").order("nope"), "42703"),
    ("sql in filter column", lambda c: c.table("todos").select("id").eq("id;drop table todos", 1), "42703"),
    ("comment in filter column", lambda c: c.table("todos").select("id").eq("id--", 1), "42703"),
    ("sql in select", lambda c: c.table("todos").select("id;drop table todos"), "42703"),
    ("quoted sql in select", lambda c: c.table("todos").select('"id; drop table todos; --"'), "42703"),
    ("bad integer", lambda c: c.table("todos").select("id").eq("id", "abc"), "22P02"),
    ("sql as integer", lambda c: c.table("todos").select("id").eq("id", "1;drop table todos"), "22P02"),
    ("bad boolean", lambda c: c.table("todos").select("id").eq("done", "maybe"), "22P02"),
    ("bad uuid", lambda c: c.table("todos").select("id").eq("owner", "not-a-uuid"), "22P02"),
    ("bad numeric", lambda c: c.table("todos").select("id").gt("amount", "1e"), "22P02"),
    ("bad timestamptz", lambda c: c.table("todos").select("id").lt("due", "yesterday-ish"), "22007"),
    ("bad in list", lambda c: c.table("todos").select("id").in_("id", [1, "x"]), "22P02"),
    ("unknown operator", lambda c: c.table("todos").select("id").filter("id", "foo", "1"), "PGRST100"),
    ("operator without value", lambda c: c.table("todos").select("id").filter("id", "eq", ""), "22P02"),
    ("unbalanced or", lambda c: c.table("todos").select("id").or_("and(id.eq.1,id.eq.2"), "PGRST100"),
    ("or without operator", lambda c: c.table("todos").select("id").or_("id,title.eq.x"), "PGRST100"),
    ("or with unknown column", lambda c: c.table("todos").select("id").or_("nope.eq.1,id.eq.2"), "42703"),
    ("bad limit", lambda c: c.table("todos").select("id").limit(-1), "PGRST100"),
    ("NUL in filter value", lambda c: c.table("todos").select("id").eq("title", "a\x00b"), "22021"),
    ("NUL in body", lambda c: c.table("todos").insert({"id": 100, "title": "a\x00b"}), "22P05"),
    ("unknown column in body", lambda c: c.table("todos").insert({"id": 100, "title": "x", "nope": 1}), "PGRST204"),
    ("sql column in body", lambda c: c.table("todos").insert({"id": 100, "title": "x", "title);drop table todos;--": 1}), "PGRST204"),
    ("bad type in body", lambda c: c.table("todos").insert({"id": 100, "title": "x", "priority": "high"}), "22P02"),
    ("bad array in body", lambda c: c.table("todos").insert({"id": 100, "title": "x", "tags": "notalist"}), "22P02"),
    ("unknown column in update", lambda c: c.table("todos").update({"nope": 1}).eq("id", 1), "PGRST204"),
    ("other schema", lambda c: c.schema("private").table("todos").select("id"), "PGRST106"),
]


@pytest.mark.parametrize("name,build,code", CLIENT_ERRORS, ids=[case[0] for case in CLIENT_ERRORS])
def test_client_error(anon, name, build, code):
    error = api_error(lambda: build(anon).execute())
    assert error.code == code, error.json()
    assert isinstance(error.message, str) and error.message


SQL_VALUES = [
    "x'; drop table todos; --",
    'x" or 1=1 --',
    "1) or (1=1",
    "' or ''='",
    "%' or '1'='1",
    "$1",
    "?1",
]


@pytest.mark.parametrize("value", SQL_VALUES)
def test_sql_in_values_is_only_a_value(anon, value):
    assert anon.table("todos").select("id").eq("title", value).execute().data == []
    assert anon.table("todos").select("id").in_("title", [value, "Buy milk"]).execute().data == [{"id": 1}]
    assert anon.table("todos").select("id").like("title", value).execute().data == []


def test_sql_in_an_inserted_value_round_trips(service):
    title = "Robert'); DROP TABLE todos;--"
    res = service.table("todos").insert({"id": 101, "title": title}).execute()
    assert [(r["id"], r["title"]) for r in res.data] == [(101, title)]
    assert service.table("todos").select("title").eq("id", 101).execute().data == [{"title": title}]
    assert service.table("todos").delete().eq("id", 101).execute().data[0]["title"] == title


RAW_STATUS = [
    ("unknown table", "GET", "/rest/v1/nope", {}, None, 404, "PGRST205"),
    ("unknown column", "GET", "/rest/v1/todos?select=nope", {}, None, 400, "42703"),
    ("bad value", "GET", "/rest/v1/todos?id=eq.abc", {}, None, 400, "22P02"),
    ("unknown operator", "GET", "/rest/v1/todos?id=foo.1", {}, None, 400, "PGRST100"),
    ("unbalanced or", "GET", "/rest/v1/todos?or=(id.eq.1", {}, None, 400, "PGRST100"),
    ("bad percent-encoding", "GET", "/rest/v1/todos?id=eq.%zz", {}, None, 400, "PGRST100"),
    ("invalid json", "POST", "/rest/v1/todos", {"Content-Type": "application/json"}, b'{"title": "x",', 400, "PGRST102"),
    ("json of the wrong shape", "POST", "/rest/v1/todos", {"Content-Type": "application/json"}, b'"just a string"', 400, "PGRST102"),
    ("empty body", "POST", "/rest/v1/todos", {"Content-Type": "application/json"}, b"", 400, "PGRST102"),
    ("invalid utf-8", "POST", "/rest/v1/todos", {"Content-Type": "application/json"}, b'{"title":"\xff\xfe"}', 400, "PGRST102"),
    ("bulk with different keys and no columns", "POST", "/rest/v1/todos", {"Content-Type": "application/json"},
     b'[{"id":100,"title":"a"},{"id":101,"title":"b","done":true}]', 400, "PGRST102"),
    ("unknown column in body", "POST", "/rest/v1/todos", {"Content-Type": "application/json"}, b'{"id":100,"title":"x","nope":1}', 400, "PGRST204"),
    ("invalid json patch", "PATCH", "/rest/v1/todos?id=eq.1", {"Content-Type": "application/json"}, b"{nope", 400, "PGRST102"),
    ("delete without filter", "DELETE", "/rest/v1/todos", {}, None, 400, "21000"),
    ("patch without filter", "PATCH", "/rest/v1/todos", {"Content-Type": "application/json"}, b'{"done":true}', 400, "21000"),
    ("other accept profile", "GET", "/rest/v1/todos", {"Accept-Profile": "auth"}, None, 406, "PGRST106"),
    ("unserved media type", "GET", "/rest/v1/todos", {"Accept": "application/xml"}, None, 406, "PGRST107"),
]


@pytest.mark.parametrize("name,method,path,headers,body,status,code", RAW_STATUS, ids=[case[0] for case in RAW_STATUS])
def test_raw_error(project, http, name, method, path, headers, body, status, code):
    res = http.request(method, path, headers={**key_headers(project.anon_key), **headers}, content=body)
    assert res.status_code == status, res.text
    body = res.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "message", "details", "hint"}


def test_oversized_body_is_413(project, http):
    # 11 MiB against the default 10 MiB limit.
    payload = b'{"id":100,"title":"' + b"x" * (11 * 1024 * 1024) + b'"}'
    res = http.post("/rest/v1/todos", headers={**key_headers(project.anon_key), "Content-Type": "application/json"}, content=payload)
    assert (res.status_code, res.json()["code"]) == (413, "request_too_large")


def test_oversized_body_without_content_length_is_413(project, http):
    def chunks():
        chunk = b"x" * (1024 * 1024)
        yield b'{"id":100,"title":"'
        for _ in range(11):
            yield chunk
        yield b'"}'

    res = http.post("/rest/v1/todos", headers={**key_headers(project.anon_key), "Content-Type": "application/json"}, content=chunks())
    assert (res.status_code, res.json()["code"]) == (413, "request_too_large")


def test_deeply_nested_json_is_rejected(project, http):
    depth = 10_000
    payload = b'{"id":100,"title":"x","meta":' + b"[" * depth + b"]" * depth + b"}"
    res = http.post("/rest/v1/todos", headers={**key_headers(project.anon_key), "Content-Type": "application/json"}, content=payload)
    assert (res.status_code, res.json()["code"]) == (400, "PGRST102")


def test_huge_in_list_is_answered(anon):
    res = anon.table("todos").select("id").in_("id", list(range(1, 5001))).order("id").execute()
    assert ids(res.data) == [1, 2, 3, 4, 5, 6]
