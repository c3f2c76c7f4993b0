"""Auth (`/auth/v1`) through the real supabase-py client: sign-up, sign-in, the signed-in user,
refresh, sign-out and the admin user API, plus the Data API reading as the signed-in user."""

import uuid

import httpx
import pytest
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from nodes import TIMEOUT, create_project, supabase_client
from support import key_headers

PASSWORD = "correct horse battery"


def new_email():
    return f"user-{uuid.uuid4().hex[:12]}@Example.com"


@pytest.fixture
def anon_client(project):
    """A client of its own per test: supabase-py keeps the signed-in session in the client."""
    return supabase_client(project, project.anon_key)


@pytest.fixture
def admin(project):
    return supabase_client(project, project.service_role_key).auth.admin


def test_sign_up_returns_a_session_and_user(anon_client):
    email = new_email()
    res = anon_client.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": {"name": "Ada"}}})
    assert res.session is not None
    assert res.session.token_type == "bearer"
    assert res.session.expires_in == 3600
    assert res.session.refresh_token
    assert res.user.email == email.lower()
    assert res.user.user_metadata == {"name": "Ada"}
    assert res.user.app_metadata["provider"] == "email"
    assert res.user.aud == "authenticated"
    assert str(uuid.UUID(res.user.id)) == res.user.id
    assert res.user.created_at.tzinfo is not None
    # The client now sends the user's token; the Data API accepts it.
    assert anon_client.table("todos").select("id").execute().data == []


def test_sign_up_twice_is_user_already_exists(anon_client):
    email = new_email()
    anon_client.auth.sign_up({"email": email, "password": PASSWORD})
    with pytest.raises(AuthApiError) as raised:
        anon_client.auth.sign_up({"email": email.upper(), "password": PASSWORD})
    assert (raised.value.status, raised.value.code) == (422, "user_already_exists")


def test_weak_password_is_a_weak_password_error(anon_client):
    with pytest.raises(AuthWeakPasswordError) as raised:
        anon_client.auth.sign_up({"email": new_email(), "password": "123"})
    assert raised.value.reasons == ["length"]
    assert raised.value.status == 422


def test_sign_in_get_and_update_user(anon_client):
    email = new_email()
    anon_client.auth.sign_up({"email": email, "password": PASSWORD})
    anon_client.auth.sign_out()

    signed_in = anon_client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.user.email == email.lower()
    assert signed_in.user.last_sign_in_at is not None
    assert anon_client.auth.get_user().user.id == signed_in.user.id

    updated = anon_client.auth.update_user({"data": {"plan": "pro"}, "password": "a brand new password"})
    assert updated.user.user_metadata == {"plan": "pro"}
    anon_client.auth.sign_out()
    assert anon_client.auth.sign_in_with_password({"email": email, "password": "a brand new password"}).user.id == signed_in.user.id


def test_wrong_password_is_invalid_credentials(anon_client):
    email = new_email()
    anon_client.auth.sign_up({"email": email, "password": PASSWORD})
    with pytest.raises(AuthApiError) as raised:
        anon_client.auth.sign_in_with_password({"email": email, "password": "not the password"})
    assert (raised.value.status, raised.value.code) == (400, "invalid_credentials")


def test_refresh_rotates_and_reuse_is_refused(anon_client):
    first = anon_client.auth.sign_up({"email": new_email(), "password": PASSWORD}).session
    refreshed = anon_client.auth.refresh_session()
    assert refreshed.session.refresh_token != first.refresh_token
    assert refreshed.user.id == first.user.id
    with pytest.raises(AuthApiError) as raised:
        anon_client.auth.refresh_session(first.refresh_token)
    assert raised.value.code == "refresh_token_already_used"


def test_sign_out_ends_the_session(anon_client, http, project):
    session = anon_client.auth.sign_up({"email": new_email(), "password": PASSWORD}).session
    anon_client.auth.sign_out()
    assert anon_client.auth.get_session() is None
    res = http.get("/auth/v1/user", headers={"apikey": project.anon_key, "Authorization": f"Bearer {session.access_token}"})
    assert (res.status_code, res.json()["error_code"]) == (403, "session_not_found")


def test_admin_creates_lists_gets_updates_and_deletes_users(admin, anon_client):
    email = new_email()
    created = admin.create_user({"email": email, "password": PASSWORD, "email_confirm": True, "user_metadata": {"x": 1}}).user
    assert created.email == email.lower()
    assert created.email_confirmed_at is not None

    assert created.id in [user.id for user in admin.list_users()]
    assert [user.id for user in admin.list_users(page=1, per_page=1)] != []
    assert admin.get_user_by_id(created.id).user.email == email.lower()

    updated = admin.update_user_by_id(created.id, {"user_metadata": {"y": 2}, "app_metadata": {"tier": "gold"}}).user
    assert updated.user_metadata == {"x": 1, "y": 2}
    assert updated.app_metadata["tier"] == "gold"
    assert anon_client.auth.sign_in_with_password({"email": email, "password": PASSWORD}).user.id == created.id

    admin.delete_user(created.id)
    with pytest.raises(AuthApiError) as raised:
        admin.get_user_by_id(created.id)
    assert (raised.value.status, raised.value.code) == (404, "user_not_found")


def test_admin_api_refuses_the_anon_key(project):
    with pytest.raises(AuthApiError) as raised:
        supabase_client(project, project.anon_key).auth.admin.list_users()
    assert (raised.value.status, raised.value.code) == (403, "not_admin")


def test_a_user_token_is_refused_by_another_project(node, anon_client):
    session = anon_client.auth.sign_up({"email": new_email(), "password": PASSWORD}).session
    other = create_project(node, "auth_other")
    with httpx.Client(base_url=other.url, timeout=TIMEOUT) as http:
        rest = http.get("/rest/v1/todos", headers={"apikey": other.anon_key, "Authorization": f"Bearer {session.access_token}"})
        assert (rest.status_code, rest.json()["code"]) == (401, "PGRST301")
        auth = http.get("/auth/v1/user", headers={"apikey": other.anon_key, "Authorization": f"Bearer {session.access_token}"})
        assert (auth.status_code, auth.json()["error_code"]) == (403, "bad_jwt")


def test_failed_sign_ins_are_throttled(node):
    # A project of its own: the throttle counts per project and client address.
    project = create_project(node, "auth_throttle")
    client = supabase_client(project, project.anon_key)
    email = new_email()
    client.auth.sign_up({"email": email, "password": PASSWORD})
    for _ in range(5):
        with pytest.raises(AuthApiError) as raised:
            client.auth.sign_in_with_password({"email": email, "password": "wrong password"})
        assert raised.value.code == "invalid_credentials"
    with pytest.raises(AuthApiError) as raised:
        client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert (raised.value.status, raised.value.code) == (429, "over_request_rate_limit")
    with httpx.Client(base_url=project.url, timeout=TIMEOUT) as http:
        res = http.post("/auth/v1/token?grant_type=password", headers=key_headers(project.anon_key), json={"email": email, "password": PASSWORD})
        assert res.status_code == 429
        assert 0 < int(res.headers["retry-after"]) <= 900


@pytest.mark.parametrize("body, status, code", [
    ({"email": "not-an-email", "password": PASSWORD}, 400, "validation_failed"),
    ({"email": 42, "password": PASSWORD}, 400, "bad_json"),
    ({"email": "a@example.com", "password": "p" * 73}, 422, "validation_failed"),
    ({"email": "a@example.com"}, 422, "validation_failed"),
])
def test_bad_sign_up_bodies_are_4xx_json(http, project, body, status, code):
    res = http.post("/auth/v1/signup", headers=key_headers(project.anon_key), json=body)
    assert (res.status_code, res.json()["error_code"]) == (status, code)


def test_a_huge_password_is_refused_unread(http, project):
    res = http.post("/auth/v1/signup", headers=key_headers(project.anon_key), json={"email": "a@example.com", "password": "p" * (10 * 1024 * 1024)})
    assert res.status_code == 413


@pytest.mark.parametrize("path, field, code", [("/rest/v1/todos", "code", "PGRST301"), ("/auth/v1/user", "error_code", "bad_jwt")])
def test_oversized_bearer_tokens_are_refused(http, project, path, field, code):
    # 60 KB fits the HTTP parser's header limit and reaches the token check, which refuses it unread.
    res = http.get(path, headers={"apikey": project.anon_key, "Authorization": "Bearer " + "a" * (60 * 1024)})
    assert (res.status_code in (401, 403), res.json()[field]) == (True, code)
    # 100 KB is past the HTTP parser's limit: 400 before any handler runs, and the node carries on.
    res = http.get(path, headers={"apikey": project.anon_key, "Authorization": "Bearer " + "a" * (100 * 1024)})
    assert res.status_code == 400
    assert http.get("/auth/v1/health", headers={"apikey": project.anon_key}).status_code == 200
