"""Every filter the client can send (reference §3.4), against the seeded rows of support.SEED_TODOS."""

import pytest

from support import U1, U2, U3, ids

CASES = [
    # comparison operators; values are never quoted on the wire, whatever they contain
    ("eq int", lambda q: q.eq("id", 1), [1]),
    ("eq bool", lambda q: q.eq("done", True), [2, 4]),
    ("eq comma and parentheses", lambda q: q.eq("title", "Write report, draft (v2)"), [2]),
    ("eq percent and plus", lambda q: q.eq("title", "50% off + free"), [5]),
    ("eq space", lambda q: q.eq("title", "Call mom"), [3]),
    ("eq unicode", lambda q: q.eq("title", "Ünïcödé ☕ café"), [4]),
    ("eq quotes", lambda q: q.eq("title", 'it\'s "quoted"'), [6]),
    ("eq numeric with trailing zero", lambda q: q.eq("amount", "12.50"), [1]),
    ("eq uuid in upper case", lambda q: q.eq("owner", U1.upper()), [1, 4]),
    ("eq timestamptz with another offset", lambda q: q.eq("due", "2024-01-02T12:00:00+02:00"), [1, 6]),
    ("neq skips nulls", lambda q: q.neq("priority", 3), [1, 4, 5]),
    ("neq text", lambda q: q.neq("title", "Buy milk"), [2, 3, 4, 5, 6]),
    ("gt", lambda q: q.gt("priority", 2), [2, 5, 6]),
    ("gte", lambda q: q.gte("priority", 3), [2, 5, 6]),
    ("lt", lambda q: q.lt("priority", 3), [1, 4]),
    ("lte", lambda q: q.lte("priority", 1), [1]),
    ("gt numeric", lambda q: q.gt("amount", 50), [2, 5]),
    ("lt numeric negative", lambda q: q.lt("amount", 0), [6]),
    ("gte timestamptz Z", lambda q: q.gte("due", "2024-01-02T10:00:00Z"), [1, 2, 4, 6]),
    ("lt date only", lambda q: q.lt("due", "2024-01-01"), [5]),
    ("repeated key is AND", lambda q: q.gte("priority", 2).lte("priority", 3), [2, 4, 6]),
    # patterns
    ("like prefix", lambda q: q.like("title", "Buy%"), [1]),
    ("like is case-sensitive", lambda q: q.like("title", "buy%"), []),
    ("like star wildcard", lambda q: q.like("title", "*milk"), [1]),
    ("like comma", lambda q: q.like("title", "%,%"), [2]),
    ("ilike", lambda q: q.ilike("title", "buy%"), [1]),
    ("ilike upper pattern", lambda q: q.ilike("title", "%CAF%"), [4]),
    ("ilike suffix", lambda q: q.ilike("title", "%MOM"), [3]),
    # is
    ("is null int", lambda q: q.is_("priority", None), [3]),
    ("is null jsonb", lambda q: q.is_("meta", None), [3]),
    ("is null array", lambda q: q.is_("tags", None), [6]),
    ("is true", lambda q: q.is_("done", True), [2, 4]),
    ("is false", lambda q: q.is_("done", False), [1, 3, 5, 6]),
    # in
    ("in ints", lambda q: q.in_("id", [1, 3, 5]), [1, 3, 5]),
    ("in with comma value", lambda q: q.in_("title", ["Buy milk", "Write report, draft (v2)"]), [1, 2]),
    ("in with quotes", lambda q: q.in_("title", ['it\'s "quoted"', "Call mom"]), [3, 6]),
    ("in uuids", lambda q: q.in_("owner", [U2, U3]), [2, 5, 6]),
    ("in with null", lambda q: q.in_("priority", [3, None]), [2, 6]),
    ("in empty", lambda q: q.in_("id", []), []),
    # arrays
    ("contains one", lambda q: q.contains("tags", ["shopping"]), [1, 5]),
    ("contains two", lambda q: q.contains("tags", ["shopping", "food"]), [1]),
    ("contains element with space", lambda q: q.contains("tags", ["a b"]), [4]),
    ("contains element with comma", lambda q: q.contains("tags", ["c,d"]), [4]),
    ("contains empty", lambda q: q.contains("tags", []), [1, 2, 3, 4, 5]),
    ("contained_by", lambda q: q.contained_by("tags", ["shopping", "food", "work"]), [1, 2, 3, 5]),
    # jsonb
    ("jsonb contains", lambda q: q.contains("meta", {"kind": "errand"}), [1, 4]),
    ("jsonb contains two keys", lambda q: q.contains("meta", {"kind": "errand", "qty": 2}), [1]),
    ("jsonb contained_by", lambda q: q.contained_by("meta", {"kind": "work", "pages": 10, "extra": True}), [2]),
    ("->> eq", lambda q: q.eq("meta->>kind", "errand"), [1, 4]),
    ("-> ->> eq", lambda q: q.eq("meta->store->>name", "Mega"), [5]),
    ("deep path", lambda q: q.eq("meta->nested->deep->>level", "3"), [6]),
    ("->> number as text", lambda q: q.eq("meta->>qty", 2), [1]),
    ("->> is null", lambda q: q.is_("meta->>store", None), [2, 3, 4, 6]),
    ("->> neq skips nulls", lambda q: q.neq("meta->>kind", "errand"), [2, 5, 6]),
    ("->> in", lambda q: q.in_("meta->>kind", ["deal", "quote"]), [5, 6]),
    # not
    ("not eq", lambda q: q.not_.eq("done", True), [1, 3, 5, 6]),
    ("not in", lambda q: q.not_.in_("id", [1, 2, 3]), [4, 5, 6]),
    ("not is null", lambda q: q.not_.is_("owner", None), [1, 2, 4, 5, 6]),
    ("not like", lambda q: q.not_.like("title", "%a%"), [1, 5, 6]),
    ("not contains", lambda q: q.not_.contains("tags", ["shopping"]), [2, 3, 4]),
    # NOT of a comparison with NULL is NULL, so rows with NULL in the column never match
    ("not contained_by", lambda q: q.not_.contained_by("tags", ["shopping", "food", "work"]), [4]),
    ("not jsonb contains", lambda q: q.not_.contains("meta", {"kind": "errand"}), [2, 5, 6]),
    ("not in skips nulls", lambda q: q.not_.in_("priority", [1, 2]), [2, 5, 6]),
    ("not eq skips nulls", lambda q: q.not_.eq("priority", 3), [1, 4, 5]),
    ("not ilike on json path", lambda q: q.not_.ilike("meta->>kind", "err%"), [2, 5, 6]),
    ("not gt on timestamptz", lambda q: q.not_.gt("due", "2024-01-02T10:00:00+00:00"), [1, 5, 6]),
    # or / and trees
    ("or", lambda q: q.or_("id.eq.1,id.eq.3"), [1, 3]),
    ("or with and", lambda q: q.or_("priority.gt.4,and(done.is.true,priority.lt.3)"), [4, 5]),
    ("or with quoted and spaced values", lambda q: q.or_('title.eq."Write report, draft (v2)",title.eq.Call mom'), [2, 3]),
    ("or nested and(or)", lambda q: q.or_("and(done.eq.false,or(id.eq.1,id.eq.6)),priority.is.null"), [1, 3, 6]),
    ("or with not.and", lambda q: q.or_("not.and(id.gte.2,id.lte.5)"), [1, 6]),
    ("or with in and like", lambda q: q.or_("id.in.(1,2),title.like.*mom"), [1, 2, 3]),
    ("or with cs and json path", lambda q: q.or_("tags.cs.{work},meta->>kind.eq.deal"), [2, 5]),
    ("two ors are AND", lambda q: q.or_("id.eq.1,id.eq.2").or_("id.eq.2,id.eq.3"), [2]),
    ("not.or", lambda q: q.not_.or_("id.eq.1,id.eq.2"), [3, 4, 5, 6]),
    ("or and a filter", lambda q: q.or_("id.eq.1,id.eq.2,id.eq.5").eq("done", False), [1, 5]),
    # match / filter
    ("match", lambda q: q.match({"done": False, "priority": 3}), [6]),
    ("match uuid", lambda q: q.match({"owner": U1}), [1, 4]),
    ("filter gte", lambda q: q.filter("priority", "gte", "3"), [2, 5, 6]),
    ("filter cs", lambda q: q.filter("tags", "cs", "{shopping}"), [1, 5]),
    ("filter in", lambda q: q.filter("id", "in", "(1,2)"), [1, 2]),
    ("filter eq space", lambda q: q.filter("title", "eq", "Call mom"), [3]),
    ("filter not.eq", lambda q: q.filter("priority", "not.eq", "3"), [1, 4, 5]),
]


@pytest.mark.parametrize("name,apply,expected", CASES, ids=[case[0] for case in CASES])
def test_filter(seeded, anon, name, apply, expected):
    res = apply(anon.table("todos").select("id")).order("id").execute()
    assert ids(res.data) == expected


def test_filter_through_update_and_delete_uses_same_encoding(seeded, service):
    # A PATCH/DELETE that matches nothing proves the filter parsed; the rows stay as they are.
    res = service.table("todos").update({"done": True}).eq("title", "Write report, draft (v2)").eq("id", 99).execute()
    assert res.data == []
    res = service.table("todos").delete().in_("title", ["a,b", 'q"q']).execute()
    assert res.data == []
    res = service.table("todos").select("id", count="exact").execute()
    assert res.count == 6
