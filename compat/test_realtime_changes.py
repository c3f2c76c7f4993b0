"""postgres_changes through the real async supabase-py client, on both backends.

Each test opens the client's own realtime socket, subscribes the way an app does
(`channel(...).on_postgres_changes(...).subscribe()`), writes through the Data API (or, for the
row-level security case, as different users) and checks the payloads the client hands to its
callbacks: the client silently drops frames that are off by a key, so a missing event here is a
protocol error."""

import asyncio
from datetime import datetime

import pytest
from supabase import AsyncClientOptions, acreate_client

from nodes import TIMEOUT, create_project
from support import unique_name

SQL = """
create table rt_todos (id bigint primary key, title text not null, done boolean not null default false, meta jsonb);
create table rt_quiet (id bigint primary key);
create table rt_private (id bigint primary key, owner uuid not null, body text not null);
alter table rt_private enable row level security;
create policy "owners read" on rt_private for select to authenticated using (owner = auth.uid());
alter publication supabase_realtime add table rt_todos, rt_private;
"""

WAIT = 15.0


@pytest.fixture(scope="module")
def rt_project(node):
    return create_project(node, "rt_changes", sql=SQL)


async def client_for(project, key):
    return await acreate_client(project.url, key, options=AsyncClientOptions(postgrest_client_timeout=TIMEOUT))


async def until(predicate, what):
    """Waits for `predicate()`; a hang is reported as what was awaited, not as a timing."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def subscribed(client, name, bindings):
    """A channel with one callback per binding (event, table, filter); returns it and the
    payloads each callback received."""
    channel = client.channel(name)
    received = [[] for _ in bindings]
    for index, (event, table, filter_) in enumerate(bindings):
        channel.on_postgres_changes(event, callback=received[index].append, table=table, schema="public", filter=filter_)
    states = []
    await channel.subscribe(lambda state, error: states.append((state, error)))
    await until(lambda: states, "the join reply")
    assert str(states[0][0]).endswith("SUBSCRIBED"), states
    return channel, received


def run(coroutine):
    return asyncio.run(coroutine)


def test_inserts_updates_and_deletes_reach_a_subscriber(rt_project):
    async def scenario():
        service = await client_for(rt_project, rt_project.service_role_key)
        channel, (everything,) = await subscribed(service, unique_name("all"), [("*", "rt_todos", None)])
        await service.table("rt_todos").insert({"id": 1, "title": "write", "meta": {"tags": ["a"]}}).execute()
        await service.table("rt_todos").update({"done": True}).eq("id", 1).execute()
        await service.table("rt_todos").delete().eq("id", 1).execute()
        await service.table("rt_quiet").insert({"id": 1}).execute()
        await until(lambda: len(everything) >= 3, "three changes")
        await asyncio.sleep(0.5)
        assert len(everything) == 3, "the unpublished table sends nothing, and nothing arrives twice"

        insert, update, delete = (payload["data"] for payload in everything)
        assert [change["type"] for change in (insert, update, delete)] == ["INSERT", "UPDATE", "DELETE"]
        assert insert["schema"] == "public" and insert["table"] == "rt_todos"
        assert insert["record"] == {"id": 1, "title": "write", "done": False, "meta": {"tags": ["a"]}}
        assert "old_record" not in insert or insert["old_record"] == {}
        assert update["record"]["done"] is True
        assert update["old_record"] == {"id": 1}
        assert delete["old_record"] == {"id": 1}
        assert insert["errors"] is None
        assert [column["name"] for column in insert["columns"]] == ["id", "title", "done", "meta"]
        assert [column["type"] for column in insert["columns"]] == ["int8", "text", "bool", "jsonb"]
        stamp = datetime.fromisoformat(insert["commit_timestamp"].replace("Z", "+00:00"))
        assert stamp.tzinfo is not None
        await service.remove_channel(channel)

    run(scenario())


def test_filters_and_events_pick_the_changes_each_callback_gets(rt_project):
    async def scenario():
        service = await client_for(rt_project, rt_project.service_role_key)
        channel, (done_inserts, some_ids, updates) = await subscribed(service, unique_name("filters"), [
            ("INSERT", "rt_todos", "done=eq.true"),
            ("*", "rt_todos", "id=in.(101,103)"),
            ("UPDATE", "rt_todos", None),
        ])
        rows = [{"id": 100 + n, "title": f"t{n}", "done": n % 2 == 0} for n in range(1, 5)]
        await service.table("rt_todos").insert(rows).execute()
        await service.table("rt_todos").update({"title": "renamed"}).eq("id", 103).execute()
        await until(lambda: len(done_inserts) >= 2 and len(some_ids) >= 3 and len(updates) >= 1, "the filtered changes")
        await asyncio.sleep(0.5)
        assert sorted(p["data"]["record"]["id"] for p in done_inserts) == [102, 104]
        assert [(p["data"]["record"]["id"], p["data"]["record"]["title"]) for p in some_ids] == [(101, "t1"), (103, "t3"), (103, "renamed")]
        assert [p["data"]["record"]["id"] for p in updates] == [103]
        await service.remove_channel(channel)

    run(scenario())


def test_a_signed_in_subscriber_gets_only_the_rows_it_may_read(rt_project):
    async def scenario():
        alice = await client_for(rt_project, rt_project.anon_key)
        await alice.auth.sign_up({"email": f"{unique_name('alice')}@example.com", "password": "secret-password"})
        alice_id = (await alice.auth.get_user()).user.id
        channel, (seen,) = await subscribed(alice, unique_name("private"), [("INSERT", "rt_private", None)])
        service = await client_for(rt_project, rt_project.service_role_key)
        await service.table("rt_private").insert([
            {"id": 1, "owner": "22222222-2222-4222-8222-222222222222", "body": "someone else's"},
            {"id": 2, "owner": alice_id, "body": "alice's"},
        ]).execute()
        await until(lambda: seen, "alice's row")
        await asyncio.sleep(0.5)
        assert [p["data"]["record"]["body"] for p in seen] == ["alice's"]
        await alice.remove_channel(channel)

    run(scenario())


def test_joining_an_unpublished_or_missing_table_is_refused(rt_project):
    async def scenario():
        service = await client_for(rt_project, rt_project.service_role_key)
        for table in ["rt_quiet", "no_such_table"]:
            channel = service.channel(unique_name("refused"))
            channel.on_postgres_changes("*", callback=lambda payload: None, table=table, schema="public")
            states = []
            await channel.subscribe(lambda state, error: states.append((state, error)))
            await until(lambda: states, f"the join reply for {table}")
            assert str(states[0][0]).endswith("CHANNEL_ERROR"), (table, states)
            await service.remove_channel(channel)

    run(scenario())
