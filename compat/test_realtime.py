"""Realtime through the real supabase-py async client: broadcast between two clients and
presence sync and leave, on each backend. (postgres_changes come with change capture.)"""

import asyncio

from supabase import acreate_client

WAIT = 10


async def subscribed(channel):
    """Subscribes and returns once the node has answered the join."""
    ready = asyncio.get_running_loop().create_future()

    def on_status(status, error):
        if not ready.done():
            ready.set_result((str(status), error))

    await channel.subscribe(on_status)
    status, error = await asyncio.wait_for(ready, WAIT)
    assert status.endswith("SUBSCRIBED"), (status, error)
    return channel


async def two_clients(project):
    return await acreate_client(project.url, project.anon_key), await acreate_client(project.url, project.anon_key)


def test_broadcast_reaches_the_other_client_but_not_the_sender(project):
    async def scenario():
        alice, bob = await two_clients(project)
        heard_by_bob = asyncio.Queue()
        heard_by_alice = asyncio.Queue()
        try:
            sender = alice.channel("room", {"config": {"broadcast": {"self": False}}})
            sender.on_broadcast("ping", lambda message: heard_by_alice.put_nowait(message))
            receiver = bob.channel("room")
            receiver.on_broadcast("ping", lambda message: heard_by_bob.put_nowait(message))
            await subscribed(sender)
            await subscribed(receiver)

            await sender.send_broadcast("ping", {"n": 1, "text": "héllo"})
            message = await asyncio.wait_for(heard_by_bob.get(), WAIT)
            assert message["event"] == "ping"
            assert message["payload"] == {"n": 1, "text": "héllo"}

            # Bob's answer reaches Alice: had her own ping come back, it would be first in her queue.
            await receiver.send_broadcast("ping", {"n": 2})
            answer = await asyncio.wait_for(heard_by_alice.get(), WAIT)
            assert answer["payload"] == {"n": 2}
        finally:
            await alice.remove_all_channels()
            await bob.remove_all_channels()

    asyncio.run(scenario())


def test_presence_syncs_joins_and_leaves(project):
    async def scenario():
        alice, bob = await two_clients(project)
        try:
            lobby_a = alice.channel("lobby", {"config": {"presence": {"key": "alice"}}})
            synced_a = asyncio.Event()
            lobby_a.on_presence_sync(lambda: synced_a.set())
            await subscribed(lobby_a)
            await lobby_a.track({"user": "alice", "online_at": "2024-05-01T12:00:00Z"})
            await asyncio.wait_for(synced_a.wait(), WAIT)

            lobby_b = bob.channel("lobby", {"config": {"presence": {"key": "bob"}}})
            changes = asyncio.Queue()
            lobby_b.on_presence_sync(lambda: changes.put_nowait(dict(lobby_b.presence_state())))
            await subscribed(lobby_b)

            async def state_where(condition):
                while True:
                    state = await asyncio.wait_for(changes.get(), WAIT)
                    if condition(state):
                        return state

            state = await state_where(lambda s: "alice" in s)
            # The client keeps each meta's phx_ref as `presence_ref`; it raises on a meta without one.
            metas = state["alice"]
            assert metas[0]["user"] == "alice"
            assert metas[0]["presence_ref"]

            await alice.remove_channel(lobby_a)
            await state_where(lambda s: "alice" not in s)
        finally:
            await alice.remove_all_channels()
            await bob.remove_all_channels()

    asyncio.run(scenario())
