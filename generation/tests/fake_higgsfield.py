"""A fake Higgsfield platform (the request-based API) on loopback, for tests of our client, jobs and benches.

It answers submit, status, cancel and the catalogue lists, serves result files like a CDN, and delivers webhooks
from one event-loop thread (its timer heap is the scheduler) as each request reaches its final status. Tests
script the outcome of each request and the HTTP faults of each kind of call, then read back what arrived.

It is as strict as the real service (facts in ../shared/higgsfield/NOTES.md):
- a submit goes to one of the catalogue's model paths (`models`, loaded from models.json) or gets 404, and its
  body is validated against that model's schema: a wrong type, a value out of its enum or range, a missing
  required field or an unknown one answers FastAPI's 422 `{"detail": [{"loc", "msg", "type"}, ...]}`;
- it takes `Authorization: Key id:secret` or the legacy `hf-api-key` + `hf-secret` pair, else 401;
- no User-Agent, or a generic one (python-httpx, curl...), gets Cloudflare's 403 `error code: 1010`;
- `GET /docs/openapi.json` serves the catalogue as Higgsfield's OpenAPI document;
- presigned uploads (docs.higgsfield.ai /docs/concepts/file-uploads): `POST /files/generate-upload-url` takes only
  the documented content types (another answers 422, our guess at the status) and hands out `upload_headers`
  (Content-Type and x-amz-tagging); the PUT must carry each with exactly that value and none of our API
  credentials, or it gets S3's 403 SignatureDoesNotMatch XML (for credentials, that answer is our guess) and the
  URL stays unused. `upload_headers_signed=False` gives the older answer, with no `upload_headers`.

Off unless a test turns them on (or, for Idempotency-Key, the client sends one), so that by default the fake
answers as it always has:
- account concurrency (docs.higgsfield.ai /docs/concepts/rate-limits): with `account_concurrency=N`, a submission
  arriving while N of the account's requests are queued or in progress gets 400 `Maximum number of concurrent
  requests (N) has been reached`, with no Retry-After;
- the account queue (/docs/enterprise/capacity): with `account_queue_multiple=k` as well, such a submission is
  accepted `queued` and starts, in submission order, when a running request ends; at most k*N wait, and beyond
  that a submission gets 429 `account_queue_full` with the queue limit and a Retry-After (its value is ours: the
  docs give none). The docs count each output of a batch against that limit; the fake counts requests;
- Idempotency-Key (/docs/concepts/idempotency): a repeat of an accepted submission under the same key (same path,
  JSON body up to object key order, and webhook URL) answers the original request and creates nothing, and the
  same key with other parameters gets 422; a malformed key gets 400 (our guess: the docs give the key's rules,
  not the answer to a key that breaks them). The docs do not say how long a key is kept: here, for the fake's
  life;
- lost answers: `lose_next` and `lose_rate` accept a submission (the request is created, counted and its webhook
  scheduled), then hang up, answer without a request_id, or answer 502, as a timeout or a proxy would lose the
  real answer. Only new acceptances lose their answer, never a replay.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import re
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from generation.tests.higgsfield_spec import (
    load_models,
    model_path,
    openapi_document,
    request_schema,
    validation_errors,
)

__all__ = [
    "CancelCall",
    "Call",
    "FakeHiggsfield",
    "Outcome",
    "Rejection",
    "Replay",
    "Submission",
    "WebhookDelivery",
    "is_video_model",
    "mp4_bytes",
    "png_bytes",
]

OUTCOMES = ("completed", "failed", "nsfw")
FINAL_STATUSES = (*OUTCOMES, "canceled")
PATH_KINDS = ("submit", "status", "cancel", "file", "upload")
# A model id holding one of these words makes a video, as the platform's video model families are named.
# (Submissions use the catalogue's `kind` instead; this serves ids outside it.)
VIDEO_WORDS = ("video", "dop", "kling", "seedance", "wan", "minimax", "hailuo", "veo", "sora")
IMAGE_SIZE = (64, 48)
VIDEO_DURATION_MS = 5000
WEBHOOK_FORMATS = ("flat", "envelope")
# Cloudflare in front of Higgsfield has refused requests with no or a generic User-Agent with
# 403 "error code: 1010" (NOTES.md, User-Agent). The SDKs send higgsfield-client-py/1.0 and the like.
GENERIC_USER_AGENTS = ("python-httpx", "python-requests", "curl", "python-urllib")
TEST_USER_AGENT = "higgs-tests/1.0"
DOCS_PATHS = ("/docs/openapi.json", "/openapi.json")
# /docs/concepts/idempotency: 1-255 visible ASCII characters, no whitespace.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
IDEMPOTENCY_MISMATCH = "Idempotency-Key was already used with different request parameters"
LOSSES = ("hang_up", "no_request_id", "gateway")
# /docs/concepts/file-uploads: the types it accepts, and the tagging its example hands out.
UPLOAD_CONTENT_TYPES = (
    "image/jpeg",
    "image/jpg",
    "image/png",
    "image/webp",
    "image/gif",
    "audio/wav",
    "audio/x-wav",
    "video/mp4",
)
UPLOAD_TAGGING = "retention=temporary"
# Presigned storage knows nothing of our API key; a client that sends it is leaking it.
API_CREDENTIAL_HEADERS = ("Authorization", "hf-api-key", "hf-secret")
SIGNATURE_MISMATCH = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature'
    b" we calculated does not match the signature you provided.</Message></Error>"
)


def is_video_model(model_id: str) -> bool:
    lowered = model_id.lower()
    return any(word in lowered for word in VIDEO_WORDS)


# --- Result files ---


def png_bytes(
    width: int = IMAGE_SIZE[0], height: int = IMAGE_SIZE[1], color: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    """A real PNG of one solid colour, made with Pillow (imported here so the fake itself runs without it)."""
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


# The identity transform every mvhd and tkhd carries (16.16 and 2.30 fixed point).
_UNITY_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def mp4_bytes(duration_ms: int = VIDEO_DURATION_MS, width: int = IMAGE_SIZE[0], height: int = IMAGE_SIZE[1]) -> bytes:
    """A small, well-formed MP4 container: ftyp, moov (mvhd, one video trak) and an mdat.

    It holds no decodable frames, but a box parser reads the duration from mvhd (timescale 1000) and the size
    from tkhd (16.16 fixed point), as it would from a real Higgsfield video.
    """
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"avc1", b"mp41")
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, duration_ms),  # creation, modification, timescale, duration
        struct.pack(">IH10x", 0x00010000, 0x0100),  # rate 1.0, volume 1.0, reserved
        _UNITY_MATRIX,
        bytes(24),  # pre_defined
        struct.pack(">I", 2),  # next_track_ID
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        0x000003,  # enabled, in movie
        struct.pack(">IIII", 0, 0, 1, 0),  # creation, modification, track_ID, reserved
        struct.pack(">I8x", duration_ms),  # duration in the movie timescale, reserved
        struct.pack(">hhH2x", 0, 0, 0),  # layer, alternate_group, volume (0 for video), reserved
        _UNITY_MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, duration_ms), struct.pack(">HH", 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, b"vide"), b"VideoHandler\x00")
    dref = _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)), _box(b"dinf", dref), stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    mdat = _box(b"mdat", b"\x00\x00\x00\x02\x09\xf0" * 16)
    return ftyp + _box(b"moov", mvhd, trak) + mdat


# --- Scripts and records ---


@dataclass(frozen=True)
class Outcome:
    """How one request ends. `malformed=True` answers its final status as a bare `{"status": ...}` with no
    images, video or error; `malformed=b"..."` answers those raw bytes (invalid JSON, say). Webhooks carry the
    same body as the status answer."""

    status: str
    error: str | None = None
    work_seconds: float | None = None
    result_url: str | None = None
    malformed: bool | bytes = False

    def __post_init__(self):
        if self.status not in OUTCOMES:
            raise ValueError(f"Outcome status must be one of {OUTCOMES}, not {self.status!r}")


@dataclass
class Submission:
    request_id: str
    model_id: str
    body: Any  # the parsed JSON input
    webhook_url: str | None
    submitted_at: float  # time.monotonic()
    outcome: Outcome
    queue_seconds: float
    work_seconds: float
    canceled_at: float | None = None
    kind: str | None = None  # "image" or "video", from the catalogue
    # When it took one of the account's slots: at its submission, unless it waited in the account queue.
    admitted_at: float | None = None
    idempotency_key: str | None = None

    def __post_init__(self):
        if self.admitted_at is None:
            self.admitted_at = self.submitted_at

    @property
    def started_at(self) -> float:
        """When it leaves `queued` for `in_progress`: the platform's own queue time after it got a slot."""
        return self.admitted_at + self.queue_seconds

    @property
    def final_at(self) -> float:
        """When the request reaches (or reached) its final status on the fake's clock."""
        if self.canceled_at is not None:
            return self.canceled_at
        return self.started_at + self.work_seconds

    @property
    def video(self) -> bool:
        if self.kind is not None:
            return self.kind == "video"
        return is_video_model(self.model_id)

    def status_at(self, now: float) -> str:
        if self.canceled_at is not None:
            return "canceled"
        if now < self.started_at:
            return "queued"
        if now < self.final_at:
            return "in_progress"
        return self.outcome.status


@dataclass(frozen=True)
class Call:
    """One HTTP call the fake answered (any path, any status)."""

    method: str
    path: str
    kind: str  # submit, status, cancel, file, upload, catalogue, docs or unknown
    status: int
    at: float


@dataclass(frozen=True)
class Rejection:
    """A submission refused for its path, body or Idempotency-Key (404 unknown model, 400 not a JSON object or a
    malformed key, 422 invalid or a key reused with other parameters), or, in `capacity_refusals`, for the
    account's limits (400 at the concurrency limit, 429 with the account queue full).
    It got no request id and is not in `submissions`."""

    path: str  # the URL path, "/higgsfield-ai/soul/standard"
    body: Any  # the parsed JSON, or the raw bytes when they were not JSON
    status: int
    detail: Any  # the answer's "detail": a string, or FastAPI's list of {loc, msg, type}
    at: float


@dataclass(frozen=True)
class Replay:
    """A submission that repeated an accepted one under its Idempotency-Key, answered with that request."""

    key: str
    request_id: str
    at: float


@dataclass(frozen=True)
class CancelCall:
    request_id: str
    status: int  # 202 accepted, 400 too late, 404 unknown
    at: float


@dataclass(frozen=True)
class WebhookDelivery:
    request_id: str
    url: str
    attempt: int  # 1 for the first try, counting retries; duplicates count on from the success
    at: float
    status: int | None  # the receiver's answer, None when the connection failed
    error: str | None
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class _Fault:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class _Delivery:
    request_id: str
    attempt: int
    duplicate: bool


@dataclass(frozen=True)
class _Answer:
    """What the handler sends for a submission; `hang_up` closes the connection instead."""

    status: int
    payload: Any = None
    headers: dict[str, str] | None = None
    hang_up: bool = False


LOST_ANSWERS = {
    "hang_up": _Answer(0, hang_up=True),
    "no_request_id": _Answer(200, {"status": "queued"}),
    "gateway": _Answer(502, {"detail": "Bad Gateway"}),
}


@dataclass(frozen=True)
class _KeyUse:
    """The submission an Idempotency-Key was first accepted with."""

    path: str
    body: str  # canonical JSON: object keys sorted
    webhook_url: str | None
    request_id: str


@dataclass(frozen=True)
class _UploadSlot:
    name: str
    headers: dict[str, str]  # the PUT must carry each, with this value


# --- The server ---


class FakeHiggsfield:
    """The Higgsfield request API on 127.0.0.1.

    with FakeHiggsfield(work_seconds=0.5) as server:
        server.outcomes.append("failed")
        httpx.post(f"{server.url}/higgsfield-ai/soul/standard", json={"prompt": "..."}, headers=server.auth_headers)
    """

    def __init__(
        self,
        *,
        key_id: str = "test-id",
        key_secret: str = "test-secret",
        queue_seconds: float = 0.0,
        work_seconds: float = 0.0,
        webhook_retry_seconds: float = 0.2,
        webhook_max_attempts: int = 20,
        duplicate_webhooks: int = 0,
        webhook_timeout: float = 5.0,
        join_timeout: float = 5.0,
        models: list[dict[str, Any]] | None = None,
        webhook_format: str = "flat",
        account_concurrency: int | None = None,
        account_queue_multiple: int | None = None,
        queue_full_retry_after: int = 5,
        lose_rate: float = 0.0,
        seed: int | None = None,
        upload_headers_signed: bool = True,
    ):
        if account_concurrency is not None and account_concurrency < 1:
            raise ValueError("account_concurrency must be None (no limit) or at least 1")
        if account_queue_multiple is not None and account_queue_multiple < 0:
            raise ValueError("account_queue_multiple must be None (the 400 mode) or at least 0")
        if not 0.0 <= lose_rate <= 1.0:
            raise ValueError("lose_rate must be between 0 and 1")
        self.key_id = key_id
        self.key_secret = key_secret
        # The catalogue in models.json's format (id, path, kind, params...). Read at each submission and each
        # /docs/openapi.json, so a test may add, remove or change a model at any time.
        self.models: list[dict[str, Any]] = load_models() if models is None else models
        # "flat": the documented webhook body, the status JSON. "envelope": {request_id, status, error?, payload}
        # as some third-party code parses it (NOTES.md, disagreement 4). Read at each delivery.
        if webhook_format not in WEBHOOK_FORMATS:
            raise ValueError(f"webhook_format must be one of {WEBHOOK_FORMATS}, not {webhook_format!r}")
        self.webhook_format = webhook_format
        # Read at each submission, so a test may change them between submissions.
        self.queue_seconds = queue_seconds
        self.work_seconds = work_seconds
        self.webhook_retry_seconds = webhook_retry_seconds
        self.webhook_max_attempts = webhook_max_attempts
        self.duplicate_webhooks = duplicate_webhooks
        self.webhook_timeout = webhook_timeout
        self.join_timeout = join_timeout
        # The account's limits (docs /concepts/rate-limits, /enterprise/capacity). None: no limit. With only a
        # concurrency, a submission at the limit gets 400; with a queue multiple k too, up to k * concurrency wait
        # for a slot and the next one gets 429. Read at each submission and cancel.
        self.account_concurrency = account_concurrency
        self.account_queue_multiple = account_queue_multiple
        self.queue_full_retry_after = queue_full_retry_after
        # The share of new acceptances whose answer is lost (a hang-up), drawn from the fake's own generator.
        self.lose_rate = lose_rate
        self._random = random.Random(seed)
        # False: the upload answer has no upload_headers and the PUT needs only its Content-Type (older answers).
        self.upload_headers_signed = upload_headers_signed
        # Scripts: outcomes of the next submissions (strings or Outcome), catalogue answers, extra files to serve.
        self.outcomes: deque[str | Outcome] = deque()
        self.styles: list[dict[str, Any]] = []
        self.motions: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        # Files PUT to the upload URLs that /files/generate-upload-url handed out: (content type, bytes) by name.
        self.uploads: dict[str, tuple[str, bytes]] = {}
        self._upload_slots: dict[str, _UploadSlot] = {}

        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # wait_for_webhooks() waits on it
        self._requests: dict[str, Submission] = {}
        self._submissions: list[Submission] = []
        self._rejections: list[Rejection] = []
        self._capacity_refusals: list[Rejection] = []
        self._replays: list[Replay] = []
        self._keys: dict[str, _KeyUse] = {}
        self._losses: deque[str] = deque()
        self._lost: list[str] = []
        # Requests not final at the last look, in submission order: what the account's limits count.
        self._live: list[Submission] = []
        self._status_calls: Counter[str] = Counter()
        self._cancels: list[CancelCall] = []
        self._calls: list[Call] = []
        self._deliveries: list[WebhookDelivery] = []
        self._faults: dict[str, deque[_Fault]] = {kind: deque() for kind in PATH_KINDS}
        self._slow: dict[str, deque[float]] = {kind: deque() for kind in PATH_KINDS}
        self._pending = 0  # webhook deliveries scheduled or in flight
        self._first_timers: dict[str, asyncio.TimerHandle] = {}  # touched only by the loop's thread
        self._duplicates_sent: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._threads: list[threading.Thread] = []

    # Lifecycle

    def start(self) -> FakeHiggsfield:
        if self._httpd is not None:
            raise RuntimeError("FakeHiggsfield is already started")
        self._stopping.clear()
        self._loop = asyncio.new_event_loop()
        self._httpd = _Server(self)
        self._threads = [
            threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-higgsfield", daemon=True
            ),
            threading.Thread(
                target=self._run_webhooks, args=(self._loop,), name="fake-higgsfield-webhooks", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and delivering, drops pending webhooks and open connections, and joins every thread."""
        httpd = self._httpd
        if httpd is None:
            return
        with self._lock:
            self._stopping.set()  # under the lock, so no handler schedules a webhook on a loop that is closing
            self._idle.notify_all()
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        httpd.shutdown()
        deadline = time.monotonic() + self.join_timeout
        while time.monotonic() < deadline:
            # Repeated, because a keep-alive client may open a connection while we stop.
            with self._lock:
                connections = list(self._connections.items())
            for _, conn in connections:
                _shut(conn)
            workers = [thread for thread, _ in connections] + self._threads[1:]
            for worker in workers:
                worker.join(0.02)
            if not any(worker.is_alive() for worker in workers):
                break
        httpd.server_close()
        self._threads[0].join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            stuck = [thread.name for thread in [*self._threads, *self._connections] if thread.is_alive()]
            self._pending = 0
        self._httpd = self._loop = None
        if stuck:
            raise RuntimeError(f"FakeHiggsfield threads still running after stop(): {stuck}")

    def __enter__(self) -> FakeHiggsfield:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeHiggsfield is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """The key, and a User-Agent the Cloudflare check lets through."""
        return {"Authorization": f"Key {self.key_id}:{self.key_secret}", "User-Agent": TEST_USER_AGENT}

    # Scripts

    def fail_next(
        self,
        path_kind: str,
        status: int,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next `times` authorized calls of `path_kind` answer `status` instead.

        `body` is JSON (a dict or list) or raw bytes/str; by default `{"detail": <the status phrase>}`.
        A failed submit creates no request.
        """
        self._check_kind(path_kind)
        if body is None:
            body = {"detail": HTTPStatus(status).phrase}
        if isinstance(body, str):
            body = body.encode()
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self._lock:
            self._faults[path_kind].extend(_Fault(status, payload, dict(headers or {})) for _ in range(times))

    def lose_next(self, times: int = 1, how: str = "hang_up") -> None:
        """The next `times` submissions that create a request (not replays) lose their answer after it is created,
        counted and its webhook scheduled: "hang_up" closes the connection unanswered, "no_request_id" answers
        200 `{"status": "queued"}`, "gateway" answers 502, as a proxy in front of the platform would."""
        if how not in LOSSES:
            raise ValueError(f"how must be one of {LOSSES}, not {how!r}")
        with self._lock:
            self._losses.extend([how] * times)

    def slow_next(self, path_kind: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `path_kind` wait `seconds` before answering (stop() cuts the wait short)."""
        self._check_kind(path_kind)
        with self._lock:
            self._slow[path_kind].extend([seconds] * times)

    # Records

    @property
    def submissions(self) -> list[Submission]:
        with self._lock:
            return list(self._submissions)

    @property
    def rejections(self) -> list[Rejection]:
        """Submissions refused for their path or body; empty when everything sent was valid."""
        with self._lock:
            return list(self._rejections)

    @property
    def capacity_refusals(self) -> list[Rejection]:
        """Submissions refused for the account's limits: 400 at the concurrency limit, 429 with the queue full."""
        with self._lock:
            return list(self._capacity_refusals)

    @property
    def replays(self) -> list[Replay]:
        """Submissions answered with an earlier request, for their Idempotency-Key."""
        with self._lock:
            return list(self._replays)

    @property
    def lost_answers(self) -> list[str]:
        """Ids of the requests whose submission's answer was lost (hang-ups are not in `calls`: none was sent)."""
        with self._lock:
            return list(self._lost)

    def max_in_flight(self) -> int:
        """The most of the account's requests queued or in progress at one moment over the fake's life."""
        with self._lock:
            spans = [(sub.submitted_at, sub.final_at) for sub in self._submissions]
        # An end sorts before a start at the same moment: the spans are [submitted, final).
        events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
        most = count = 0
        for _, step in events:
            count += step
            most = max(most, count)
        return most

    def model(self, path: str) -> dict[str, Any] | None:
        """The catalogue entry whose URL path is `path` ("/higgsfield-ai/soul/standard"), if any."""
        with self._lock:
            models = list(self.models)
        return next((model for model in models if model_path(model) == path), None)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document /docs/openapi.json serves for the current catalogue."""
        with self._lock:
            models = list(self.models)
        return openapi_document(models)

    @property
    def status_calls(self) -> Counter[str]:
        """Status calls per request id (authorized ones, scripted failures included); 0 for an id never polled."""
        with self._lock:
            return Counter(self._status_calls)

    @property
    def cancels(self) -> list[CancelCall]:
        with self._lock:
            return list(self._cancels)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def complete_times(self) -> dict[str, float]:
        """Request id -> when it reached its final status (time.monotonic()), for the requests that have."""
        now = time.monotonic()
        with self._lock:
            return {rid: sub.final_at for rid, sub in self._requests.items() if sub.final_at <= now}

    def submission(self, request_id: str) -> Submission:
        with self._lock:
            return self._requests[request_id]

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Waits until no webhook delivery is scheduled or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return not self._pending

    # Used by the request handler

    def _check_kind(self, path_kind: str) -> None:
        if path_kind not in PATH_KINDS:
            raise ValueError(f"path_kind must be one of {PATH_KINDS}, not {path_kind!r}")

    def _authorized(self, headers: Any) -> bool:
        # The documented header, or the legacy pair the docs say is still accepted (the JS v1 client sends it).
        if headers.get("Authorization") == f"Key {self.key_id}:{self.key_secret}":
            return True
        return headers.get("hf-api-key") == self.key_id and headers.get("hf-secret") == self.key_secret

    def _reject(self, path: str, body: Any, status: int, detail: Any) -> None:
        with self._lock:
            self._rejections.append(Rejection(path, body, status, detail, time.monotonic()))

    def _take_fault(self, kind: str) -> _Fault | None:
        with self._lock:
            faults = self._faults.get(kind)
            return faults.popleft() if faults else None

    def _take_delay(self, kind: str) -> float:
        with self._lock:
            delays = self._slow.get(kind)
            return delays.popleft() if delays else 0.0

    def _record_call(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _accept(
        self, path: str, body: dict[str, Any], webhook_url: str | None, kind: str | None, key: str | None
    ) -> _Answer:
        """A valid submission: a replay of its key, a refusal for the account's limits, or a new request.

        One lock hold from the key's lookup to the request's creation, so the same key sent twice at once
        makes one request; the lookup comes first, so a replay is never refused for capacity.
        """
        canonical = json.dumps(body, sort_keys=True)
        with self._lock:
            now = time.monotonic()
            used = self._keys.get(key) if key is not None else None
            if used is not None:
                if (used.path, used.body, used.webhook_url) != (path, canonical, webhook_url):
                    self._rejections.append(Rejection(path, body, 422, IDEMPOTENCY_MISMATCH, now))
                    return _Answer(422, {"detail": IDEMPOTENCY_MISMATCH})
                sub = self._requests[used.request_id]
                self._replays.append(Replay(key, sub.request_id, now))
                return _Answer(200, self._links(sub, sub.status_at(now)))
            refusal = self._capacity_refusal(now)
            if refusal is not None:
                self._capacity_refusals.append(Rejection(path, body, refusal.status, refusal.payload["detail"], now))
                return refusal
            sub = self._create(path.strip("/"), body, webhook_url, kind, key, now)
            if key is not None:
                self._keys[key] = _KeyUse(path, canonical, webhook_url, sub.request_id)
            loss = self._take_loss()
            if loss is None:
                return _Answer(200, self._links(sub, "queued"))
            self._lost.append(sub.request_id)
            return LOST_ANSWERS[loss]

    def _capacity_refusal(self, now: float) -> _Answer | None:
        """Called with the lock held: the answer to a submission the account's limits refuse now, if they do."""
        limit = self.account_concurrency
        if limit is None:
            return None
        live = [sub for sub in self._live if now < sub.final_at]
        if self.account_queue_multiple is None:
            if len(live) < limit:
                return None
            return _Answer(400, {"detail": f"Maximum number of concurrent requests ({limit}) has been reached"})
        waiting = sum(1 for sub in live if now < sub.admitted_at)
        queue_limit = self.account_queue_multiple * limit
        if (len(live) - waiting < limit and not waiting) or waiting < queue_limit:
            return None
        detail = {"detail": "Account queue is full", "code": "account_queue_full", "limit": queue_limit}
        return _Answer(429, detail, {"Retry-After": str(self.queue_full_retry_after)})

    def _create(
        self, model_id: str, body: Any, webhook_url: str | None, kind: str | None, key: str | None, now: float
    ) -> Submission:
        """Called with the lock held."""
        scripted = self.outcomes.popleft() if self.outcomes else "completed"
        outcome = Outcome(scripted) if isinstance(scripted, str) else scripted
        work = self.work_seconds if outcome.work_seconds is None else outcome.work_seconds
        sub = Submission(
            request_id=str(uuid.uuid4()),
            model_id=model_id,
            body=body,
            webhook_url=webhook_url,
            submitted_at=now,
            outcome=outcome,
            queue_seconds=self.queue_seconds,
            work_seconds=work,
            kind=kind,
            idempotency_key=key,
        )
        self._replan(now, sub)
        self._live.append(sub)
        self._requests[sub.request_id] = sub
        self._submissions.append(sub)
        if webhook_url:
            self._schedule(sub.final_at, _Delivery(sub.request_id, 1, False), new=True)
        return sub

    def _replan(self, now: float, new: Submission | None = None) -> None:
        """Called with the lock held. Gives each request waiting for one of the account's slots, and `new`, the
        moment a slot frees (in submission order), and moves the first webhook of those whose end moved.

        Only a cancel or a changed limit moves a waiting request: without them the plan made at its
        submission holds, as each slot frees when its request ends.
        """
        self._live = [sub for sub in self._live if now < sub.final_at]
        waiting = [sub for sub in self._live if now < sub.admitted_at]
        if new is not None:
            waiting.append(new)
        if not waiting:
            return
        limit = self.account_concurrency
        slots: list[float] = []
        if limit is not None:
            ends = sorted(sub.final_at for sub in self._live if sub.admitted_at <= now)
            # More running than the limit (it was lowered): a slot frees only once the excess has ended.
            slots = ends[len(ends) - limit :] if len(ends) >= limit else ends + [now] * (limit - len(ends))
            heapq.heapify(slots)
        for sub in waiting:
            admitted = now if limit is None else max(now, heapq.heappop(slots))
            moved = sub is not new and admitted != sub.admitted_at
            sub.admitted_at = admitted
            if limit is not None:
                heapq.heappush(slots, sub.final_at)
            if moved and sub.webhook_url:
                self._schedule(sub.final_at, _Delivery(sub.request_id, 1, False), new=False)

    def _take_loss(self) -> str | None:
        """Called with the lock held: how the answer of the request just created is lost, if it is."""
        if self._losses:
            return self._losses.popleft()
        if self.lose_rate and self._random.random() < self.lose_rate:
            return "hang_up"
        return None

    def _poll(self, request_id: str) -> Submission | None:
        with self._lock:
            sub = self._requests.get(request_id)
            if sub is not None:
                self._status_calls[request_id] += 1
            return sub

    def _cancel(self, request_id: str) -> int:
        now = time.monotonic()
        with self._lock:
            sub = self._requests.get(request_id)
            if sub is None:
                status = 404
            elif sub.status_at(now) != "queued":
                status = 400
            else:
                status = 202
                sub.canceled_at = now
                if sub.webhook_url:
                    self._schedule(now, _Delivery(request_id, 1, False), new=False)  # moves the first one
                self._replan(now)  # its slot or its place in the account queue is free
            self._cancels.append(CancelCall(request_id, status, now))
        return status

    def _upload_slot(self, content_type: str) -> dict[str, Any]:
        """A presigned upload URL for one file, and the answer that hands it out."""
        slot = uuid.uuid4().hex
        name = f"upload-{slot}.{content_type.rpartition('/')[2]}"
        headers = {"Content-Type": content_type}
        signed = self.upload_headers_signed
        if signed:
            headers["x-amz-tagging"] = UPLOAD_TAGGING
        with self._lock:
            self._upload_slots[slot] = _UploadSlot(name, headers)
        answer = {
            "upload_url": f"{self.url}/upload-slots/{slot}",
            "public_url": f"{self.url}/files/{name}",
            "content_type": content_type,
        }
        if signed:
            answer["upload_headers"] = dict(headers)
        return answer

    def _file(self, name: str) -> bytes | None:
        with self._lock:
            if name in self.files:
                return self.files[name]
            stem, _, extension = name.rpartition(".")
            sub = self._requests.get(stem)
        if sub is None:
            return None
        if extension == "png" and not sub.video:
            return png_bytes(color=_colour(sub.request_id))
        if extension == "mp4" and sub.video:
            return mp4_bytes()
        return None

    def _links(self, sub: Submission, status: str) -> dict[str, Any]:
        base = self.url
        return {
            "status": status,
            "request_id": sub.request_id,
            "status_url": f"{base}/requests/{sub.request_id}/status",
            "cancel_url": f"{base}/requests/{sub.request_id}/cancel",
        }

    def _result_url(self, sub: Submission) -> str:
        return sub.outcome.result_url or f"{self.url}/files/{sub.request_id}.{'mp4' if sub.video else 'png'}"

    def _answer(self, sub: Submission, now: float, envelope: bool = False) -> bytes:
        """The status JSON for `sub` at `now`, as a poll or a (flat) webhook carries it; or the envelope."""
        status = sub.status_at(now)
        final = status in OUTCOMES
        if final and sub.outcome.malformed is not False:
            if isinstance(sub.outcome.malformed, bytes):
                return sub.outcome.malformed
            return json.dumps({"status": status}).encode()
        if envelope:
            return json.dumps(self._envelope(sub, status)).encode()
        answer = self._links(sub, status)
        if status == "completed":
            if sub.video:
                answer["video"] = {"url": self._result_url(sub)}
            else:
                answer["images"] = [{"url": self._result_url(sub)}]
        elif status == "failed":
            answer["error"] = sub.outcome.error or "Generation failed"
        return json.dumps(answer).encode()

    def _envelope(self, sub: Submission, status: str) -> dict[str, Any]:
        """The webhook shape seen in third-party code (fal.ai-like, unverified for Higgsfield): outputs under
        `payload`, video as a list too; `payload` is null when there is no output."""
        answer: dict[str, Any] = {"request_id": sub.request_id, "status": status}
        if status == "failed":
            answer["error"] = sub.outcome.error or "Generation failed"
        payload = None
        if status == "completed":
            if sub.video:
                payload = {"video": [{"url": self._result_url(sub), "content_type": "video/mp4"}]}
            else:
                payload = {"images": [{"url": self._result_url(sub), "content_type": "image/png"}]}
        answer["payload"] = payload
        return answer

    # Webhooks: one thread runs an event loop; loop.call_at keeps the due times (a heap), and each delivery is a task,
    # so hundreds due at once go out together and none waits for a slow receiver.

    def _schedule(self, due: float, delivery: _Delivery, new: bool = True) -> None:
        """Called with the lock held, from any thread. The loop's clock is time.monotonic(), like `due`."""
        if self._stopping.is_set() or self._loop is None:
            return
        if new:
            self._pending += 1
        self._loop.call_soon_threadsafe(self._arm, due, delivery, new)

    def _arm(self, due: float, delivery: _Delivery, new: bool = True) -> None:
        first = delivery.attempt == 1 and not delivery.duplicate
        if first and not new:
            # A cancel, or a slot freed early, moves the first delivery; the one armed at submit must not fire
            # as well. If it already went out, its request was final by then: moving it would send it twice.
            earlier = self._first_timers.pop(delivery.request_id, None)
            if earlier is None:
                return
            earlier.cancel()
        timer = asyncio.get_running_loop().call_at(due, self._launch, delivery)
        if first:
            self._first_timers[delivery.request_id] = timer

    def _run_webhooks(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # stop() ended the loop: drop what is pending, cut deliveries in flight short.
            for task in self._tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
            loop.close()

    def _launch(self, delivery: _Delivery) -> None:
        self._first_timers.pop(delivery.request_id, None)
        if self._stopping.is_set():
            return  # a timer that came due while stop() winds the loop down
        loop = asyncio.get_running_loop()
        if delivery.attempt == 1 and not delivery.duplicate:
            with self._lock:
                due = self._requests[delivery.request_id].final_at
            if due > loop.time():
                # A lowered account limit put its start later while this timer ran: not final yet.
                self._first_timers[delivery.request_id] = loop.call_at(due, self._launch, delivery)
                return
        task = loop.create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: _Delivery) -> None:
        try:
            with self._lock:
                sub = self._requests[delivery.request_id]
            url = sub.webhook_url or ""
            envelope = self.webhook_format == "envelope"
            status, error = await self._post(url, self._answer(sub, time.monotonic(), envelope))
            record = WebhookDelivery(
                delivery.request_id, url, delivery.attempt, time.monotonic(), status, error, delivery.duplicate
            )
            with self._lock:
                self._deliveries.append(record)
                later = time.monotonic() + self.webhook_retry_seconds
                if record.ok or delivery.duplicate:
                    if self._duplicates_sent[delivery.request_id] < self.duplicate_webhooks:
                        self._duplicates_sent[delivery.request_id] += 1
                        self._schedule(later, _Delivery(delivery.request_id, delivery.attempt + 1, True))
                elif delivery.attempt < self.webhook_max_attempts:
                    self._schedule(later, _Delivery(delivery.request_id, delivery.attempt + 1, False))
        finally:
            with self._lock:
                self._pending -= 1
                if not self._pending:
                    self._idle.notify_all()

    async def _post(self, url: str, payload: bytes) -> tuple[int | None, str | None]:
        """POSTs `payload` as JSON; the receiver's status, or the error that kept it from answering."""
        try:
            return await asyncio.wait_for(_http_post(url, payload), self.webhook_timeout), None
        except (OSError, ValueError, EOFError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"


async def _http_post(url: str, payload: bytes) -> int:
    """A minimal HTTP/1.1 POST on its own connection, as a webhook sender makes one; returns the status code."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: fake-higgsfield\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[int] = loop.create_future()
    # The connection may fail after a timeout or a stop() cancelled us; its error then has no reader.
    answered.add_done_callback(lambda future: future.cancelled() or future.exception())
    transport, _ = await loop.create_connection(
        lambda: _WebhookPost(head.encode() + payload, answered),
        parts.hostname,
        parts.port or (443 if secure else 80),
        ssl=ssl.create_default_context() if secure else None,
    )
    try:
        return await answered
    finally:
        transport.close()


class _WebhookPost(asyncio.Protocol):
    """Sends one request and resolves to the answer's status once its head and a small body have arrived.

    A protocol rather than asyncio streams: it costs a fraction as much, which counts when 200 are due at once.
    """

    def __init__(self, request: bytes, answered: asyncio.Future[int]):
        self.request = request
        self.answered = answered
        self.received = b""

    def connection_made(self, transport):
        transport.write(self.request)

    def data_received(self, data):
        self.received += data
        head, found, body = self.received.partition(b"\r\n\r\n")
        if not found or self.answered.done():
            return
        lines = head.split(b"\r\n")
        status_line = lines[0].split()
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/") or not status_line[1].isdigit():
            self.answered.set_exception(ValueError(f"not an HTTP answer: {lines[0][:80]!r}"))
            return
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value)
        # Wait for a small body, so closing does not reset the receiver's side; a larger one is not worth it.
        if len(body) >= length or length > 1 << 20:
            self.answered.set_result(int(status_line[1]))

    def connection_lost(self, exc):
        if not self.answered.done():
            self.answered.set_exception(exc or EOFError("the receiver closed the connection without an answer"))


def _generic_agent(user_agent: str | None) -> bool:
    agent = (user_agent or "").strip().lower()
    return not agent or agent.startswith(GENERIC_USER_AGENTS)


def _shut(conn: socket.socket | None) -> None:
    if conn is None:
        return
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _colour(request_id: str) -> tuple[int, int, int]:
    # One colour per request, so a test can tell which request's image it copied.
    value = zlib.crc32(request_id.encode())
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # FakeHiggsfield.stop() joins the connection threads itself, with a deadline
    request_queue_size = 1024  # 200 clients connecting at once must not overflow the listen backlog

    def __init__(self, fake: FakeHiggsfield):
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-higgsfield-connection-{client_address[1]}",
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
        # A client that went away (a timeout test, a stop() mid-answer) is expected; anything else is a bug.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle and delayed ACKs add 40 ms to keep-alive calls.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._route("GET", b"")

    def do_POST(self):
        self._route("POST", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def do_PUT(self):
        self._route("PUT", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def do_DELETE(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._route("DELETE", b"")

    do_PATCH = do_DELETE

    def _route(self, method: str, raw: bytes) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        segments = path.strip("/").split("/")
        kind = "unknown"
        if method == "GET" and len(segments) == 2 and segments[0] == "files":
            kind = "file"
        elif method == "POST" and path == "/files/generate-upload-url":
            kind = "upload"
        elif method == "PUT" and len(segments) == 2 and segments[0] == "upload-slots":
            # A presigned URL: the slot id is the credential, as on the real storage.
            return self._upload_put(segments[1], raw)
        elif method == "GET" and len(segments) == 3 and segments[0] == "requests" and segments[2] == "status":
            kind = "status"
        elif method == "POST" and len(segments) == 3 and segments[0] == "requests" and segments[2] == "cancel":
            kind = "cancel"
        elif method == "GET" and path in ("/v1/text2image/soul-styles", "/v1/motions"):
            kind = "catalogue"
        elif method == "GET" and path in DOCS_PATHS:
            # docs.higgsfield.ai serves the spec to anyone: no key, and it is not the API's Cloudflare zone.
            return self._json(method, "docs", 200, fake.openapi())
        elif method == "POST" and segments[0] not in ("", "requests", "files"):
            kind = "submit"

        # Result files come from a CDN, not through Higgsfield's Cloudflare: only the API checks the agent.
        if kind != "file" and _generic_agent(self.headers.get("User-Agent")):
            return self._send(method, kind, 403, b"error code: 1010", "text/plain; charset=UTF-8")
        if kind != "file" and not fake._authorized(self.headers):
            # Missing and wrong credentials answer alike (NOTES.md, auth).
            return self._json(method, kind, 401, {"detail": "Invalid credentials"})
        if kind == "unknown":
            status = 405 if method not in ("GET", "POST") else 404
            return self._json(method, kind, status, {"detail": HTTPStatus(status).phrase})

        delay = fake._take_delay(kind)
        if delay and fake._stopping.wait(delay):
            return self._hang_up()
        if kind == "status":
            sub = fake._poll(segments[1])  # counted before any scripted fault, as the call did arrive
        fault = fake._take_fault(kind)
        if fault is not None:
            return self._send(method, kind, fault.status, fault.body, "application/json", fault.headers)

        if kind == "file":
            content = fake._file(segments[1])
            if content is None:
                return self._json(method, kind, 404, {"detail": "Not Found"})
            content_type = "video/mp4" if segments[1].endswith(".mp4") else "image/png"
            return self._send(method, kind, 200, content, content_type)
        if kind == "upload":
            try:
                content_type = json.loads(raw)["content_type"]
            except (ValueError, KeyError, TypeError):
                return self._json(method, kind, 422, {"detail": "content_type is required"})
            if content_type not in UPLOAD_CONTENT_TYPES:
                # The docs list the types; 422 for another is our guess.
                return self._json(method, kind, 422, {"detail": "Unsupported content_type"})
            return self._json(method, kind, 200, fake._upload_slot(content_type))
        if kind == "catalogue":
            return self._json(method, kind, 200, fake.styles if "soul-styles" in path else fake.motions)
        if kind == "status":
            if sub is None:
                return self._json(method, kind, 404, {"detail": "Request not found"})
            return self._send(method, kind, 200, fake._answer(sub, time.monotonic()), "application/json")
        if kind == "cancel":
            status = fake._cancel(segments[1])
            if status == 202:
                return self._send(method, kind, 202, fake._answer(fake.submission(segments[1]), time.monotonic()))
            detail = "Request not found" if status == 404 else "Request can only be canceled while queued"
            return self._json(method, kind, status, {"detail": detail})

        self._submit(path, parts.query, raw)

    def _submit(self, path: str, query: str, raw: bytes) -> None:
        """A submission: the path must be a model's, the body a JSON object valid for that model."""
        fake = self.server.fake
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        model = fake.model(path)
        if model is None:
            return self._refuse(path, body, 404, "Not Found")
        keys = self.headers.get_all("Idempotency-Key") or []
        key = keys[0] if keys else None
        # Checked before the body, as a header is; 400 (and refusing a repeated header) is our guess.
        if len(keys) > 1 or (key is not None and not IDEMPOTENCY_KEY.fullmatch(key)):
            return self._refuse(path, body, 400, "Invalid Idempotency-Key header")
        if not isinstance(body, dict):
            return self._refuse(path, body, 400, "The request body must be a JSON object")
        errors = validation_errors(request_schema(model), body)
        if errors:
            return self._refuse(path, body, 422, errors)
        webhook = parse_qs(query).get("hf_webhook", [None])[0]
        answer = fake._accept(path, body, webhook, model.get("kind"), key)
        if answer.hang_up:
            return self._hang_up()
        self._send("POST", "submit", answer.status, json.dumps(answer.payload).encode(), headers=answer.headers)

    def _refuse(self, path: str, body: Any, status: int, detail: Any) -> None:
        self.server.fake._reject(path, body, status, detail)
        self._json("POST", "submit", status, {"detail": detail})

    def _upload_put(self, slot_id: str, raw: bytes) -> None:
        fake = self.server.fake
        headers = self.headers
        with fake._lock:
            slot = fake._upload_slots.get(slot_id)
            # S3 signs the URL with these headers, so a PUT without one, or with another value, fails the
            # signature. Our API credentials are refused alike (S3 itself may answer them otherwise): the
            # storage must never see them.
            signed = (
                slot is not None
                and not any(name in headers for name in API_CREDENTIAL_HEADERS)
                and all(headers.get(name) == value for name, value in slot.headers.items())
            )
            if signed:
                del fake._upload_slots[slot_id]
                fake.uploads[slot.name] = (headers.get("Content-Type", ""), raw)
                fake.files[slot.name] = raw
        if slot is None:
            return self._json("PUT", "upload", 403, {"detail": "Unknown or used upload URL"})
        if not signed:
            return self._send("PUT", "upload", 403, SIGNATURE_MISMATCH, "application/xml")
        self._send("PUT", "upload", 200, b"", "text/plain")

    # Answers

    def _json(self, method: str, kind: str, status: int, payload: Any) -> None:
        self._send(method, kind, status, json.dumps(payload).encode())

    def _send(
        self,
        method: str,
        kind: str,
        status: int,
        payload: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.server.fake._record_call(Call(method, self.path, kind, status, time.monotonic()))
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def _hang_up(self) -> None:
        self.close_connection = True
        _shut(self.connection)
