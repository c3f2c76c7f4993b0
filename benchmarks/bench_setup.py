#!/usr/bin/env python3
"""Sets up benchmark data through Cellbase's own APIs (admin API and Data API), stdlib only.

  bench_setup.py project URL ADMIN_TOKEN NAME SQL_FILE          -> prints "ref anon_key service_role_key"
  bench_setup.py load URL SERVICE_KEY TABLE FIRST LAST [BATCH]  -> inserts items FIRST..LAST (ids explicit)
  bench_setup.py projects URL ADMIN_TOKEN COUNT ROWS SQL_FILE KEYS_OUT -> COUNT projects with ROWS items each
  bench_setup.py check URL KEY ID                               -> fails unless items?id=eq.ID is that one item
  bench_setup.py count URL KEY TABLE                            -> prints the exact row count
  bench_setup.py span URL KEY TABLE                             -> prints seconds between first and last created_at
  bench_setup.py signup URL ANON_KEY EMAIL PASSWORD             -> prints "user_id access_token"
  bench_setup.py sessions URL ANON_KEY EMAIL PASSWORD COUNT OUT -> COUNT sign-ins; their refresh tokens, one per line
  bench_setup.py owned URL SERVICE_KEY TABLE FIRST LAST OWNER   -> inserts notes FIRST..LAST owned by OWNER
  bench_setup.py check-note URL ANON_KEY TOKEN TABLE ID         -> fails unless TABLE?id=eq.ID is that one note
  bench_setup.py burst URL ANON_KEY EMAIL PASSWORD COUNT        -> COUNT sign-ins at once while /health/live is
                                                                   polled; prints their latencies (see burst())
  bench_setup.py telemetry-day URL SERVICE_KEY DEVICE END       -> creates DEVICE and stores one value a second of
                                                                   metric temp for the day ending at END (epoch s)
"""

import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

TIMEOUT = 120


def call(method, url, headers, body=None):
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {url} -> {error.code}: {error.read()[:500]!r}")


def key_headers(key):
    return {"apikey": key, "Authorization": f"Bearer {key}"}


def create_project(url, token, name, sql):
    admin = {"Authorization": f"Bearer {token}"}
    status, _, body = call("POST", f"{url}/admin/v1/projects", admin, {"name": name})
    assert status == 201, (status, body)
    project = json.loads(body)
    status, _, body = call("POST", f"{url}/admin/v1/projects/{project['ref']}/migrations", admin, {"name": "001_items", "sql": sql})
    assert status == 201, (status, body)
    return project


def item(i):
    return {"id": i, "name": f"item {i}", "price": round((i % 10000) / 100, 2)}


def load(url, key, table, first, last, batch=10_000):
    headers = {**key_headers(key), "Prefer": "return=minimal"}
    for start in range(first, last + 1, batch):
        rows = [item(i) for i in range(start, min(start + batch - 1, last) + 1)]
        status, _, _ = call("POST", f"{url}/rest/v1/{table}", headers, rows)
        assert status == 201, status


def count(url, key, table):
    status, headers, _ = call("GET", f"{url}/rest/v1/{table}?select=id&limit=1", {**key_headers(key), "Prefer": "count=exact"})
    assert status == 200, status
    return int(headers["Content-Range"].split("/")[1])


def created_at(url, key, table, direction):
    _, _, body = call("GET", f"{url}/rest/v1/{table}?select=created_at&order=created_at.{direction}&limit=1", key_headers(key))
    return datetime.fromisoformat(json.loads(body)[0]["created_at"])


def auth_call(url, anon, path, body):
    _, _, answer = call("POST", f"{url}/auth/v1/{path}", key_headers(anon), body)
    return json.loads(answer)


def user_headers(anon, token):
    return {"apikey": anon, "Authorization": f"Bearer {token}"}


def note(i, owner):
    return {"id": i, "owner": owner, "body": f"note {i}"}


def burst(url, anon, email, password, total):
    """COUNT password sign-ins released together, one thread each, while another thread polls
    /health/live: the sign-ins' median and slowest latency, and the slowest health answer during
    the burst (bcrypt must neither miss the client's 5 s timeout nor stall the event loops)."""
    start = threading.Barrier(total + 1)
    latencies = [None] * total
    done = threading.Event()
    health = []

    def sign_in(index):
        start.wait()
        began = time.perf_counter()
        auth_call(url, anon, "token?grant_type=password", {"email": email, "password": password})
        latencies[index] = time.perf_counter() - began

    def poll():
        start.wait()
        while not done.is_set():
            began = time.perf_counter()
            with urllib.request.urlopen(f"{url}/health/live", timeout=TIMEOUT) as response:
                assert response.status == 200
            health.append(time.perf_counter() - began)

    threads = [threading.Thread(target=sign_in, args=(i,)) for i in range(total)]
    poller = threading.Thread(target=poll)
    for thread in threads + [poller]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    poller.join()
    assert all(latency is not None for latency in latencies), "a sign-in failed"
    print(f"signins={total} median_s={statistics.median(latencies):.3f} max_s={max(latencies):.3f} "
          f"health_polls={len(health)} health_median_ms={statistics.median(health) * 1000:.1f} health_max_ms={max(health) * 1000:.1f}")


def telemetry_day(url, key, device, end):
    """86,400 points of `temp` for DEVICE, one a second, through line-protocol ingest; checks the count."""
    status, _, _ = call("POST", f"{url}/telemetry/v1/devices", key_headers(key), {"id": device})
    assert status == 201, status
    start = end - 86_400
    for chunk_start in range(start, end, 8_640):
        lines = "".join(f"env,device={device} temp={20 + (t % 600) / 100} {t}\n" for t in range(chunk_start, min(chunk_start + 8_640, end)))
        request = urllib.request.Request(
            f"{url}/telemetry/v1/ingest?precision=s", data=lines.encode(), method="POST",
            headers={**key_headers(key), "Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            assert response.status in (200, 201), response.status
    query = f"device={device}&metric=env.temp&from={start}&to={end}&bucket=1d&agg=count"
    _, _, body = call("GET", f"{url}/telemetry/v1/series?{query}", key_headers(key))
    stored = sum(point["value"] for point in json.loads(body)["points"])
    if stored != 86_400:
        raise SystemExit(f"{device} has {stored} points of env.temp, not 86,400")


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "project":
        url, token, name, sql_file = args
        project = create_project(url, token, name, open(sql_file).read())
        print(project["ref"], project["anon_key"], project["service_role_key"])
    elif command == "load":
        url, key, table, first, last, *rest = args
        load(url, key, table, int(first), int(last), *(int(x) for x in rest))
    elif command == "projects":
        url, token, total, rows, sql_file, keys_out = args
        sql = open(sql_file).read()

        def make(index):
            project = create_project(url, token, f"bench_{index:04d}", sql)
            load(url, project["service_role_key"], "items", 1, int(rows))
            return project["anon_key"]

        # A few at a time: enough to overlap round trips without turning setup into a load test.
        with ThreadPoolExecutor(max_workers=4) as pool:
            keys = list(pool.map(make, range(int(total))))
        with open(keys_out, "w") as out:
            out.write("\n".join(keys) + "\n")
    elif command == "check":
        url, key, row_id = args
        _, _, body = call("GET", f"{url}/rest/v1/items?id=eq.{row_id}&select=id,name", key_headers(key))
        rows = json.loads(body)
        if rows != [{"id": int(row_id), "name": f"item {row_id}"}]:
            raise SystemExit(f"items?id=eq.{row_id} answered {rows!r}")
    elif command == "count":
        url, key, table = args
        print(count(url, key, table))
    elif command == "span":
        url, key, table = args
        print(f"{(created_at(url, key, table, 'desc') - created_at(url, key, table, 'asc')).total_seconds():.3f}")
    elif command == "signup":
        url, anon, email, password = args
        session = auth_call(url, anon, "signup", {"email": email, "password": password})
        print(session["user"]["id"], session["access_token"])
    elif command == "sessions":
        url, anon, email, password, total, out_file = args
        # bcrypt makes each sign-in cost tens of milliseconds: a few at a time.
        with ThreadPoolExecutor(max_workers=4) as pool:
            sessions = list(pool.map(
                lambda _: auth_call(url, anon, "token?grant_type=password", {"email": email, "password": password}),
                range(int(total)),
            ))
        with open(out_file, "w") as out:
            out.write("\n".join(session["refresh_token"] for session in sessions) + "\n")
    elif command == "owned":
        url, key, table, first, last, owner = args
        headers = {**key_headers(key), "Prefer": "return=minimal"}
        status, _, _ = call("POST", f"{url}/rest/v1/{table}", headers, [note(i, owner) for i in range(int(first), int(last) + 1)])
        assert status == 201, status
    elif command == "check-note":
        url, anon, token, table, row_id = args
        _, _, body = call("GET", f"{url}/rest/v1/{table}?id=eq.{row_id}&select=id,body", user_headers(anon, token))
        rows = json.loads(body)
        if rows != [{"id": int(row_id), "body": f"note {row_id}"}]:
            raise SystemExit(f"{table}?id=eq.{row_id} answered {rows!r}")
    elif command == "telemetry-day":
        url, key, device, end = args
        telemetry_day(url, key, device, int(end))
    elif command == "burst":
        url, anon, email, password, total = args
        burst(url, anon, email, password, int(total))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
