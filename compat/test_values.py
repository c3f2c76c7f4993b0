"""Values round trip through insert and select with the JSON PostgREST renders (docs/TYPES.md):
timestamptz as `...+00:00` in UTC, numeric rounded to its scale, arrays with awkward elements,
nested jsonb, canonical uuids, and NULL in every nullable column."""

import json

import pytest
from postgrest.exceptions import APIError

from support import TIMESTAMPTZ, key_headers, unique_name

AWKWARD_TAGS = ["", "null", "NULL", "a,b", 'q"uote', "back\\slash", "{brace}", " spaced ", None, "ü☕", "(x)"]
NESTED = {"a": [1, {"b": None}], "c": "ü", "d": 1.5, "e": True, "f": {"g": [], "h": {}}, "big": 12345678901234, "neg": -7}


def insert_one(client, values):
    res = client.table("todos").insert({"title": unique_name("v"), **values}).execute()
    assert len(res.data) == 1
    return res.data[0]


def fetch(client, row_id, columns="*"):
    return client.table("todos").select(columns).eq("id", row_id).single().execute().data


@pytest.mark.parametrize("given,stored", [
    ("2024-06-01T12:00:00+02:00", "2024-06-01T10:00:00+00:00"),
    ("2024-06-01T10:00:00.123456Z", "2024-06-01T10:00:00.123456+00:00"),
    ("2024-06-01 10:00:00.500+00", "2024-06-01T10:00:00.5+00:00"),
    ("2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00+00:00"),
    ("2024-06-01", "2024-06-01T00:00:00+00:00"),
])
def test_timestamptz_is_utc_with_colon_offset(service, anon, given, stored):
    row = insert_one(service, {"due": given})
    assert row["due"] == stored
    assert fetch(anon, row["id"], "due") == {"due": stored}
    assert [r["id"] for r in anon.table("todos").select("id").eq("id", row["id"]).eq("due", given).execute().data] == [row["id"]]


def test_created_at_default_is_a_utc_timestamp(service):
    row = insert_one(service, {})
    assert TIMESTAMPTZ.match(row["created_at"]), row["created_at"]


@pytest.mark.parametrize("given,stored", [
    (12.5, 12.5),
    ("12.345", 12.35),
    (0.005, 0.01),
    (-3, -3),
    (99999999.99, 99999999.99),
    ("1234.5", 1234.5),
])
def test_numeric_keeps_its_scale(service, anon, given, stored):
    row = insert_one(service, {"amount": given})
    assert row["amount"] == stored
    assert fetch(anon, row["id"], "amount") == {"amount": stored}


def test_numeric_overflow_is_22003(service):
    with pytest.raises(APIError) as raised:
        insert_one(service, {"amount": 100000000})
    assert raised.value.code == "22003"


@pytest.mark.parametrize("value", [-2147483648, 2147483647, 0])
def test_integer_bounds(service, anon, value):
    row = insert_one(service, {"priority": value})
    assert fetch(anon, row["id"], "priority") == {"priority": value}


@pytest.mark.parametrize("value", [2147483648, -2147483649])
def test_integer_out_of_range_is_22003(service, value):
    with pytest.raises(APIError) as raised:
        insert_one(service, {"priority": value})
    assert raised.value.code == "22003"


def test_booleans(service, anon):
    yes, no = insert_one(service, {"done": True}), insert_one(service, {"done": False})
    assert (fetch(anon, yes["id"], "done"), fetch(anon, no["id"], "done")) == ({"done": True}, {"done": False})


def test_text_array_with_awkward_elements(service, anon):
    row = insert_one(service, {"tags": AWKWARD_TAGS})
    assert row["tags"] == AWKWARD_TAGS
    assert fetch(anon, row["id"], "tags") == {"tags": AWKWARD_TAGS}
    found = anon.table("todos").select("id").eq("id", row["id"]).contains("tags", ["a,b", 'q"uote', " spaced ", "ü☕"]).execute()
    assert [r["id"] for r in found.data] == [row["id"]]


def test_empty_array_is_not_null(service, anon):
    row = insert_one(service, {"tags": []})
    assert fetch(anon, row["id"], "tags") == {"tags": []}


def test_jsonb_nested_round_trip(service, anon):
    row = insert_one(service, {"meta": NESTED})
    assert row["meta"] == NESTED
    assert fetch(anon, row["id"], "meta") == {"meta": NESTED}
    assert fetch(anon, row["id"], "h:meta->f->h, b:meta->a->1->b, c:meta->>c") == {"h": {}, "b": None, "c": "ü"}


@pytest.mark.parametrize("value", [[1, "two", None], "just a string", 42, True])
def test_jsonb_scalars_and_arrays(service, anon, value):
    row = insert_one(service, {"meta": value})
    assert fetch(anon, row["id"], "meta") == {"meta": value}


def test_jsonb_null_is_sql_null(service, anon):
    row = insert_one(service, {"meta": None})
    assert [r["id"] for r in anon.table("todos").select("id").eq("id", row["id"]).is_("meta", None).execute().data] == [row["id"]]


def test_uuid_is_canonical_lower_case(service, anon):
    row = insert_one(service, {"owner": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"})
    assert row["owner"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert fetch(anon, row["id"], "owner") == {"owner": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}


def test_text_keeps_every_character(service, anon):
    text = "line1\nline2\t\\ \"q\" 'single' -- ; /* c */ 😀 ünï"
    row = insert_one(service, {"title": text})
    assert fetch(anon, row["id"], "title") == {"title": text}
    assert [r["id"] for r in anon.table("todos").select("id").eq("title", text).execute().data] == [row["id"]]


def test_all_nullable_columns_null(service, anon):
    row = insert_one(service, {"priority": None, "tags": None, "meta": None, "owner": None, "due": None, "amount": None})
    got = fetch(anon, row["id"], "priority, tags, meta, owner, due, amount")
    assert got == {"priority": None, "tags": None, "meta": None, "owner": None, "due": None, "amount": None}


def test_raw_json_text(project, http, service):
    row = insert_one(service, {"due": "2024-01-01T00:00:00.25+00:00", "amount": 7, "done": True, "tags": ["x"], "meta": {"k": [1]}})
    res = http.get("/rest/v1/todos", params={"select": "due,done,tags,meta", "id": f"eq.{row['id']}"}, headers=key_headers(project.anon_key))
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("application/json")
    assert json.loads(res.text) == [{"due": "2024-01-01T00:00:00.25+00:00", "done": True, "tags": ["x"], "meta": {"k": [1]}}]
    assert '"due":"2024-01-01T00:00:00.25+00:00"' in res.text.replace(" ", "")
