#!/usr/bin/env python3
"""Sets up benchmark data through Cellbase's own APIs (admin API and Data API), stdlib only.

  bench_setup.py project URL ADMIN_TOKEN NAME SQL_FILE          -> prints "ref anon_key service_role_key"
  bench_setup.py load URL SERVICE_KEY TABLE FIRST LAST [BATCH]  -> inserts items FIRST..LAST (ids explicit)
  bench_setup.py projects URL ADMIN_TOKEN COUNT ROWS SQL_FILE KEYS_OUT -> COUNT projects with ROWS items each
  bench_setup.py check URL KEY ID                               -> fails unless items?id=eq.ID is that one item
  bench_setup.py count URL KEY TABLE                            -> prints the exact row count
  bench_setup.py span URL KEY TABLE                             -> prints seconds between first and last created_at
"""

import json
import sys
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
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
