"""Secrets come from the environment or from files, and never show in a log line, an error body or the admin."""

import io
import json
import logging
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from chats import services as chat_services
from chats.services import api_token_create
from generation.models import Generation
from generation.tests.fake_higgsfield import FakeHiggsfield
from higgs_project.observability import JsonFormatter, RequestIdFilter, TextFormatter, redact
from recommender.tests.fake_anthropic import FakeAnthropic, error

SECRET_NAMES = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "ANTHROPIC_API_KEY",
    "HIGGSFIELD_KEY_ID",
    "HIGGSFIELD_KEY_SECRET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)

READ_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
options = s.STORAGES["default"].get("OPTIONS", {})
print(json.dumps({
    "SECRET_KEY": s.SECRET_KEY,
    "DATABASE_NAME": str(s.DATABASES["default"]["NAME"]),
    "REDIS_URL": s.REDIS_URL,
    "ANTHROPIC_API_KEY": s.ANTHROPIC_API_KEY,
    "HIGGSFIELD_KEY_ID": s.HIGGSFIELD_KEY_ID,
    "HIGGSFIELD_KEY_SECRET": s.HIGGSFIELD_KEY_SECRET,
    "access_key": options.get("access_key"),
    "secret_key": options.get("secret_key"),
}))
"""


def settings_in_a_fresh_process(env: dict) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in SECRET_NAMES and k.removesuffix("_FILE") not in SECRET_NAMES
    }
    clean["DJANGO_SETTINGS_MODULE"] = "higgs_project.settings"
    return subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        cwd=django_settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(value)
    return str(path)


# --- From files ---


def test_every_secret_can_come_from_a_file_named_by_its_FILE_variable(tmp_path):
    env = {
        "SECRET_KEY_FILE": write(tmp_path, "secret_key", "file-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz\n"),
        "DATABASE_URL_FILE": write(tmp_path, "database_url", f"sqlite:///{tmp_path / 'from-file.sqlite3'}\n"),
        "REDIS_URL_FILE": write(tmp_path, "redis_url", "redis://:file-redis-password@127.0.0.1:6379/3"),
        "ANTHROPIC_API_KEY_FILE": write(tmp_path, "anthropic", "  sk-ant-from-a-file  \n"),
        "HIGGSFIELD_KEY_ID_FILE": write(tmp_path, "hf_id", "hf-id-from-a-file\n"),
        "HIGGSFIELD_KEY_SECRET_FILE": write(tmp_path, "hf_secret", "hf-secret-from-a-file\n"),
        "AWS_STORAGE_BUCKET_NAME": "media",
        "AWS_ACCESS_KEY_ID_FILE": write(tmp_path, "aws_id", "AKIAFROMAFILE\n"),
        "AWS_SECRET_ACCESS_KEY_FILE": write(tmp_path, "aws_secret", "aws-secret-from-a-file\n"),
    }
    result = settings_in_a_fresh_process(env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "SECRET_KEY": "file-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DATABASE_NAME": str(tmp_path / "from-file.sqlite3"),
        "REDIS_URL": "redis://:file-redis-password@127.0.0.1:6379/3",
        "ANTHROPIC_API_KEY": "sk-ant-from-a-file",
        "HIGGSFIELD_KEY_ID": "hf-id-from-a-file",
        "HIGGSFIELD_KEY_SECRET": "hf-secret-from-a-file",
        "access_key": "AKIAFROMAFILE",
        "secret_key": "aws-secret-from-a-file",
    }


def test_secrets_still_come_from_plain_variables(tmp_path):
    result = settings_in_a_fresh_process(
        {"ANTHROPIC_API_KEY": "sk-ant-from-the-environment", "DATABASE_URL": f"sqlite:///{tmp_path / 'env.sqlite3'}"}
    )
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    assert read["ANTHROPIC_API_KEY"] == "sk-ant-from-the-environment"
    assert read["DATABASE_NAME"] == str(tmp_path / "env.sqlite3")
    # Without keys of our own, boto3 finds its credentials itself.
    assert read["access_key"] is None


def test_a_secret_set_both_ways_refuses_to_start_and_says_which(tmp_path):
    result = settings_in_a_fresh_process(
        {
            "HIGGSFIELD_KEY_SECRET": "hf-secret-in-the-environment",
            "HIGGSFIELD_KEY_SECRET_FILE": write(tmp_path, "hf", "hf-secret-in-a-file"),
        }
    )
    assert result.returncode != 0
    assert "Both HIGGSFIELD_KEY_SECRET and HIGGSFIELD_KEY_SECRET_FILE are set" in result.stderr
    assert "hf-secret-in-the-environment" not in result.stderr
    assert "hf-secret-in-a-file" not in result.stderr


def test_a_secret_file_that_cannot_be_read_refuses_to_start(tmp_path):
    result = settings_in_a_fresh_process({"SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert result.returncode != 0
    assert "SECRET_KEY_FILE names a file that cannot be read" in result.stderr


# --- Never shown ---


@pytest.fixture
def output():
    """Everything our log handlers write (JSON and text), as one string."""
    stream = io.StringIO()
    handlers = []
    for formatter in (JsonFormatter(), TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handlers.append(handler)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    yield stream
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def fake_secrets(settings, alice):
    """Recognisable secrets in every place one can live: settings, an API token, a webhook token."""
    values = {
        "django": "django-secret-" + secrets.token_hex(16),
        "anthropic": "sk-ant-api03-" + secrets.token_hex(16),
        "hf_id": "hf-id-" + secrets.token_hex(8),
        "hf_secret": "hf-secret-" + secrets.token_hex(16),
    }
    settings.SECRET_KEY = values["django"]
    settings.HIGGSFIELD_KEY_ID = values["hf_id"]
    settings.HIGGSFIELD_KEY_SECRET = values["hf_secret"]
    _, values["api_token"] = api_token_create(user=alice, name="leak test")
    return values


def assert_nowhere(values, *texts):
    for text in texts:
        for name, value in values.items():
            assert value not in text, f"the {name} secret shows"


@pytest.mark.django_db(transaction=True)
def test_failing_claude_and_higgsfield_calls_show_no_secret(
    fake_secrets, alice, seed_catalogue, fast_generation, run_worker, settings, caplog, output
):
    caplog.set_level(logging.DEBUG)
    from conftest import ApiClient

    api = ApiClient(token=fake_secrets["api_token"])
    chat = chat_services.chat_create(owner=alice, title="Leaks")
    bodies = []

    # Claude refuses our key, then fails outright.
    claude = FakeAnthropic(api_key="another-key").start()
    settings.ANTHROPIC_API_KEY = fake_secrets["anthropic"]
    settings.ANTHROPIC_BASE_URL = claude.url
    settings.ANTHROPIC_MAX_RETRIES = 0
    try:
        response = api.post(f"/api/chats/{chat.id}/messages", {"text": "a cinematic sunset over mountains"})
        assert response.json()["message"]["status"] == "failed"
        bodies.append(response.content.decode())
        claude.api_key = None
        claude.script(error(500))
        response = api.post(f"/api/chats/{chat.id}/messages", {"text": "a rainy street at night"})
        assert response.json()["message"]["status"] == "failed"
        bodies.append(response.content.decode())
    finally:
        claude.stop()
    settings.ANTHROPIC_API_KEY = ""

    # Higgsfield refuses our key, then fails a job.
    reply = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains")
    options = list(reply.options.all())
    higgsfield = FakeHiggsfield(key_id="another-id", key_secret="another-secret").start()
    settings.HIGGSFIELD_BASE_URL = higgsfield.url
    settings.OUTBOUND_ALLOW_HOSTS = [higgsfield.url.removeprefix("http://")]  # on loopback: allowed by name
    settings.HIGGSFIELD_TIMEOUT = 2.0
    try:
        refused = api.post("/api/generations", {"option_id": str(options[0].id)}).json()["id"]
        run_worker(lambda: Generation.objects.get(pk=refused).is_final)
        higgsfield.key_id, higgsfield.key_secret = fake_secrets["hf_id"], fake_secrets["hf_secret"]
        higgsfield.fail_next("status", 500, times=2)
        higgsfield.outcomes.append("failed")
        failed = api.post("/api/generations", {"option_id": str(options[1].id)}).json()["id"]
        run_worker(lambda: Generation.objects.get(pk=failed).is_final)
    finally:
        higgsfield.stop()
    assert Generation.objects.get(pk=refused).error == "Higgsfield refused our API key."
    assert Generation.objects.get(pk=failed).status == "failed"
    for generation_id in (refused, failed):
        bodies.append(api.get(f"/api/generations/{generation_id}").content.decode())
    bodies.append(api.get("/api/generations").content.decode())

    # A token that is not ours.
    bodies.append(api.get("/api/chats", headers={"Authorization": "Bearer " + fake_secrets["api_token"] + "x"}).text)

    assert_nowhere(fake_secrets, caplog.text, output.getvalue(), *bodies)


def test_an_unexpected_error_answers_500_without_internals_and_logs_no_secret(
    fake_secrets, alice, monkeypatch, caplog, output
):
    from conftest import ApiClient

    def broken(**kwargs):
        # The worst case: an exception whose own words carry secrets.
        raise RuntimeError(
            f"failed with token {fake_secrets['api_token']}, key {fake_secrets['anthropic']}, "
            f"Key {fake_secrets['hf_id']}:{fake_secrets['hf_secret']}, signing {fake_secrets['django']}"
        )

    monkeypatch.setattr("chats.selectors.chat_list", broken)
    response = ApiClient(token=fake_secrets["api_token"]).get("/api/chats")
    assert response.status_code == 500
    assert response.json() == {"detail": "Something went wrong on our side. Please try again."}
    assert "RuntimeError" not in response.text
    written = output.getvalue()
    assert "RuntimeError: failed with token hgs_[redacted]" in written
    # The record itself holds the words; what our handlers write has them masked.
    assert fake_secrets["api_token"] in caplog.text
    assert_nowhere(fake_secrets, written, response.text)


@pytest.mark.django_db(transaction=True)
def test_a_refused_webhook_delivery_does_not_log_its_token(alice, seed_catalogue, fast_generation, output):
    from django.test import Client

    chat = chat_services.chat_create(owner=alice, title="Hooks")
    option = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains").options.first()
    from conftest import _client_for

    generation_id = _client_for(alice).post("/api/generations", {"option_id": str(option.id)}).json()["id"]
    token = Generation.objects.get(pk=generation_id).webhook_token
    response = Client().post(
        f"/api/higgsfield/webhook/{token}", {"request_id": "not-this-one"}, content_type="application/json"
    )
    assert response.status_code == 409  # refused: the job has not been submitted yet
    assert token not in output.getvalue()
    assert "/api/higgsfield/webhook/[redacted]" in output.getvalue()


def test_the_admin_never_shows_a_token_or_a_webhook_token(
    fake_secrets, admin_client, alice, seed_catalogue, fast_generation
):
    from conftest import _client_for

    chat = chat_services.chat_create(owner=alice, title="Admin")
    option = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains").options.first()
    generation_id = _client_for(alice).post("/api/generations", {"option_id": str(option.id)}).json()["id"]
    generation = Generation.objects.get(pk=generation_id)
    token = alice.api_tokens.get(name="leak test")
    pages = [
        admin_client.get(path)
        for path in (
            "/admin/chats/apitoken/",
            f"/admin/chats/apitoken/{token.pk}/change/",
            "/admin/generation/generation/",
            f"/admin/generation/generation/{generation.pk}/change/",
            "/admin/django_tasks_database/dbtaskresult/",
        )
    ]
    assert all(page.status_code == 200 for page in pages)
    texts = [page.content.decode() for page in pages]
    assert_nowhere({**fake_secrets, "webhook": generation.webhook_token}, *texts)


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        ("Authorization: Bearer hgs_abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"),
        ("auth Key my-key-id:my-key-secret-value", "my-key-secret-value"),
        ("POST /api/higgsfield/webhook/Zx81kfPq0aLm HTTP/1.1", "Zx81kfPq0aLm"),
        ("PUT /api/uploads/eyJ0aWNrZXQiOjF9.signature123 409", "eyJ0aWNrZXQiOjF9"),
        ("GET https://b.s3.amazonaws.com/a.png?X-Amz-Signature=deadbeefcafe&X-Amz-Expires=60", "deadbeefcafe"),
        ("could not connect to postgres://higgs:pa55word-long@db:5432/higgs", "pa55word-long"),
        ("redis://:redis-pass-word@cache:6379/0 refused", "redis-pass-word"),
        ("anthropic key sk-ant-api03-abcdefgh12345", "abcdefgh12345"),
    ],
)
def test_shapes_of_credentials_are_masked_in_log_lines(line, hidden):
    masked = redact(line)
    assert hidden not in masked
    assert "[redacted]" in masked


def test_the_web_servers_access_log_masks_webhook_and_upload_tokens():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    old_level = access.level
    access.setLevel(logging.INFO)
    try:
        access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5", "POST", "/api/higgsfield/webhook/Zx81kfPq0aLm", "1.1", 200)
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
    assert stream.getvalue() == '10.0.0.1:5 - "POST /api/higgsfield/webhook/[redacted] HTTP/1.1" 200\n'


def test_ordinary_words_survive_masking():
    line = 'Key (username)=(alice) already exists. GET /api/chats?limit=20 "Bearer" token missing'
    assert redact(line) == line


@pytest.mark.parametrize("debug", ["1", "0"])
def test_url_tokens_are_masked_in_djangos_own_log_lines_debug_or_not(tmp_path, debug):
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    script = (
        "import logging;"
        "logging.getLogger('django.request').warning('Not Found: /api/higgsfield/webhook/Tok3nOfTheJobXYZ123');"
        "logging.getLogger('django.server').info('\"PUT /api/uploads/Upl0adTicketABC987 HTTP/1.1\" 200 0')"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DEBUG=debug, LOG_FORMAT="text", DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    logged = result.stdout + result.stderr
    assert "Not Found: /api/higgsfield/webhook/[redacted]" in logged
    assert "Tok3nOfTheJobXYZ123" not in logged and "Upl0adTicketABC987" not in logged
