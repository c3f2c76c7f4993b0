"""Reads (reference §3.3, §3.5–§3.7): columns, renames, JSON paths, order, pagination, counts,
single() and maybe_single(), against the seeded rows of support.SEED_TODOS."""

import pytest
from postgrest.exceptions import APIError

from support import SEED_BY_ID, SEED_TODOS, TIMESTAMPTZ, ids, key_headers, without_created_at

DECLARED_COLUMNS = ["id", "title", "done", "priority", "tags", "meta", "owner", "due", "created_at", "amount"]


def test_select_star_returns_every_column_in_declaration_order(seeded, anon):
    res = anon.table("todos").select("*").order("id").execute()
    assert [without_created_at(row) for row in res.data] == SEED_TODOS
    for row in res.data:
        assert list(row) == DECLARED_COLUMNS
        assert TIMESTAMPTZ.match(row["created_at"]), row["created_at"]


def test_select_default_is_star(seeded, anon):
    res = anon.table("todos").select().eq("id", 2).execute()
    assert [without_created_at(row) for row in res.data] == [SEED_BY_ID[2]]


def test_select_columns(seeded, anon):
    res = anon.table("todos").select("id, title").order("id").limit(2).execute()
    assert res.data == [{"id": 1, "title": "Buy milk"}, {"id": 2, "title": "Write report, draft (v2)"}]


def test_select_several_arguments(seeded, anon):
    res = anon.table("todos").select("title", "done").eq("id", 4).execute()
    assert res.data == [{"title": "Ünïcödé ☕ café", "done": True}]


def test_select_renames(seeded, anon):
    res = anon.table("todos").select("id, name:title, is_done:done").eq("id", 1).execute()
    assert res.data == [{"id": 1, "name": "Buy milk", "is_done": False}]
    assert list(res.data[0]) == ["id", "name", "is_done"]


def test_select_json_arrow_keeps_json_and_double_arrow_gives_text(seeded, anon):
    res = anon.table("todos").select("id, meta->kind, meta->>qty").eq("id", 1).execute()
    assert res.data == [{"id": 1, "kind": "errand", "qty": "2"}]
    res = anon.table("todos").select("id, meta->qty").eq("id", 1).execute()
    assert res.data == [{"id": 1, "qty": 2}]


def test_select_json_paths_with_aliases(seeded, anon):
    res = (
        anon.table("todos")
        .select("id, store:meta->store, store_name:meta->store->>name, qty:meta->qty")
        .in_("id", [1, 3])
        .order("id")
        .execute()
    )
    assert res.data == [
        {"id": 1, "store": {"name": "Corner", "zip": "10115"}, "store_name": "Corner", "qty": 2},
        {"id": 3, "store": None, "store_name": None, "qty": None},
    ]


def test_select_deep_json_path_and_array_index(seeded, anon):
    res = anon.table("todos").select("id, meta->nested->deep").eq("id", 6).execute()
    assert res.data == [{"id": 6, "deep": {"level": 3}}]
    res = anon.table("todos").select("id, first_tag:meta->tags->0, second:meta->tags->>1").eq("id", 4).execute()
    assert res.data == [{"id": 4, "first_tag": "x", "second": "y"}]


ORDERS = [
    ("desc nullsfirst", lambda q: q.order("priority", desc=True, nullsfirst=True).order("id"), [3, 5, 2, 6, 4, 1]),
    ("desc puts nulls first by default", lambda q: q.order("priority", desc=True).order("id"), [3, 5, 2, 6, 4, 1]),
    ("asc puts nulls last by default", lambda q: q.order("priority").order("id"), [1, 4, 2, 6, 5, 3]),
    ("asc nullsfirst", lambda q: q.order("priority", nullsfirst=True).order("id"), [3, 1, 4, 2, 6, 5]),
    ("desc nullslast, second key desc", lambda q: q.order("priority", desc=True, nullsfirst=False).order("id", desc=True), [5, 6, 2, 4, 1, 3]),
    ("timestamptz desc", lambda q: q.order("due", desc=True).order("id"), [3, 4, 2, 1, 6, 5]),
    ("text by code point", lambda q: q.order("title"), [5, 1, 3, 2, 6, 4]),
    ("json path", lambda q: q.order("meta->>kind").order("id"), [5, 1, 4, 6, 2, 3]),
    ("bool then numeric desc", lambda q: q.order("done").order("amount", desc=True), [3, 5, 1, 6, 2, 4]),
]


@pytest.mark.parametrize("name,apply,expected", ORDERS, ids=[case[0] for case in ORDERS])
def test_order(seeded, anon, name, apply, expected):
    assert ids(apply(anon.table("todos").select("id")).execute().data) == expected


PAGES = [
    ("limit", lambda q: q.limit(2), [1, 2]),
    ("limit and offset", lambda q: q.limit(2).offset(2), [3, 4]),
    ("range is inclusive", lambda q: q.range(1, 3), [2, 3, 4]),
    ("offset alone", lambda q: q.offset(5), [6]),
    ("range past the end", lambda q: q.range(10, 12), []),
    ("limit zero", lambda q: q.limit(0), []),
]


@pytest.mark.parametrize("name,apply,expected", PAGES, ids=[case[0] for case in PAGES])
def test_pagination(seeded, anon, name, apply, expected):
    assert ids(apply(anon.table("todos").select("id").order("id")).execute().data) == expected


def test_count_exact(seeded, anon):
    res = anon.table("todos").select("id", count="exact").eq("done", False).order("id").execute()
    assert (ids(res.data), res.count) == ([1, 3, 5, 6], 4)


def test_count_exact_counts_all_pages(seeded, anon):
    res = anon.table("todos").select("id", count="exact").eq("done", False).order("id").range(1, 2).execute()
    assert (ids(res.data), res.count) == ([3, 5], 4)


def test_count_exact_of_nothing(seeded, anon):
    res = anon.table("todos").select("id", count="exact").eq("id", 999).execute()
    assert (res.data, res.count) == ([], 0)


def test_count_without_prefer_is_none(seeded, anon):
    assert anon.table("todos").select("id").execute().count is None


def test_content_range_header(seeded, anon, http, project):
    headers = {**key_headers(project.anon_key), "Prefer": "count=exact"}
    page = http.get("/rest/v1/todos", params={"select": "id", "done": "eq.false", "order": "id", "limit": 2, "offset": 1}, headers=headers)
    assert (page.status_code, page.headers["content-range"], page.json()) == (200, "1-2/4", [{"id": 3}, {"id": 5}])
    empty = http.get("/rest/v1/todos", params={"select": "id", "id": "eq.999"}, headers=headers)
    assert (empty.status_code, empty.headers["content-range"], empty.json()) == (200, "*/0", [])


def test_head_with_count(seeded, anon, http, project):
    res = anon.table("todos").select("*", count="exact", head=True).eq("done", True).execute()
    assert (res.data, res.count) == ([], 2)
    raw = http.head("/rest/v1/todos", params={"done": "eq.true"}, headers={**key_headers(project.anon_key), "Prefer": "count=exact"})
    assert (raw.status_code, raw.headers["content-range"], raw.content) == (200, "0-1/2", b"")


def test_single_returns_an_object(seeded, anon):
    res = anon.table("todos").select("*").eq("id", 1).single().execute()
    assert without_created_at(res.data) == SEED_BY_ID[1]
    res = anon.table("todos").select("title").eq("id", 2).single().execute()
    assert res.data == {"title": "Write report, draft (v2)"}


@pytest.mark.parametrize("apply,rows", [(lambda q: q.eq("id", 999), 0), (lambda q: q.eq("done", True), 2)], ids=["none", "two"])
def test_single_with_zero_or_many_rows_is_pgrst116(seeded, anon, apply, rows):
    with pytest.raises(APIError) as raised:
        apply(anon.table("todos").select("id")).single().execute()
    assert (raised.value.code, raised.value.message, raised.value.details) == (
        "PGRST116", "JSON object requested, multiple (or no) rows returned", f"The result contains {rows} rows",
    )


def test_single_status_is_406(seeded, http, project):
    res = http.get(
        "/rest/v1/todos",
        params={"select": "id", "id": "eq.999"},
        headers={**key_headers(project.anon_key), "Accept": "application/vnd.pgrst.object+json"},
    )
    assert (res.status_code, res.json()["code"]) == (406, "PGRST116")


def test_maybe_single(seeded, anon):
    assert anon.table("todos").select("id").eq("id", 999).maybe_single().execute() is None
    res = anon.table("todos").select("id, title").eq("id", 3).maybe_single().execute()
    assert res.data == {"id": 3, "title": "Call mom"}
    with pytest.raises(APIError) as raised:
        anon.table("todos").select("id").eq("done", True).maybe_single().execute()
    assert raised.value.code == "406"
