"""The admin API the suite relies on: migrations are applied once, refused whole when invalid, and
a later migration is visible to the Data API at once."""

import pytest
from postgrest.exceptions import APIError

from nodes import admin_client
from support import SCHEMA_SQL

ADD_NOTE = "alter table todos add column note text;\ncreate index todos_note on todos (note);"


def migrate(project, name, sql):
    with admin_client(project.node) as admin:
        return admin.post(f"/admin/v1/projects/{project.ref}/migrations", json={"name": name, "sql": sql})


def test_reapplying_a_migration_is_200(project):
    res = migrate(project, "001_schema", SCHEMA_SQL)
    assert (res.status_code, res.json()["applied"]) == (200, False)


def test_invalid_migration_is_400_and_changes_nothing(project, service):
    res = migrate(project, "002_bad", "alter table todos add column ok text;\ncreate tabel oops (id int);")
    assert (res.status_code, res.json()["code"]) == (400, "migration_invalid")
    with pytest.raises(APIError) as raised:
        service.table("todos").select("ok").execute()
    assert raised.value.code == "42703"
    with admin_client(project.node) as admin:
        listed = admin.get(f"/admin/v1/projects/{project.ref}/migrations")
    names = [m["name"] for m in listed.json()]
    assert names[0] == "001_schema" and "002_bad" not in names


def test_new_column_is_served_right_after_its_migration(project, service):
    res = migrate(project, "003_note", ADD_NOTE)
    assert (res.status_code, res.json()["applied"]) == (201, True)
    row = service.table("todos").insert({"title": "with note", "note": "n"}).execute().data[0]
    assert (row["title"], row["note"]) == ("with note", "n")
    assert service.table("todos").select("title").eq("note", "n").execute().data == [{"title": "with note"}]


def test_same_name_with_other_sql_is_a_conflict(project):
    res = migrate(project, "001_schema", "create table other (id int primary key);")
    assert (res.status_code, res.json()["code"]) == (409, "migration_conflict")


def test_unknown_project_is_404(project):
    with admin_client(project.node) as admin:
        res = admin.post("/admin/v1/projects/zzzzzzzzzzzzzzzzzzzz/migrations", json={"name": "x", "sql": "create table t (id int);"})
    assert (res.status_code, res.json()["code"]) == (404, "project_not_found")
