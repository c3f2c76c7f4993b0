"""A node killed with `kill -9` while 1,000 jobs run: afterwards every job has either completed
or is queued again, none is lost, and none runs twice at once.

Like test_durability.py, these tests start their own `cellbase serve` processes (from
$CELLBASE_BIN) on temporary data directories. One node runs 1,000 sleeping no-op jobs at once
and is killed; a node without a job worker then reads the queue as the dead node left it; a third
node on the same data and shard takes the jobs over once their leases have run out and completes
each of them exactly once.
"""

import os
import re
import tempfile
import time
from datetime import datetime

import httpx
import pytest

from test_durability import NodeProcess, create_project, required_env

JOBS = 1000
QUEUE = "kill9"
# Long enough that no job can finish between the moment all of them are seen running and the
# kill, short enough that the second attempts finish quickly.
SLEEP_MS = 20_000
LEASE_SECONDS = 4
WORKER_FLAGS = ["--no-mqtt", "--jobs-concurrency", str(JOBS), "--jobs-lease-seconds", str(LEASE_SECONDS)]
VIEWER_FLAGS = ["--no-mqtt", "--no-job-worker"]
WAIT_SECONDS = 240
PAGE = 1000


def admin_client(node):
    token = open(os.path.join(node.data, "admin_token")).read().strip()
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def milliseconds(text):
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def jobs_in_queue(admin, ref, state=None):
    """Every job of the test's queue (in `state` when given), by id, read page by page."""
    params = {"queue": QUEUE, "limit": PAGE}
    if state:
        params["state"] = state
    jobs, offset = {}, 0
    while True:
        page = admin.get(f"/admin/v1/projects/{ref}/jobs", params={**params, "offset": offset})
        assert page.status_code == 200, page.text
        rows = page.json()
        jobs.update((job["id"], job) for job in rows)
        if len(rows) < PAGE:
            return jobs
        offset += PAGE


def set_paused(admin, ref, paused):
    answer = admin.put(f"/admin/v1/projects/{ref}/queues/{QUEUE}", json={"paused": paused})
    assert answer.status_code == 200, answer.text
    assert answer.json()["paused"] is paused


def enqueue_sleepers(admin, ref):
    ids = set()
    for i in range(JOBS):
        answer = admin.post(f"/admin/v1/projects/{ref}/jobs", json={
            "kind": "noop", "queue": QUEUE, "payload": {"sleep_ms": SLEEP_MS}, "idempotency_key": f"kill9-{i}",
        })
        assert answer.status_code == 201, answer.text
        job = answer.json()
        assert (job["state"], job["attempts"]) == ("queued", 0), job
        ids.add(job["id"])
    assert len(ids) == JOBS
    return ids


def completed_attempts(node, ref):
    """This node's `cellbase_jobs_attempts_total` for the project's no-op jobs, by outcome."""
    text = httpx.get(f"{node.url}/metrics", timeout=30).text
    outcomes = {}
    for line in text.splitlines():
        if not line.startswith("cellbase_jobs_attempts_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.index("}")]))
        if labels.get("project") == ref and labels.get("kind") == "noop":
            outcomes[labels["outcome"]] = float(line.rsplit(" ", 1)[1])
    return outcomes


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_jobs_running_on_a_node_killed_with_kill_9_run_again_exactly_once(backend):
    shard = []
    if backend == "postgres":
        shard = ["--shard", "pg=" + required_env("CELLBASE_TEST_POSTGRES_URL"), "--default-shard", "pg"]
    with tempfile.TemporaryDirectory() as data:
        # 1. One node runs all 1,000 jobs at once, each for the first time, and is killed.
        first = NodeProcess(data, shard + WORKER_FLAGS).start()
        try:
            project = create_project(first, f"jobs_kill9_{backend}")
            ref = project["ref"]
            with admin_client(first) as admin:
                set_paused(admin, ref, True)
                ids = enqueue_sleepers(admin, ref)
                set_paused(admin, ref, False)
                deadline = time.monotonic() + WAIT_SECONDS
                while True:
                    running = jobs_in_queue(admin, ref, "running")
                    if set(running) == ids:
                        break
                    assert time.monotonic() < deadline, f"{len(running)} of {JOBS} jobs running after {WAIT_SECONDS} s"
                    time.sleep(0.2)
        finally:
            first.kill()
        assert {job["attempts"] for job in running.values()} == {1}, "a job was claimed twice while its first node lived"
        owners = {job["lease_owner"] for job in running.values()}
        assert len(owners) == 1 and None not in owners, owners
        (first_owner,) = owners

        # 2. The queue as the killed node left it: every job still there, still leased to it.
        viewer = NodeProcess(data, shard + VIEWER_FLAGS).start()
        try:
            with admin_client(viewer) as admin:
                left = jobs_in_queue(admin, ref)
        finally:
            viewer.kill()
        assert set(left) == ids, f"{len(ids - set(left))} jobs lost, {len(set(left) - ids)} unexpected"
        for job in left.values():
            assert (job["state"], job["attempts"], job["lease_owner"]) == ("running", 1, first_owner), job
            assert milliseconds(job["lease_expires_at"]) >= milliseconds(running[job["id"]]["lease_expires_at"]), job
        dead_lease = {job["id"]: milliseconds(job["lease_expires_at"]) for job in left.values()}

        # 3. A node on the same data and shard takes each job over once its lease has run out,
        #    and completes it once.
        second = NodeProcess(data, shard + WORKER_FLAGS).start()
        try:
            with admin_client(second) as admin:
                claimed_again = {}
                deadline = time.monotonic() + WAIT_SECONDS
                while True:
                    for job in jobs_in_queue(admin, ref, "running").values():
                        if job["attempts"] == 1:
                            # Not taken over yet: still the dead node's lease.
                            assert job["lease_owner"] == first_owner, job
                            assert milliseconds(job["lease_expires_at"]) == dead_lease[job["id"]], job
                            continue
                        assert job["attempts"] == 2, job
                        assert job["lease_owner"] is not None, job
                        # A claim sets `updated_at` and renewals leave it: the second attempt
                        # began after the first one's lease had ended, by the database's clock.
                        claimed_at = milliseconds(job["updated_at"])
                        assert claimed_at > dead_lease[job["id"]], job
                        assert claimed_again.setdefault(job["id"], claimed_at) == claimed_at, job
                    finished = jobs_in_queue(admin, ref, "completed")
                    if len(finished) == JOBS:
                        break
                    assert time.monotonic() < deadline, f"{len(finished)} of {JOBS} jobs completed after {WAIT_SECONDS} s"
                    time.sleep(0.2)
                everything = jobs_in_queue(admin, ref)
                outcomes = completed_attempts(second, ref)
        finally:
            second.kill()
        assert set(finished) == ids == set(everything)
        for job in everything.values():
            assert (job["state"], job["attempts"], job["lease_owner"], job["lease_expires_at"]) == ("completed", 2, None, None), job
        assert set(claimed_again) == ids, f"{len(ids - set(claimed_again))} jobs were never seen in their second attempt"
        assert outcomes == {"completed": JOBS}, outcomes

