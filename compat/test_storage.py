"""Storage through the real supabase-py client (storage3), on both backends and on the S3 object
backend (a SQLite node storing object content in moto's S3): buckets, uploads, downloads,
listings, moves, copies, removals, signed download and upload URLs, public URLs, and policies on
storage.objects for signed-in users."""

from pathlib import Path

import httpx
import pytest
from storage3.exceptions import StorageApiError

from nodes import BACKENDS, TIMEOUT, create_project, read_node, supabase_client
from support import unique_name

PASSWORD = "correct horse battery"

POLICIES_SQL = """
create policy "own folder: read" on storage.objects for select to authenticated
    using (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
create policy "own folder: write" on storage.objects for insert to authenticated
    with check (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
"""


@pytest.fixture(scope="module", params=BACKENDS + ["s3"])
def node(request):
    return read_node(request.param)


@pytest.fixture(scope="module")
def project(node, request):
    return create_project(node, Path(request.module.__file__).stem, POLICIES_SQL)


@pytest.fixture(scope="module")
def buckets(service):
    service.storage.create_bucket("docs", options={"public": False, "file_size_limit": 1024, "allowed_mime_types": ["text/*", "image/png"]})
    service.storage.create_bucket("images", options={"public": True})
    service.storage.create_bucket("private")
    return service.storage


def test_bucket_lifecycle(service, buckets):
    names = {bucket.id for bucket in buckets.list_buckets()}
    assert {"docs", "images", "private"} <= names
    docs = buckets.get_bucket("docs")
    assert docs.public is False
    assert docs.file_size_limit == 1024
    assert docs.allowed_mime_types == ["text/*", "image/png"]
    assert docs.owner == ""

    buckets.create_bucket("scratch")
    buckets.update_bucket("scratch", options={"public": True, "file_size_limit": 10})
    assert buckets.get_bucket("scratch").public is True
    buckets.from_("scratch").upload("x.txt", b"x")
    with pytest.raises(StorageApiError) as refused:
        buckets.delete_bucket("scratch")
    assert refused.value.status == "409"
    assert buckets.empty_bucket("scratch") == {"message": "Successfully emptied"}
    assert buckets.delete_bucket("scratch") == {"message": "Successfully deleted"}
    with pytest.raises(StorageApiError) as missing:
        buckets.get_bucket("scratch")
    assert missing.value.status == "404"

    with pytest.raises(StorageApiError) as duplicate:
        buckets.create_bucket("docs")
    assert duplicate.value.status == "409"
    assert duplicate.value.code == "Duplicate"


def test_upload_download_update(buckets):
    docs = buckets.from_("docs")
    uploaded = docs.upload("dir/hello world+1.txt", b"hello", {"content-type": "text/plain"})
    assert uploaded.path == "dir/hello world+1.txt"
    assert uploaded.full_path == "docs/dir/hello world+1.txt"
    assert docs.download("dir/hello world+1.txt") == b"hello"

    with pytest.raises(StorageApiError) as duplicate:
        docs.upload("dir/hello world+1.txt", b"again")
    assert duplicate.value.status == "409"
    docs.upload("dir/hello world+1.txt", b"upserted", {"upsert": "true"})
    assert docs.download("dir/hello world+1.txt") == b"upserted"
    docs.update("dir/hello world+1.txt", b"updated", {"content-type": "text/plain"})
    assert docs.download("dir/hello world+1.txt") == b"updated"
    assert docs.exists("dir/hello world+1.txt") is True
    assert docs.exists("dir/nothing.txt") is False
    info = docs.info("dir/hello world+1.txt")
    assert info["size"] == 7

    with pytest.raises(StorageApiError) as too_large:
        docs.upload("big.txt", b"x" * 1025)
    assert too_large.value.status == "413"
    with pytest.raises(StorageApiError) as wrong_type:
        docs.upload("doc.pdf", b"%PDF", {"content-type": "application/pdf"})
    assert wrong_type.value.status == "415"


def test_list_move_copy_remove(buckets):
    docs = buckets.from_("docs")
    for name in ["list/a.txt", "list/b.txt", "list/sub/c.txt"]:
        docs.upload(name, name.encode())
    entries = docs.list("list")
    assert [entry["name"] for entry in entries] == ["a.txt", "b.txt", "sub"]
    folder = entries[2]
    assert folder["id"] is None and folder["metadata"] is None
    assert entries[0]["metadata"]["size"] == len(b"list/a.txt")
    assert [entry["name"] for entry in docs.list("list", {"limit": 1, "offset": 1, "sortBy": {"column": "name", "order": "desc"}})] == ["b.txt"]
    assert [entry["name"] for entry in docs.list("list", {"search": "B", "limit": 1000000})] == ["b.txt"]

    assert docs.move("list/a.txt", "list/moved.txt") == {"message": "Successfully moved"}
    assert docs.copy("list/moved.txt", "list/copy.txt")["Key"] == "docs/list/copy.txt"
    assert docs.download("list/copy.txt") == b"list/a.txt"
    removed = docs.remove(["list/copy.txt", "list/moved.txt"])
    assert sorted(row["name"] for row in removed) == ["list/copy.txt", "list/moved.txt"]
    assert [entry["name"] for entry in docs.list("list")] == ["b.txt", "sub"]


def test_signed_urls(buckets, http):
    docs = buckets.from_("docs")
    docs.upload("signed/report.txt", b"signed content")
    signed = docs.create_signed_url("signed/report.txt", 60, {"download": True})
    url = signed["signedURL"]
    assert url == signed["signedUrl"]
    assert "/storage/v1/object/sign/docs/signed/report.txt?token=" in url
    answer = httpx.get(url, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.content == b"signed content"
    assert answer.headers["content-disposition"].startswith("attachment")

    changed = httpx.get(url.replace("report.txt", "other.txt"), timeout=TIMEOUT)
    assert changed.status_code == 400
    assert changed.json()["error"] == "InvalidSignature"

    many = docs.create_signed_urls(["signed/report.txt", "signed/none.txt"], 60)
    assert many[0]["error"] is None and many[0]["signedURL"]
    assert many[1]["signedURL"] is None and many[1]["error"]

    upload = docs.create_signed_upload_url("signed/uploaded.txt")
    docs.upload_to_signed_url("signed/uploaded.txt", upload["token"], b"through a token", {"content-type": "text/plain"})
    assert docs.download("signed/uploaded.txt") == b"through a token"


def test_public_url(buckets, project):
    images = buckets.from_("images")
    images.upload("logo.png", b"\x89PNG", {"content-type": "image/png"})
    url = images.get_public_url("logo.png")
    assert url == f"{project.url}/storage/v1/object/public/images/logo.png"
    answer = httpx.get(url, params={"apikey": project.anon_key}, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.content == b"\x89PNG"
    assert answer.headers["content-type"] == "image/png"
    private = httpx.get(f"{project.url}/storage/v1/object/public/docs/signed/report.txt", params={"apikey": project.anon_key}, timeout=TIMEOUT)
    assert private.status_code == 404


def test_policies_on_objects(project, anon, buckets):
    users = []
    for name in ["ada", "bob"]:
        client = supabase_client(project, project.anon_key)
        answer = client.auth.sign_up({"email": f"{unique_name(name)}@example.com", "password": PASSWORD})
        users.append((client, answer.user.id))
    (ada, ada_id), (bob, bob_id) = users

    ada.storage.from_("private").upload(f"{ada_id}/note.txt", b"ada's note")
    assert ada.storage.from_("private").download(f"{ada_id}/note.txt") == b"ada's note"
    with pytest.raises(StorageApiError) as refused:
        bob.storage.from_("private").upload(f"{ada_id}/intruder.txt", b"bob")
    assert refused.value.status == "403"
    with pytest.raises(StorageApiError) as hidden:
        bob.storage.from_("private").download(f"{ada_id}/note.txt")
    assert hidden.value.status == "404"
    with pytest.raises(StorageApiError):
        anon.storage.from_("private").download(f"{ada_id}/note.txt")
    assert anon.storage.from_("private").list(ada_id) == []
    assert [entry["name"] for entry in ada.storage.from_("private").list(ada_id)] == ["note.txt"]
