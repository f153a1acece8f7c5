"""Request ids on answers, log lines and the tasks a request starts; JSON log lines; the readiness probe."""

import io
import json
import logging
import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from chats import replies
from chats import services as chat_services
from chats.tasks import uploads_cleanup
from generation.models import Generation
from generation.tasks import generation_track
from higgs_project import readiness
from higgs_project.observability import JsonFormatter, RequestIdFilter, TextFormatter, request_id_var

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """What our JSON handler writes while the test runs, one parsed object per line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture(autouse=True)
def fresh_context(settings, tmp_path):
    # The sync test client runs requests in this thread: start every test without a request id.
    settings.MEDIA_ROOT = tmp_path / "media"
    readiness._storage_ok_at = None
    token = request_id_var.set("")
    yield
    request_id_var.reset(token)
    readiness._storage_ok_at = None


# --- The header ---


def test_an_answer_carries_a_new_request_id_when_none_was_sent(anon_api):
    first = anon_api.get("/api/health")["X-Request-ID"]
    second = anon_api.get("/api/health")["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


def test_the_proxys_request_id_is_kept(anon_api):
    response = anon_api.get("/api/health", headers={"X-Request-ID": "edge-7f3a.91:b_2"})
    assert response["X-Request-ID"] == "edge-7f3a.91:b_2"


@pytest.mark.parametrize("sent", ["", "has space", "x" * 65, 'quote"', "line\tbreak", "ünïcode"])
def test_a_request_id_that_is_not_a_short_plain_token_is_replaced(anon_api, sent):
    response = anon_api.get("/api/health", headers={"X-Request-ID": sent})
    assert response["X-Request-ID"] != sent
    assert len(response["X-Request-ID"]) == 32


def test_pages_and_errors_carry_the_request_id_too(client, alice_api):
    assert client.get("/accounts/login/", headers={"X-Request-ID": "page-1"})["X-Request-ID"] == "page-1"
    missing = alice_api.get("/api/chats/00000000-0000-0000-0000-000000000000", headers={"X-Request-ID": "err-1"})
    assert missing.status_code == 404
    assert missing["X-Request-ID"] == "err-1"


# --- Log lines ---


def test_a_json_log_line_has_time_level_logger_message_request_id_and_extra_fields():
    record = logging.LogRecord("chats.replies", logging.WARNING, __file__, 1, "reply %s failed", ("r1",), None)
    record.chat_id = "c1"
    token = request_id_var.set("req-42")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["level"] == "WARNING"
    assert line["logger"] == "chats.replies"
    assert line["message"] == "reply r1 failed"
    assert line["request_id"] == "req-42"
    assert line["chat_id"] == "c1"
    assert line["time"].endswith("+00:00")


def test_a_json_log_line_keeps_the_traceback_as_text_on_one_line():
    try:
        raise ValueError("the reason")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "it broke", (), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["exc_info"].startswith("Traceback")
    assert "ValueError: the reason" in line["exc_info"]


def test_text_lines_show_the_request_id_or_a_dash():
    formatter = TextFormatter("%(levelname)s [%(request_tag)s] %(message)s")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert formatter.format(record) == "INFO [-] hello"
    token = request_id_var.set("req-7")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
        assert formatter.format(record) == "INFO [req-7] hello"
    finally:
        request_id_var.reset(token)


def test_log_lines_of_a_failing_api_call_carry_its_request_id(alice_api, log_lines, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the list broke")

    monkeypatch.setattr("chats.selectors.chat_list", broken)
    response = alice_api.get("/api/chats", headers={"X-Request-ID": "fail-1"})
    assert response.status_code == 500
    errors = [line for line in log_lines() if line["level"] == "ERROR"]
    assert errors and all(line["request_id"] == "fail-1" for line in errors)
    assert "RuntimeError: the list broke" in errors[0]["exc_info"]


@pytest.mark.django_db(transaction=True)
def test_a_streamed_reply_logs_under_the_request_id_of_its_request(
    alice, alice_api, seed_catalogue, log_lines, monkeypatch
):
    chat = chat_services.chat_create(owner=alice, title="Logs")

    async def failing_compose(**kwargs):
        logging.getLogger("recommender.test").info("composing the reply")
        raise RuntimeError("the recommender broke")

    monkeypatch.setattr(replies, "reply_compose", failing_compose)

    async def run():
        response = await AsyncClient().post(
            f"/api/chats/{chat.id}/messages",
            {"text": "a rainy street at night"},
            content_type="application/json",
            headers={
                "Authorization": f"Bearer {alice_api.token}",
                "Accept": "text/event-stream",
                "X-Request-ID": "sse-1",
            },
        )
        async for _ in response.streaming_content:
            pass
        await replies.replies_wait()
        return response

    response = async_to_sync(run)()
    assert response["X-Request-ID"] == "sse-1"
    lines = {line["message"]: line for line in log_lines()}
    # The reply runs in an asyncio task of its own, started by the request: it copies the request id.
    assert lines["composing the reply"]["request_id"] == "sse-1"
    failed = next(line for message, line in lines.items() if message.startswith("The recommender failed"))
    assert failed["request_id"] == "sse-1"


# --- Tasks ---


@pytest.mark.django_db(transaction=True)
def test_a_generation_started_by_a_request_logs_under_its_id_in_the_worker(
    higgsfield, alice, alice_api, seed_catalogue, fast_generation, run_worker, log_lines
):
    chat = chat_services.chat_create(owner=alice, title="Tasks")
    option = chat_services.message_post(chat=chat, text="a cinematic sunset over mountains").options.get(
        model_key="soul"
    )
    higgsfield.work_seconds = 0.3
    # A status check that fails is logged by the tracking step: submit, then track, both in the worker.
    higgsfield.fail_next("status", 500)
    response = alice_api.post("/api/generations", {"option_id": str(option.id)}, headers={"X-Request-ID": "click-1"})
    assert response.status_code == 202
    request_id_var.set("")  # what the worker sees comes from the task, not from this thread

    generation_id = response.json()["id"]
    run_worker(lambda: Generation.objects.get(pk=generation_id).is_final)

    assert Generation.objects.get(pk=generation_id).status == "completed"
    steps = DBTaskResult.objects.filter(task_path__startswith="generation.tasks.")
    assert {s.task_path.rsplit(".", 1)[1] for s in steps} >= {"generation_submit", "generation_track"}
    # Every step, the ones each step planned included, carried the id of the click.
    assert {s.args_kwargs["kwargs"].get("request_id") for s in steps} == {"click-1"}
    retried = [line for line in log_lines() if line["logger"] == "generation.services"]
    assert retried and all(line["request_id"] == "click-1" for line in retried)
    # The worker's own line at each step's start and end too.
    bookkeeping = [line for line in log_lines() if line["logger"] == "django.tasks"]
    assert {re.search(r"state=(\w+)", line["message"]).group(1) for line in bookkeeping} >= {"RUNNING", "SUCCESSFUL"}
    assert {line["request_id"] for line in bookkeeping} == {"click-1"}


@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_outside_a_request_runs_under_an_id_of_its_own(run_worker, log_lines, monkeypatch):
    monkeypatch.setattr("chats.uploads.uploads_cleanup", lambda: logging.getLogger("chats.uploads").info("cleaning"))
    result = uploads_cleanup.enqueue()
    assert "request_id" not in DBTaskResult.objects.get(pk=result.id).args_kwargs["kwargs"]
    run_worker(lambda: DBTaskResult.objects.get(pk=result.id).status == "SUCCESSFUL")
    [line] = [line for line in log_lines() if line["message"] == "cleaning"]
    assert len(line["request_id"]) == 32
    assert request_id_var.get() == ""


# --- Readiness ---


def test_ready_answers_ok_with_each_check(anon_api):
    response = anon_api.get("/api/health/ready")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    queue = body["checks"]["queue"]
    assert queue == {"status": "ok", "backend": "database", "due": 0, "oldest_due_seconds": 0.0}


def test_liveness_keeps_its_shape(anon_api):
    response = anon_api.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_a_task_waiting_too_long_makes_ready_answer_503_naming_the_queue(anon_api, settings):
    settings.READY_QUEUE_MAX_AGE = 300
    result = uploads_cleanup.enqueue()
    DBTaskResult.objects.filter(pk=result.id).update(enqueued_at=timezone.now() - timedelta(minutes=10))
    response = anon_api.get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
    queue = body["checks"]["queue"]
    assert queue["status"] == "error"
    assert queue["due"] == 1
    assert 595 < queue["oldest_due_seconds"] < 700
    assert re.search(r"has waited 6\d\d s \(limit 300 s\)", queue["detail"]), queue["detail"]


def test_a_deferred_task_waits_from_its_run_after_and_is_not_due_before(anon_api, settings):
    settings.READY_QUEUE_MAX_AGE = 60
    generation_track.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("g", "t")
    assert anon_api.get("/api/health/ready").json()["checks"]["queue"]["due"] == 0
    overdue = generation_track.using(run_after=timezone.now() - timedelta(minutes=5)).enqueue("g", "t")
    DBTaskResult.objects.filter(pk=overdue.id).update(enqueued_at=timezone.now() - timedelta(hours=3))
    queue = anon_api.get("/api/health/ready").json()["checks"]["queue"]
    assert queue["due"] == 1
    assert 295 < queue["oldest_due_seconds"] < 400


def test_a_backlog_over_the_limit_makes_ready_answer_503(anon_api, settings):
    settings.READY_QUEUE_MAX_BACKLOG = 2
    for _ in range(3):
        uploads_cleanup.enqueue()
    response = anon_api.get("/api/health/ready")
    assert response.status_code == 503
    queue = response.json()["checks"]["queue"]
    assert queue["status"] == "error"
    assert "3 tasks are due (limit 2)" in queue["detail"]


def test_a_storage_that_refuses_files_makes_ready_answer_503_without_its_words(anon_api, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("AccessDenied for bucket private-bucket-name with key AKIAEXAMPLEKEY")

    monkeypatch.setattr("higgs_project.readiness.default_storage.save", refuse)
    response = anon_api.get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["storage"] == {
        "status": "error",
        "detail": "The media storage cannot write, read or delete files.",
    }
    assert "private-bucket-name" not in response.content.decode()
    assert "AKIAEXAMPLEKEY" not in response.content.decode()


def test_the_storage_probe_leaves_no_file_behind(anon_api, settings):
    assert anon_api.get("/api/health/ready").status_code == 200
    media = settings.MEDIA_ROOT
    assert not [p for p in media.rglob("*") if p.is_file()]


@pytest.mark.django_db(transaction=True)
def test_with_the_redis_queue_ready_measures_redis(anon_api, settings):
    from django.tasks import task_backends

    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks_redis.RedisTaskBackend",
            "OPTIONS": {"REDIS_URL": "redis://127.0.0.1:6379/14"},
        }
    }
    client = task_backends["default"].get_client()
    client.flushdb()
    try:
        uploads_cleanup.enqueue()
        uploads_cleanup.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
        response = anon_api.get("/api/health/ready")
        assert response.status_code == 200, response.content
        queue = response.json()["checks"]["queue"]
        assert queue["backend"] == "redis"
        assert queue["due"] == 1
        assert queue["delayed"] == 1

        settings.READY_QUEUE_MAX_BACKLOG = 0
        response = anon_api.get("/api/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["queue"]["status"] == "error"
    finally:
        client.flushdb()
        client.close()
