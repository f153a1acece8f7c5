"""Request ids and log lines: one id per request, carried into the tasks it enqueues, on every log line.

The id comes from the client's or the proxy's `X-Request-ID` when that is a sane short token, else a new
one; it goes back in the `X-Request-ID` response header, sits in a context variable while the request
runs (asyncio tasks started from it, such as a streamed reply, copy it), rides along in the kwargs of
every task enqueued meanwhile, and is bound again in the worker while that task runs; a task enqueued
from a task passes it on, so one id follows a generation from the click to the copied result.
"""

import contextlib
import functools
import json
import logging
import re
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from inspect import iscoroutinefunction

from asgiref.sync import iscoroutinefunction as asgiref_iscoroutinefunction
from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.tasks import Task
from django.tasks import signals as task_signals
from django.tasks.base import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_PRIORITY, DEFAULT_TASK_QUEUE_NAME

HEADER = "X-Request-ID"
REQUEST_ID_KWARG = "request_id"
# What proxies and clients send (UUIDs, hex, nginx's $request_id...): anything else is replaced, so that
# a header cannot smuggle text into log lines or responses.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


def request_id_new() -> str:
    return uuid.uuid4().hex


def _sane(value) -> bool:
    return isinstance(value, str) and _SANE_ID.fullmatch(value) is not None


# --- Requests ---


class RequestIdMiddleware:
    """Bind the request's id for everything it runs, and answer it in the `X-Request-ID` header.

    The id is set and never reset: under ASGI each request runs in an asyncio task of its own, so the
    value ends with the request, yet it still covers a streamed body (sent after this middleware has
    returned) and Django's own log line of a 5xx (written after the middleware chain).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = asgiref_iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _bind(self, request) -> str:
        sent = request.headers.get(HEADER)
        request_id = sent if _sane(sent) else request_id_new()
        request_id_var.set(request_id)
        request.request_id = request_id
        return request_id

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        request_id = self._bind(request)
        response = self.get_response(request)
        response.headers[HEADER] = request_id
        return response

    async def __acall__(self, request):
        request_id = self._bind(request)
        response = await self.get_response(request)
        response.headers[HEADER] = request_id
        return response


# --- Tasks ---


class RequestIdTask(Task):
    """A task that takes the current request id along when it is enqueued (see `task` below)."""

    __slots__ = ()

    def enqueue(self, *args, **kwargs):
        return super().enqueue(*args, **_with_request_id(kwargs))

    async def aenqueue(self, *args, **kwargs):
        return await super().aenqueue(*args, **_with_request_id(kwargs))


def _with_request_id(kwargs: dict) -> dict:
    request_id = request_id_var.get()
    if request_id and REQUEST_ID_KWARG not in kwargs:
        return {**kwargs, REQUEST_ID_KWARG: request_id}
    return kwargs


def _runs_under_request_id(func):
    if iscoroutinefunction(func):
        raise TypeError("Only plain functions can be tasks here.")

    # Both task backends import the task by its module path and call its function, so the binding lives
    # in the function itself (functools.wraps keeps that path).
    @functools.wraps(func)
    def run(*args, request_id: str = "", **kwargs):
        # A task enqueued outside a request (the watchdog, the hourly clean-up) gets an id of its own, which
        # the tasks it enqueues in turn carry on.
        token = request_id_var.set(request_id if _sane(request_id) else request_id_new())
        try:
            return func(*args, **kwargs)
        finally:
            request_id_var.reset(token)

    return run


def task(
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
):
    """`django.tasks.task`, with the request id of whoever enqueues the task bound while it runs."""

    def decorate(func):
        return RequestIdTask(
            func=_runs_under_request_id(func), priority=priority, queue_name=queue_name, backend=backend
        )

    return decorate


# Django logs a task's start and end ("Task id=… path=… state=RUNNING") from receivers of its own
# signals, outside the task's function and so without its request id. These receivers take their place
# and log the same lines with the id the task carries.


@contextlib.contextmanager
def _task_request_id(task_result):
    sent = task_result.kwargs.get(REQUEST_ID_KWARG)
    token = request_id_var.set(sent) if _sane(sent) else None
    try:
        yield
    finally:
        if token is not None:
            request_id_var.reset(token)


def _log_task_started(sender, task_result, **kwargs):
    with _task_request_id(task_result):
        task_signals.log_task_started(sender, task_result=task_result, **kwargs)


def _log_task_finished(sender, task_result, **kwargs):
    # Sent inside the worker's exception handler: Django's receiver reads the traceback from there.
    with _task_request_id(task_result):
        task_signals.log_task_finished(sender, task_result=task_result, **kwargs)


def task_log_lines_under_request_ids() -> None:
    """Called once at start-up (ChatsConfig.ready)."""
    task_signals.task_started.disconnect(task_signals.log_task_started)
    task_signals.task_finished.disconnect(task_signals.log_task_finished)
    task_signals.task_started.connect(_log_task_started, dispatch_uid="higgs-log-task-started")
    task_signals.task_finished.connect(_log_task_finished, dispatch_uid="higgs-log-task-finished")


# --- Log lines ---


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (empty outside requests and tasks)."""

    def filter(self, record):
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


# A known secret value is masked wherever it turns up; so are the shapes of credentials that have no
# setting of their own (API tokens, webhook and upload URLs, presigned signatures, passwords in URLs).
SECRET_SETTINGS = ("SECRET_KEY", "ANTHROPIC_API_KEY", "HIGGSFIELD_KEY_ID", "HIGGSFIELD_KEY_SECRET")
_SECRET_SHAPES = [
    (re.compile(r"(?i)\bBearer\s+[^\s\"',;]{8,}"), "Bearer [redacted]"),
    (re.compile(r"\bKey\s+[^\s:\"']+:[^\s\"',;]+"), "Key [redacted]"),
    (re.compile(r"\bhgs_[A-Za-z0-9_-]{16,}"), "hgs_[redacted]"),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"), "sk-ant-[redacted]"),
    (re.compile(r"(/webhook/|/api/uploads/)[^\s\"'?#/]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId)=[^&\s\"']+"
        ),
        r"\1=[redacted]",
    ),
    (re.compile(r"(://[^/\s:@\"']*:)[^@/\s\"']+@"), r"\1[redacted]@"),
]


def _secret_values() -> list[str]:
    values = [getattr(settings, name, "") for name in SECRET_SETTINGS]
    values.append(settings.STORAGES.get("default", {}).get("OPTIONS", {}).get("secret_key") or "")
    values.append(settings.DATABASES.get("default", {}).get("PASSWORD") or "")
    # Short values would mask ordinary words; real secrets are long.
    return [value for value in values if isinstance(value, str) and len(value) >= 8]


def redact(text: str) -> str:
    for value in _secret_values():
        text = text.replace(value, "[redacted]")
    for pattern, replacement in _SECRET_SHAPES:
        text = pattern.sub(replacement, text)
    return text


class TextFormatter(logging.Formatter):
    """Plain lines for people at a terminal, secrets masked; `%(request_tag)s` is the request id or "-"."""

    def format(self, record):
        record.request_tag = getattr(record, "request_id", None) or request_id_var.get() or "-"
        return redact(super().format(record))


class MaskCredentialsFilter(logging.Filter):
    """Masks credentials in a record's arguments, leaving its handlers and format as they are."""

    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


# The web server's access log keeps its own format and destination (uvicorn's, or gunicorn's --access-logfile
# under the uvicorn worker), but webhook and upload paths carry tokens: mask them on the way.
logging.getLogger("uvicorn.access").addFilter(MaskCredentialsFilter())


# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "request_tag",
    "color_message",  # uvicorn's coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exc_info, then any `extra=` fields."""

    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        if record.exc_info:
            line["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = record.stack_info
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in line:
                line[key] = value
        return redact(json.dumps(line, default=str, ensure_ascii=False))
