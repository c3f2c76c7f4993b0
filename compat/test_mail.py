"""Auth's mails through real SMTP servers (aiosmtpd, in this process), with the real supabase-py
client: confirmation on sign-up, recovery, the codes and links in the mails, and what happens when
the mail server is down or refuses.

Each backend gets a node of its own (started here, with --smtp-url) sending to a plain sink; on
SQLite a second node sends to a sink that requires STARTTLS and AUTH, with a certificate of a
private CA (--smtp-ca-file), others to a server speaking TLS from the first byte (smtps://), to
the plain sink with STARTTLS required, and to a port where nothing listens until a sink starts
there. Mails go through the project's job queue: a request answers before its mail is sent, so the
tests wait for mails to arrive, and read the queue (the admin API) for mails that must not. Needs
CELLBASE_BIN and CELLBASE_TEST_POSTGRES_URL (scripts/test provides both) and the openssl CLI.
"""

import email
import email.policy
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from supabase_auth.errors import AuthApiError

from support import free_port

from nodes import Node, create_project, supabase_client

SITE_URL = "http://app.example.com"
SENDER = "Cellbase <noreply@example.com>"
SMTP_USER, SMTP_PASSWORD = "cellbase", "mail-secret"
WAIT = 60


def unique_email(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


@dataclass
class Delivered:
    mail_from: str
    recipients: list
    message: email.message.EmailMessage
    authenticated: bool
    tls: bool

    @property
    def text(self):
        return self.message.get_content()

    @property
    def code(self):
        return re.search(r"^\s+(\d{6})\s*$", self.text, re.MULTILINE).group(1)

    @property
    def link(self):
        return re.search(r"^(http\S+)\s*$", self.text, re.MULTILINE).group(1)


class Sink:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.delivered = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.delivered.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), message, session.authenticated, session.ssl is not None))
        return "250 accepted"

    def to(self, address):
        with self.lock:
            return [mail for mail in self.delivered if mail.recipients == [address]]

    def only(self, address):
        """The one mail to `address`, once it has arrived."""
        deadline = time.monotonic() + WAIT
        while not self.to(address) and time.monotonic() < deadline:
            time.sleep(0.05)
        mails = self.to(address)
        assert len(mails) == 1, f"{len(mails)} mails to {address}"
        return mails[0]


def mail_jobs(project, address):
    """The project's mail jobs to `address`, as the admin API shows them."""
    answer = httpx.get(
        f"{project.url}/admin/v1/projects/{project.ref}/jobs", params={"queue": "mail", "limit": 1000},
        headers={"Authorization": f"Bearer {project.node.admin_token}"}, timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return [job for job in answer.json() if [to["address"] for to in job["payload"]["to"]] == [address]]


def wait_for_mail_job(project, address, state):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        jobs = mail_jobs(project, address)
        if jobs and jobs[0]["state"] == state:
            return jobs[0]
        time.sleep(0.1)
    pytest.fail(f"no mail job to {address} became {state}: {mail_jobs(project, address)}")


def authenticator(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode())


@pytest.fixture(scope="module")
def directory():
    path = Path(tempfile.mkdtemp(prefix="cellbase-mail-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def plain_sink():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def certificates(directory):
    """A CA of the test's own and a server certificate it signed for localhost and 127.0.0.1."""
    if not shutil.which("openssl"):
        pytest.fail("the openssl CLI is needed to make the test certificates", pytrace=False)

    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Cellbase test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return context, directory / "ca.pem"


@pytest.fixture(scope="module")
def tls_sink(certificates):
    """A sink that requires STARTTLS and AUTH."""
    context, ca = certificates
    sink = Sink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
        auth_required=True, auth_require_tls=True, authenticator=authenticator,
    )
    controller.start()
    yield sink, controller.port, ca
    controller.stop()


@pytest.fixture(scope="module")
def smtps_sink(certificates):
    """A sink that speaks TLS from the first byte (port 465 style) and requires AUTH. aiosmtpd
    counts only STARTTLS as TLS for `auth_require_tls`, so that check is off here."""
    context, ca = certificates
    sink = Sink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=free_port(), ssl_context=context,
        auth_required=True, auth_require_tls=False, authenticator=authenticator,
    )
    controller.start()
    yield sink, controller.port, ca
    controller.stop()


class MailNode:
    """One `cellbase serve` with Auth mail on, confirmation required."""

    def __init__(self, directory, name, backend, smtp_arguments):
        binary, postgres = os.environ.get("CELLBASE_BIN"), os.environ.get("CELLBASE_TEST_POSTGRES_URL")
        if not binary or (backend == "postgres" and not postgres):
            pytest.fail("CELLBASE_BIN and CELLBASE_TEST_POSTGRES_URL are needed: run scripts/test", pytrace=False)
        self.data = directory / name
        self.port = free_port()
        command = [
            binary, "serve", "--data", str(self.data), "--port", str(self.port), "--no-mqtt", "--auth-confirm-email",
            "--site-url", SITE_URL, "--mail-from", SENDER, *smtp_arguments,
        ]
        if backend == "postgres":
            command += ["--shard", f"pg={postgres}", "--default-shard", "pg"]
        self.log = directory / f"{name}.log"
        self.process = subprocess.Popen(command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT
        while not self.ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                pytest.fail(f"node {name} did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        self.node = Node(backend=backend, url=f"http://127.0.0.1:{self.port}", admin_token=(self.data / "admin_token").read_text().strip())

    def ready(self):
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def plain(request, directory, plain_sink):
    sink, port = plain_sink
    node = MailNode(directory, f"plain-{request.param}", request.param, ["--smtp-url", f"smtp://127.0.0.1:{port}", "--smtp-starttls", "off"])
    yield create_project(node.node, "mail"), sink
    node.stop()


def anon(project):
    return supabase_client(project, project.anon_key)


def api_error(call):
    with pytest.raises(AuthApiError) as raised:
        call()
    return raised.value


def test_sign_up_sends_a_code_that_confirms_and_signs_in_once(plain):
    project, sink = plain
    address = unique_email("ann")
    client = anon(project)
    signed_up = client.auth.sign_up({"email": address, "password": "ann-password"})
    assert signed_up.session is None and signed_up.user.email == address

    mail = sink.only(address)
    assert mail.mail_from == "noreply@example.com"
    assert mail.message["From"] == SENDER
    assert mail.message["To"] == address
    assert mail.message["Subject"] == "Confirm your email address"
    assert mail.message["Message-ID"] and mail.message["Date"]
    assert mail.message.get_content_type() == "text/plain"

    error = api_error(lambda: anon(project).auth.sign_in_with_password({"email": address, "password": "ann-password"}))
    assert error.code == "email_not_confirmed"
    wrong = "000000" if mail.code != "000000" else "000001"
    error = api_error(lambda: client.auth.verify_otp({"email": address, "token": wrong, "type": "signup"}))
    assert (error.code, error.status) == ("otp_expired", 403)

    verified = client.auth.verify_otp({"email": address, "token": mail.code, "type": "signup"})
    assert verified.session is not None and verified.session.access_token
    assert verified.user.email_confirmed_at is not None
    assert client.auth.get_user().user.id == signed_up.user.id

    again = api_error(lambda: anon(project).auth.verify_otp({"email": address, "token": mail.code, "type": "email"}))
    assert again.code == "otp_expired"
    assert anon(project).auth.sign_in_with_password({"email": address, "password": "ann-password"}).session is not None


def test_recovery_code_signs_in_and_allows_a_new_password(plain):
    project, sink = plain
    address = unique_email("bob")
    supabase_client(project, project.service_role_key).auth.admin.create_user({"email": address, "password": "old-password", "email_confirm": True})

    client = anon(project)
    assert client.auth.reset_password_for_email(address) is None
    mail = sink.only(address)
    assert mail.message["Subject"] == "Reset your password"
    session = client.auth.verify_otp({"email": address, "token": mail.code, "type": "recovery"}).session
    assert session is not None
    client.auth.update_user({"password": "new-password"})

    error = api_error(lambda: anon(project).auth.sign_in_with_password({"email": address, "password": "old-password"}))
    assert error.code == "invalid_credentials"
    assert anon(project).auth.sign_in_with_password({"email": address, "password": "new-password"}).session is not None

    limited = api_error(lambda: anon(project).auth.reset_password_for_email(address))
    assert (limited.code, limited.status) == ("over_email_send_rate_limit", 429)
    assert len(sink.to(address)) == 1


def test_recovery_for_an_unknown_email_answers_alike_and_sends_nothing(plain):
    project, sink = plain
    address = unique_email("nobody")
    response = httpx.post(f"{project.url}/auth/v1/recover", json={"email": address}, headers={"apikey": project.anon_key}, timeout=30)
    assert (response.status_code, response.json()) == (200, {})
    assert anon(project).auth.reset_password_for_email(unique_email("nobody")) is None
    assert mail_jobs(project, address) == []
    assert sink.to(address) == []


def test_the_link_in_the_mail_redirects_with_a_session(plain):
    project, sink = plain
    address = unique_email("cy")
    anon(project).auth.sign_up({"email": address, "password": "cy-password", "options": {"email_redirect_to": SITE_URL + "/welcome"}})
    link = sink.only(address).link
    query = parse_qs(urlsplit(link).query)
    assert query["type"] == ["signup"] and query["redirect_to"] == [SITE_URL + "/welcome"]

    followed = httpx.get(link, timeout=30)
    assert followed.status_code == 303
    location = urlsplit(followed.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SITE_URL + "/welcome"
    fragment = parse_qs(location.fragment)
    assert fragment["token_type"] == ["bearer"] and fragment["type"] == ["signup"]
    user = anon(project).auth.get_user(fragment["access_token"][0]).user
    assert user.email == address and user.email_confirmed_at is not None

    reused = parse_qs(urlsplit(httpx.get(link, timeout=30).headers["location"]).fragment)
    assert reused["error_code"] == ["otp_expired"]
    assert "access_token" not in reused


def test_token_hash_verifies_like_the_code(plain):
    project, sink = plain
    address = unique_email("dee")
    client = anon(project)
    client.auth.sign_up({"email": address, "password": "dee-password"})
    token_hash = parse_qs(urlsplit(sink.only(address).link).query)["token"][0]
    error = api_error(lambda: client.auth.verify_otp({"token_hash": token_hash, "type": "recovery"}))
    assert error.code == "otp_expired"
    assert client.auth.verify_otp({"token_hash": token_hash, "type": "signup"}).session is not None


def test_resend_is_rate_limited_per_user(plain):
    project, sink = plain
    address = unique_email("eve")
    client = anon(project)
    client.auth.sign_up({"email": address, "password": "eve-password"})
    error = api_error(lambda: client.auth.resend({"type": "signup", "email": address}))
    assert error.code == "over_email_send_rate_limit"
    assert client.auth.resend({"type": "signup", "email": unique_email("nobody")}).user is None
    sink.only(address)
    assert len(mail_jobs(project, address)) == 1


def test_starttls_and_auth_with_a_private_ca(directory, tls_sink):
    sink, port, ca = tls_sink
    node = MailNode(directory, "tls", "sqlite", [
        "--smtp-url", f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@localhost:{port}", "--smtp-starttls", "required", "--smtp-ca-file", str(ca),
    ])
    try:
        project = create_project(node.node, "mail_tls")
        address = unique_email("tls")
        client = anon(project)
        client.auth.sign_up({"email": address, "password": "tls-password", "data": {"name": "Zoë"}})
        mail = sink.only(address)
        assert mail.authenticated and mail.tls
        assert client.auth.verify_otp({"email": address, "token": mail.code, "type": "signup"}).session is not None
    finally:
        node.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_auth(directory, smtps_sink):
    sink, port, ca = smtps_sink
    node = MailNode(directory, "smtps", "sqlite", ["--smtp-url", f"smtps://{SMTP_USER}:{SMTP_PASSWORD}@localhost:{port}", "--smtp-ca-file", str(ca)])
    try:
        project = create_project(node.node, "mail_smtps")
        address = unique_email("smtps")
        anon(project).auth.sign_up({"email": address, "password": "smtps-password"})
        assert sink.only(address).authenticated
    finally:
        node.stop()


def test_required_starttls_sends_nothing_to_a_server_without_it(directory, plain_sink):
    sink, port = plain_sink
    node = MailNode(directory, "no-starttls", "sqlite", ["--smtp-url", f"smtp://127.0.0.1:{port}", "--smtp-starttls", "required"])
    try:
        project = create_project(node.node, "mail_no_starttls")
        address = unique_email("plain")
        assert anon(project).auth.sign_up({"email": address, "password": "plain-password"}).user.email == address
        # Retrying cannot help: the job is dead after its first attempt, and nothing went out.
        job = wait_for_mail_job(project, address, "dead")
        assert job["attempts"] == 1
        assert "does not offer STARTTLS" in job["last_error"]
        assert sink.to(address) == []
    finally:
        node.stop()


def test_a_mail_server_that_is_down_gets_the_mail_once_it_is_up(directory):
    port = free_port()
    node = MailNode(directory, "down", "sqlite", [
        "--smtp-url", f"smtp://127.0.0.1:{port}", "--smtp-starttls", "off", "--jobs-retry-base-ms", "200",
    ])
    controller = None
    try:
        project = create_project(node.node, "mail_down")
        address = unique_email("down")
        client = anon(project)
        assert client.auth.sign_up({"email": address, "password": "down-password"}).user.email == address
        failed = wait_for_mail_job(project, address, "failed")
        assert "cannot connect" in failed["last_error"]
        # The mail is on its way, so another one is not sent yet.
        assert api_error(lambda: client.auth.resend({"type": "signup", "email": address})).code == "over_email_send_rate_limit"

        sink = Sink()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        mail = sink.only(address)
        assert client.auth.verify_otp({"email": address, "token": mail.code, "type": "signup"}).session is not None
        completed = wait_for_mail_job(project, address, "completed")
        assert completed["attempts"] >= 2
        assert completed["idempotency_key"] == "mail:" + mail.message["Message-ID"].strip("<>")
    finally:
        if controller:
            controller.stop()
        node.stop()
