"""A fake Anthropic Messages API on loopback, for tests and cost benches.

It speaks the wire format the official `anthropic` SDK reads (Message JSON, `text/event-stream` events, error
shapes, retry headers), so the SDK's own retry, streaming and parsing code runs against it. A test scripts the
answers one request at a time and reads back what arrived; usage reports simulate prompt caching.

It refuses what the real API refuses for the models it knows (MODELS): a thinking type the model does not take,
a thinking budget under 1,024 or not under max_tokens, sampling settings beside thinking (and, on Haiku 5.5, at
all), an assistant prefill. Thinking counts toward max_tokens as it does upstream: an answer (thinking included)
longer than max_tokens is cut there, with stop_reason "max_tokens".
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FakeAnthropic",
    "Error",
    "Garbage",
    "RecordedRequest",
    "Reply",
    "Text",
    "Thinking",
    "ToolUse",
    "error",
    "garbage",
    "reply",
    "text",
    "thinking",
    "tool_use",
    "tokens",
]

# The error type the API names for each status when a test does not name one.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# The messages the API's own error bodies carry for the types an `error` stream event uses.
ERROR_MESSAGES = {"overloaded_error": "Overloaded", "api_error": "Internal server error"}

# What the fake knows of each model's thinking: the `thinking.type` values it accepts, the one it uses when a
# request leaves `thinking` out, and whether it refuses sampling settings and prefill outright. From the
# "Thinking support, defaults, and rejected configurations by model" table and the Haiku 5.5 migration guide.
MODELS: dict[str, dict[str, Any]] = {
    "claude-haiku-5-5": {
        "thinking": {"adaptive", "disabled"},
        "default": "adaptive",
        "sampling": False,
        "prefill": False,
        "max_output": 128_000,
        # `disabled` is accepted only at these efforts.
        "disabled_efforts": {"low", "medium", "high"},
    },
}
# Any other model: the manual and adaptive types, thinking off unless asked.
OTHER_MODEL: dict[str, Any] = {
    "thinking": {"enabled", "adaptive", "disabled"},
    "default": "disabled",
    "sampling": True,
    "prefill": True,
    "max_output": 128_000,
    "disabled_efforts": {"low", "medium", "high", "xhigh", "max"},
}
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MIN_THINKING_BUDGET = 1024

# The API looks this many blocks back from each cache breakpoint for an earlier cached prefix.
CACHE_LOOKBACK_BLOCKS = 20
CACHE_TTLS = {"5m": 300.0, "1h": 3600.0}


def tokens(size_in_bytes: int) -> int:
    """The fake's tokenizer: about four bytes of JSON a token."""
    return (size_in_bytes + 3) // 4


def _new_id(prefix: str) -> str:
    return f"{prefix}_01{secrets.token_hex(12)}"


# --- Steps: what the server answers, one per request ---


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str


@dataclass(frozen=True)
class Thinking:
    """A thinking block: sent only when the request leaves thinking on; it counts toward max_tokens."""

    thinking: str
    signature: str = "sig_fake"


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Text | ToolUse | Thinking, ...]
    stop_reason: str
    usage: dict[str, Any] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    hang_up_after: int | None = None
    # After this many stream events the API may send an `error` event instead of the rest (as it does when it
    # is overloaded mid-answer): its type, then the stream ends.
    error_after: tuple[int, str] | None = None


@dataclass(frozen=True)
class Error:
    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Garbage:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0


Step = Reply | Error | Garbage
# A step may also be a function of the request it answers, for answers that depend on what was sent.
ScriptedStep = Step | Callable[["RecordedRequest"], Step]


def text(value: str) -> Text:
    return Text(value)


def tool_use(name: str, input: dict[str, Any] | None = None, id: str | None = None) -> ToolUse:
    return ToolUse(name=name, input=dict(input or {}), id=id or _new_id("toolu"))


def thinking(value: str) -> Thinking:
    return Thinking(value, signature=_new_id("sig"))


def reply(
    *blocks: Text | ToolUse | Thinking | str,
    stop_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    delay: float = 0.0,
    chunk_delay: float = 0.0,
    hang_up_after: int | None = None,
    error_after: tuple[int, str] | None = None,
) -> Reply:
    """An assistant message. A plain string is a text block.

    `usage` overrides the computed counts, `delay` waits before answering, `chunk_delay` waits between stream
    events, and `hang_up_after=n` drops the connection after n stream events (or before any answer when the
    request is not streamed). `error_after=(n, "overloaded_error")` sends an `error` event of that type after n
    stream events and ends the stream there, as the API does mid-answer.
    """
    content = tuple(Text(block) if isinstance(block, str) else block for block in blocks)
    if stop_reason is None:
        stop_reason = "tool_use" if any(isinstance(block, ToolUse) for block in content) else "end_turn"
    return Reply(content, stop_reason, usage, delay, chunk_delay, hang_up_after, error_after)


def error(
    status: int,
    error_type: str | None = None,
    message: str = "Scripted error from FakeAnthropic",
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
) -> Error:
    """An API error in Anthropic's shape; the type defaults to the one the API uses for the status."""
    return Error(status, error_type or ERROR_TYPES.get(status, "api_error"), message, dict(headers or {}), delay)


def garbage(
    body: bytes = b"{not json", status: int = 200, content_type: str = "application/json", delay: float = 0.0
) -> Garbage:
    return Garbage(body, status, content_type, delay)


# --- What arrived ---


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    body: Any  # the parsed JSON, None when the body is not JSON
    arrived_at: float  # time.monotonic()
    status: int | None = None  # what the server answered; None when it hung up first
    usage: dict[str, Any] | None = None  # the usage it reported
    prefix_bytes: int = 0  # bytes of the prompt up to and including the last cache_control block
    cache_hit: bool = False  # some of that prefix was read from the cache

    @property
    def body_size(self) -> int:
        return len(self.raw)

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True


# --- Prompt caching ---


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _prompt_pieces(body: dict[str, Any]) -> Iterator[tuple[bytes, str | None]]:
    """The prompt as (bytes, cache ttl) pieces in the order the API caches it: tools, system, messages.

    The ttl is set on the pieces that carry `cache_control`, the cache breakpoints. The marker itself is left out
    of the bytes, so moving a breakpoint does not change the prefix before it.
    """

    def piece(block: Any, prefix: dict[str, Any]) -> tuple[bytes, str | None]:
        if not isinstance(block, dict):
            return _canonical({**prefix, "content": block}), None
        marker = block.get("cache_control")
        rest = {key: value for key, value in block.items() if key != "cache_control"}
        ttl = (marker.get("ttl") or "5m") if isinstance(marker, dict) else None
        return _canonical({**prefix, **rest}), ttl

    for tool in body.get("tools") or []:
        yield piece(tool, {})
    system = body.get("system")
    for block in [system] if isinstance(system, str) else system or []:
        yield piece(block, {"system": True})
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else message
        role = message.get("role") if isinstance(message, dict) else None
        for block in [content] if isinstance(content, str) else content or []:
            yield piece(block, {"role": role})


@dataclass(frozen=True)
class _Accounting:
    prompt_bytes: int
    prefix_bytes: int
    boundaries: list[tuple[str, int]]  # (hash of the prompt up to here, bytes up to here) after each piece
    breakpoints: list[tuple[int, str]]  # (index into boundaries, ttl)


def _account(body: dict[str, Any]) -> _Accounting:
    running = hashlib.sha256(_canonical(body.get("model")))
    size = 0
    boundaries: list[tuple[str, int]] = []
    breakpoints: list[tuple[int, str]] = []
    for data, ttl in _prompt_pieces(body):
        running.update(data)
        size += len(data)
        boundaries.append((running.hexdigest(), size))
        if ttl is not None:
            breakpoints.append((len(boundaries) - 1, ttl))
    prefix = boundaries[breakpoints[-1][0]][1] if breakpoints else 0
    return _Accounting(size, prefix, boundaries, breakpoints)


# --- The server ---


class FakeAnthropic:
    """`POST /v1/messages` on 127.0.0.1, answering from a script of steps.

    with FakeAnthropic() as server:
        server.script(reply("Hello"))
        client = AsyncAnthropic(base_url=server.url, api_key="test-key")
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        min_cacheable_tokens: int = 0,
        join_timeout: float = 5.0,
        default_thinking: str = "",
    ):
        # api_key None accepts any key; the SDK sends it as `Authorization: Bearer`, older ones as `x-api-key`.
        self.api_key = api_key
        # What a model that thinks by default writes first when the request leaves thinking on ("" for nothing).
        self.default_thinking = default_thinking
        # The API silently skips caching a prefix shorter than the model's minimum (1024 to 4096 tokens).
        self.min_cacheable_tokens = min_cacheable_tokens
        self.join_timeout = join_timeout
        self._lock = threading.Lock()
        self._steps: deque[ScriptedStep] = deque()
        self._requests: list[RecordedRequest] = []
        self._cache: dict[str, float] = {}  # prefix hash -> monotonic expiry
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> FakeAnthropic:
        if self._httpd is not None:
            raise RuntimeError("FakeAnthropic is already started")
        self._stopping.clear()
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving, drops open connections (even a slow stream) and waits for every thread to end."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections.items())
        for _, conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler
        deadline = time.monotonic() + self.join_timeout
        for worker, _ in connections:
            worker.join(max(0.0, deadline - time.monotonic()))
        httpd.server_close()
        thread.join(max(0.0, deadline - time.monotonic()))
        self._httpd = self._thread = None
        stuck = [worker.name for worker in [thread, *(worker for worker, _ in connections)] if worker.is_alive()]
        if stuck:
            raise RuntimeError(f"FakeAnthropic threads still running after stop(): {stuck}")

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeAnthropic is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # Script and records

    def script(self, *steps: ScriptedStep) -> FakeAnthropic:
        """Appends answers; each `/v1/messages` request that passes auth and validation takes the next one."""
        with self._lock:
            self._steps.extend(steps)
        return self

    @property
    def pending_steps(self) -> int:
        with self._lock:
            return len(self._steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            return self._requests[-1]

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # Used by the request handler

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(record)

    def _next_step(self) -> ScriptedStep | None:
        with self._lock:
            return self._steps.popleft() if self._steps else None

    def _authorized(self, headers: dict[str, str]) -> bool:
        authorization = headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        presented = headers.get("x-api-key", "").strip() or bearer
        return bool(presented) and (self.api_key is None or presented == self.api_key)

    def _usage(self, body: dict[str, Any], answer: Reply) -> tuple[dict[str, Any], int, bool]:
        """Usage for answering `body`, as the API reports it, updating the simulated prompt cache."""
        accounting = _account(body)
        cacheable = [
            (index, ttl)
            for index, ttl in accounting.breakpoints
            if tokens(accounting.boundaries[index][1]) >= self.min_cacheable_tokens
        ]
        now = time.monotonic()
        read_bytes = 0
        cached_bytes = 0
        with self._lock:
            for index, _ in cacheable:
                for digest, size in accounting.boundaries[max(0, index - CACHE_LOOKBACK_BLOCKS + 1) : index + 1]:
                    if self._cache.get(digest, 0.0) > now:
                        read_bytes = max(read_bytes, size)
            for index, ttl in cacheable:
                digest, cached_bytes = accounting.boundaries[index]
                self._cache[digest] = now + CACHE_TTLS.get(ttl, CACHE_TTLS["5m"])
        read = tokens(read_bytes)
        creation = tokens(cached_bytes) - read if cached_bytes > read_bytes else 0
        last_ttl = cacheable[-1][1] if cacheable else "5m"
        output = sum(_block_bytes(block) for block in answer.blocks)
        usage = {
            "input_tokens": tokens(accounting.prompt_bytes) - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": creation if last_ttl != "1h" else 0,
                "ephemeral_1h_input_tokens": creation if last_ttl == "1h" else 0,
            },
            "output_tokens": max(1, tokens(output)),
            "service_tier": "standard",
        }
        usage.update(answer.usage or {})
        return usage, accounting.prefix_bytes, read_bytes > 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # FakeAnthropic.stop() joins the connection threads itself, with a deadline

    def __init__(self, fake: FakeAnthropic):
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-anthropic-connection-{client_address[1]}",
            daemon=True,
        )
        with self.fake._lock:
            self.fake._connections[worker] = request
        worker.start()

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.fake._lock:
                self.fake._connections.pop(threading.current_thread(), None)

    def handle_error(self, request, client_address):
        # A client that went away (a timeout test, a stop() mid-stream) is expected; anything else is a bug.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _text_chunks(value: str) -> list[str]:
    words = re.findall(r"\s*\S+\s*", value) or [value]
    return ["".join(words[start : start + 3]) for start in range(0, len(words), 3)]


def _json_chunks(value: dict[str, Any]) -> list[str]:
    # The API opens a tool's input with an empty delta, then sends the JSON in pieces that split tokens.
    encoded = json.dumps(value, ensure_ascii=False)
    size = max(1, len(encoded) // 4 + 1)
    return ["", *(encoded[start : start + size] for start in range(0, len(encoded), size))]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A stream goes out in many small writes. With TCP_NODELAY, as production front ends usually send (nginx and
    # Go's net/http set it by default): without it, Nagle and a client's delayed ACKs can hold a write up to 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = RecordedRequest(
            method="POST",
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw=raw,
            body=body,
            arrived_at=time.monotonic(),
        )
        fake._record(record)

        if urlsplit(self.path).path != "/v1/messages":
            return self._send_error(record, error(404, message=f"Not found: {self.path}"))
        if not fake._authorized(record.headers):
            message = "x-api-key header is required" if fake.api_key is None else "invalid x-api-key"
            return self._send_error(record, error(401, message=message))
        problem = _invalid(body)
        if problem:
            return self._send_error(record, error(400, message=problem))
        record.prefix_bytes = _account(body).prefix_bytes

        step = fake._next_step()
        if step is None:
            message = f"FakeAnthropic script ran out: request #{fake.request_count} had no scripted step"
            return self._send_error(record, error(500, message=message))
        if callable(step):
            step = step(record)
        if step.delay and fake._stopping.wait(step.delay):
            return self._hang_up()
        if isinstance(step, Error):
            return self._send_error(record, step)
        if isinstance(step, Garbage):
            record.status = step.status
            return self._send(step.status, step.body, step.content_type)
        self._send_reply(record, body, _as_answered(step, body, fake.default_thinking))

    def do_GET(self):
        self._send_error(None, error(404, message=f"Not found: {self.path}"))

    # Answers

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("request-id", _new_id("req"))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _send_error(self, record: RecordedRequest | None, step: Error) -> None:
        if record is not None:
            record.status = step.status
        payload = {"type": "error", "error": {"type": step.error_type, "message": step.message}}
        payload["request_id"] = _new_id("req")
        self._send(step.status, _canonical(payload), "application/json", step.headers)

    def _send_reply(self, record: RecordedRequest, body: dict[str, Any], answer: Reply) -> None:
        usage, record.prefix_bytes, record.cache_hit = self.server.fake._usage(body, answer)
        record.usage = usage
        message = {
            "id": _new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [_block(block) for block in answer.blocks],
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if not record.stream:
            if answer.hang_up_after is not None:
                return self._hang_up()
            record.status = 200
            return self._send(200, _canonical(message), "application/json")

        record.status = 200
        events = list(_stream_events(message))
        if answer.hang_up_after is not None:
            events = events[: answer.hang_up_after]
        if answer.error_after is not None:
            count, error_type = answer.error_after
            failure = {"type": "error", "error": {"type": error_type, "message": ERROR_MESSAGES.get(error_type, "")}}
            events = [*events[:count], ("error", failure)]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("request-id", _new_id("req"))
            self.end_headers()
            for number, (name, data) in enumerate(events):
                if number and answer.chunk_delay and self.server.fake._stopping.wait(answer.chunk_delay):
                    return self._hang_up()
                event = f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            if answer.hang_up_after is not None:
                return self._hang_up()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def _hang_up(self) -> None:
        """Drops the connection without finishing the answer, as a broken network or a dying server would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _thinking_type(body: dict[str, Any]) -> str:
    """The thinking the request runs with: what it asks for, or its model's default."""
    asked = body.get("thinking")
    if isinstance(asked, dict):
        return asked.get("type", "")
    return MODELS.get(body.get("model"), OTHER_MODEL)["default"]


def _invalid(body: Any) -> str | None:
    """The first problem the API would refuse the request for, if any (only the checks tests are likely to hit)."""
    if not isinstance(body, dict):
        return "The request body is not valid JSON."
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if name not in body:
            return f"{name}: Field required"
        if not isinstance(body[name], kind):
            return f"{name}: Input should be a valid {kind.__name__}"
    rules = MODELS.get(body["model"], OTHER_MODEL)
    if body["max_tokens"] < 1 or body["max_tokens"] > rules["max_output"]:
        return f"max_tokens: {body['max_tokens']} is out of range for {body['model']} (1 to {rules['max_output']})"
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        return f"output_config.effort: Input should be {', '.join(map(repr, EFFORTS))}"
    problem = _invalid_thinking(body, rules, effort or "medium")
    if problem:
        return problem
    thinks = _thinking_type(body) in ("enabled", "adaptive")
    for name in ("temperature", "top_p", "top_k"):
        if name not in body:
            continue
        if not rules["sampling"] and not (name == "temperature" and body[name] == 1):
            return f"{name}: this model does not support setting {name}; remove it from the request"
        if thinks and not (name == "temperature" and body[name] == 1) and not (name == "top_p" and body[name] >= 0.95):
            return f"`{name}` may only be set to its default when thinking is enabled"
    messages = body["messages"]
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        if not rules["prefill"]:
            return (
                "This model does not support assistant message prefill. The conversation must end with a user message."
            )
        if thinks:
            return "Assistant message prefill is not supported when thinking is enabled."
    return None


def _invalid_thinking(body: dict[str, Any], rules: dict[str, Any], effort: str) -> str | None:
    asked = body.get("thinking")
    if asked is None:
        return None
    if not isinstance(asked, dict) or not isinstance(asked.get("type"), str):
        return "thinking: Input should be an object with a type"
    kind = asked["type"]
    if kind not in ("enabled", "disabled", "adaptive", "between_tools"):
        return f"thinking.type: Input tag '{kind}' found using 'type' does not match any of the expected tags"
    if kind not in rules["thinking"]:
        hint = " Use thinking.type.adaptive and output_config.effort instead." if kind == "enabled" else ""
        return f'"thinking.type.{kind}" is not supported for this model.{hint}'
    if kind == "enabled":
        budget = asked.get("budget_tokens")
        if not isinstance(budget, int):
            return "thinking.enabled.budget_tokens: Field required"
        if budget < MIN_THINKING_BUDGET:
            return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        if budget >= body["max_tokens"]:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
    elif "budget_tokens" in asked:
        return f"thinking.{kind}.budget_tokens: Extra inputs are not permitted"
    if kind == "disabled" and effort not in rules["disabled_efforts"]:
        return f"thinking.type.disabled is not supported with effort {effort!r}"
    return None


def _block_bytes(block: Text | ToolUse | Thinking) -> int:
    if isinstance(block, ToolUse):
        return len(_canonical(block.input))
    if isinstance(block, Thinking):
        return len(block.thinking.encode())
    return len(block.text.encode())


def _as_answered(answer: Reply, body: dict[str, Any], default_thinking: str) -> Reply:
    """The scripted answer as the model would give it for this request: thinking blocks only when thinking is on
    (the model's default thinking first, if it thinks by default and the script has none), and cut at max_tokens."""
    thinks = _thinking_type(body) in ("enabled", "adaptive")
    blocks = [block for block in answer.blocks if thinks or not isinstance(block, Thinking)]
    if thinks and default_thinking and "thinking" not in body and not any(isinstance(b, Thinking) for b in blocks):
        blocks.insert(0, thinking(default_thinking))
    budget = body["max_tokens"] * 4  # bytes, at the fake's four bytes a token
    kept: list[Text | ToolUse | Thinking] = []
    for block in blocks:
        size = _block_bytes(block)
        if size <= budget:
            kept.append(block)
            budget -= size
            continue
        # The block that crosses max_tokens is cut where the budget ends; nothing after it is written.
        if isinstance(block, Text):
            kept.append(Text(block.text.encode()[:budget].decode(errors="ignore")))
        elif isinstance(block, Thinking):
            kept.append(Thinking(block.thinking.encode()[:budget].decode(errors="ignore"), ""))
        else:
            kept.append(ToolUse(block.name, {"_cut": json.dumps(block.input)[:budget]}, block.id))
        return replace(answer, blocks=tuple(kept), stop_reason="max_tokens")
    if len(kept) == len(answer.blocks):
        return answer
    return replace(answer, blocks=tuple(kept))


def _block(block: Text | ToolUse | Thinking) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}


def _stream_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The server-sent events the API streams for `message`, in its order."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    yield (
        "message_start",
        {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage},
        },
    )
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            start = {**block, "text": ""}
            deltas = [{"type": "text_delta", "text": chunk} for chunk in _text_chunks(block["text"])]
        elif block["type"] == "thinking":
            start = {**block, "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": chunk} for chunk in _text_chunks(block["thinking"])]
            if block["signature"]:
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            start = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": chunk} for chunk in _json_chunks(block["input"])]
        yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
        for delta in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}
