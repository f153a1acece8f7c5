"""Our client for Higgsfield's request-based API: submit, status, cancel, fetch a result, upload, list the
catalogue, read the published OpenAPI document.

One error type, HiggsfieldError, says whether a failure is permanent (400, 401, 403, 404, 422: the same call
would fail again), back-pressure (`busy`: the account's concurrency limit answered 400, or its queue is full,
429 with Retry-After: nothing was created, send later) or worth another try (408, 409, 5xx, timeouts, a broken
connection, an answer we cannot read). For a submission, `maybe_sent` says it may have been taken in all the
same: it is then sent again byte for byte under the same Idempotency-Key, and Higgsfield answers with the
request it already made instead of making (and charging) a second one.
Secrets never appear in an error message. Every call goes through higgs_project.outbound, so it reaches only
public addresses or hosts in OUTBOUND_ALLOW_HOSTS (our base URL included): a refusal is a permanent error.
"""

import email.utils
import functools
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from django.conf import settings

from higgs_project import outbound

PERMANENT_STATUSES = {400, 401, 403, 404, 405, 409, 413, 422}


class HiggsfieldError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        maybe_sent: bool = False,
        busy: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.maybe_sent = maybe_sent
        # The account is at its capacity: nothing was made; `retry_after` is Higgsfield's own wait, when it gave one.
        self.busy = busy
        self.retry_after = retry_after


# Generic agents have been blocked by the CDN in front of Higgsfield ("error code: 1010"); the SDKs send their own.
USER_AGENT = "higgs-server/1.0"
# Higgsfield's answer at the account's concurrency limit (docs: concepts/rate-limits): a 400 with this detail.
CONCURRENCY_DETAIL = re.compile(r"concurrent requests", re.IGNORECASE)
# The idempotency docs say 1 to 255 visible ASCII characters, no whitespace.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class Submission:
    """One submission exactly as it goes out: the URL (with its webhook) and the JSON bytes. Built once per job
    and kept, because a resend under the same Idempotency-Key must be the same request."""

    url: str
    body: bytes


def submission_build(*, base_url: str, path: str, body: dict, webhook_url: str = "") -> Submission:
    url = httpx.URL(f"{base_url.rstrip('/')}/{quote(path.strip('/'), safe='/.-_')}")
    if webhook_url:
        url = url.copy_merge_params({"hf_webhook": webhook_url})
    content = json.dumps(body, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()
    return Submission(url=str(url), body=content)


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _busy(response: httpx.Response, detail: str) -> bool:
    """Back-pressure, not a bad input: the account's concurrency limit (400) or its full queue (429)."""
    if response.status_code == 429:
        return True
    return response.status_code == 400 and bool(CONCURRENCY_DETAIL.search(detail))


@dataclass(frozen=True)
class RequestStatus:
    status: str  # queued, in_progress, completed, failed, nsfw, canceled
    result_url: str = ""
    error: str = ""


STATUSES = {"queued", "in_progress", "completed", "failed", "nsfw", "canceled", "cancelled"}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        parts = []
        for item in detail[:5]:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
                parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
        return "; ".join(parts)
    return str(detail)[:300] if detail else ""


def _raise_for(response: httpx.Response, action: str) -> None:
    code = response.status_code
    if code < 400:
        return
    detail = _detail(response)
    if action == "submit" and _busy(response, detail):
        raise HiggsfieldError(
            "Higgsfield is at our account's capacity" + (f" ({detail})" if detail else "") + ".",
            permanent=False,
            status=code,
            busy=True,
            retry_after=_retry_after(response),
        )
    if action == "submit" and code == 409:
        # The same key is still being worked on upstream: its answer will come to a later resend.
        raise HiggsfieldError("Higgsfield is still taking in this job.", permanent=False, status=code, maybe_sent=True)
    if code == 401:
        message = "Higgsfield refused our API key."
    elif code == 403:
        message = "Higgsfield refused the job: " + (detail or "forbidden") + "."
    elif code == 422 or code == 400:
        message = "Higgsfield refused the request" + (f": {detail}" if detail else ".")
    elif code == 429:
        message = "Higgsfield is rate limiting us."
    else:
        message = f"Higgsfield answered {code} to {action}."
    permanent = code in PERMANENT_STATUSES
    # Any answer but a refusal leaves a submission's fate unknown (a gateway may have passed it on).
    maybe_sent = action == "submit" and not permanent
    raise HiggsfieldError(message, permanent=permanent, status=code, maybe_sent=maybe_sent)


@functools.cache
def _shared_http() -> httpx.Client:
    """One connection pool per process: building a client (and its TLS context) costs more than a call."""
    return outbound.client(limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))


class HiggsfieldClient:
    def __init__(self, *, base_url=None, key_id=None, key_secret=None, timeout=None):
        self.base_url = (base_url or settings.HIGGSFIELD_BASE_URL).rstrip("/")
        key_id = key_id if key_id is not None else settings.HIGGSFIELD_KEY_ID
        key_secret = key_secret if key_secret is not None else settings.HIGGSFIELD_KEY_SECRET
        self._headers = {
            "Authorization": f"Key {key_id}:{key_secret}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        # The catalogue lists are v1 endpoints, documented with the legacy header pair; the docs say both forms
        # are accepted, so those calls carry both.
        self._legacy_headers = {**self._headers, "hf-api-key": key_id, "hf-secret": key_secret}
        self._timeout = timeout or settings.HIGGSFIELD_TIMEOUT
        self._http = _shared_http()

    def close(self):
        # The connection pool is shared by the process and outlives this client.
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method: str, url: str, action: str, *, headers=None, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(
                method, url, headers=headers or self._headers, timeout=self._timeout, **kwargs
            )
        except outbound.OutboundRefused:
            # Checked before connecting: nothing of the request left us.
            raise HiggsfieldError(
                f"Higgsfield's address is not a public one and not in OUTBOUND_ALLOW_HOSTS, so it was not called "
                f"({action}).",
                permanent=True,
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # No connection was made: nothing of the request left us.
            raise HiggsfieldError(
                f"Higgsfield could not be reached ({action}: {type(exc).__name__}).", permanent=False
            ) from None
        except httpx.TimeoutException:
            # Sent (or partly sent) with no answer in time: a submission may have been taken in.
            raise HiggsfieldError(
                f"Higgsfield did not answer in time ({action}).", permanent=False, maybe_sent=action == "submit"
            ) from None
        except httpx.HTTPError as exc:
            raise HiggsfieldError(
                f"Higgsfield could not be reached ({action}: {type(exc).__name__}).",
                permanent=False,
                maybe_sent=action == "submit",
            ) from None
        _raise_for(response, action)
        return response

    @staticmethod
    def _json(response: httpx.Response, action: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HiggsfieldError(f"Higgsfield's answer to {action} was not readable.", permanent=False)
        return body

    def submission(self, path: str, body: dict, *, webhook_url: str = "") -> Submission:
        return submission_build(base_url=self.base_url, path=path, body=body, webhook_url=webhook_url)

    def submit(self, submission: Submission, *, idempotency_key: str) -> str:
        """Queue a job; returns Higgsfield's request id (the one it made before, when this key was seen)."""
        if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValueError("An Idempotency-Key is 1 to 255 visible ASCII characters.")
        headers = {**self._headers, "Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        response = self._call("POST", submission.url, "submit", headers=headers, content=submission.body)
        try:
            data = self._json(response, "submit")
        except HiggsfieldError as exc:
            exc.maybe_sent = True
            raise
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            # Taken in, most likely, under our key: a resend learns its id without making another.
            raise HiggsfieldError("Higgsfield's answer to submit had no request id.", permanent=False, maybe_sent=True)
        return request_id

    def status(self, request_id: str) -> RequestStatus:
        url = f"{self.base_url}/requests/{quote(request_id, safe='')}/status"
        return parse_status(self._json(self._call("GET", url, "status"), "status"))

    def cancel(self, request_id: str) -> bool:
        """True when Higgsfield cancelled the job; False when it is too late (it already started)."""
        url = f"{self.base_url}/requests/{quote(request_id, safe='')}/cancel"
        try:
            self._call("POST", url, "cancel")
        except HiggsfieldError as exc:
            if exc.status == 400:
                return False
            raise
        return True

    def fetch(self, url: str, *, max_bytes: int) -> bytes:
        """A result's bytes, refusing more than max_bytes, and any address (or redirect) that is not a public one."""
        try:
            with outbound.stream(self._http, url, timeout=self._timeout) as response:
                if response.status_code >= 400:
                    raise HiggsfieldError(
                        f"The result could not be downloaded ({response.status_code}).",
                        permanent=response.status_code in (403, 404, 410),
                        status=response.status_code,
                    )
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise HiggsfieldError("The result is larger than we accept.", permanent=True)
                    chunks.append(chunk)
                return b"".join(chunks)
        except outbound.OutboundRefused:
            # The reason names the address; the job's error stays plain.
            raise HiggsfieldError(
                "The result's address is not a public one, so it was not fetched.", permanent=True
            ) from None
        except httpx.HTTPError as exc:
            raise HiggsfieldError(
                f"The result could not be downloaded ({type(exc).__name__}).", permanent=False
            ) from None

    def upload(self, data: bytes, *, content_type: str) -> str:
        """Put a file on Higgsfield's own storage (for an image it could not fetch from us); returns its URL."""
        answer = self._json(
            self._call(
                "POST", f"{self.base_url}/files/generate-upload-url", "upload", json={"content_type": content_type}
            ),
            "upload",
        )
        upload_url, public_url = answer.get("upload_url"), answer.get("public_url")
        if not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in (upload_url, public_url)):
            raise HiggsfieldError("Higgsfield's answer to upload had no upload URL.", permanent=False)
        try:
            # A presigned URL, signed with every header of `upload_headers` (Content-Type, x-amz-tagging...): each
            # must go with the PUT as given. Our API key must not.
            response = self._http.put(
                upload_url, content=data, headers=_upload_headers(answer, content_type), timeout=self._timeout
            )
        except outbound.OutboundRefused:
            raise HiggsfieldError(
                "Higgsfield's upload URL is not on a public address, so the image was not sent.", permanent=True
            ) from None
        except httpx.HTTPError as exc:
            raise HiggsfieldError(f"The image could not be uploaded ({type(exc).__name__}).", permanent=False) from None
        _raise_for(response, "upload")
        return public_url

    def catalogue(self) -> tuple[list, list]:
        """Image styles and motions, in the list format of import_catalog."""
        headers = self._legacy_headers
        try:
            styles = self._call("GET", f"{self.base_url}/v1/text2image/soul-styles", "list styles", headers=headers)
            motions = self._call("GET", f"{self.base_url}/v1/motions", "list motions", headers=headers)
            styles, motions = styles.json(), motions.json()
        except ValueError:
            styles = motions = None
        if not isinstance(styles, list) or not isinstance(motions, list):
            raise HiggsfieldError("Higgsfield's catalogue lists were not readable.", permanent=False)
        return styles, motions

    def openapi(self, url: str) -> dict:
        """Higgsfield's published OpenAPI document (public: no credentials go with it)."""
        try:
            response = self._http.get(
                url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"}, timeout=self._timeout
            )
        except outbound.OutboundRefused as exc:
            raise HiggsfieldError(f"The spec was not fetched: {exc}", permanent=True) from None
        except httpx.HTTPError as exc:
            raise HiggsfieldError(f"The spec could not be fetched ({type(exc).__name__}).", permanent=False) from None
        if response.status_code >= 400:
            raise HiggsfieldError(
                f"The spec could not be fetched ({response.status_code}).",
                permanent=response.status_code in PERMANENT_STATUSES,
                status=response.status_code,
            )
        return self._json(response, "the spec request")


# Never ours to send to a storage host, whatever an answer asks.
_CREDENTIAL_HEADERS = {"authorization", "hf-api-key", "hf-secret", "cookie"}


def _upload_headers(answer: dict, content_type: str) -> dict[str, str]:
    """The headers the upload URL was signed with; Content-Type alone when the answer names none."""
    given = answer.get("upload_headers")
    if not isinstance(given, dict) or not given:
        return {"Content-Type": content_type}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in given.items()):
        raise HiggsfieldError("Higgsfield's answer to upload had unreadable upload headers.", permanent=False)
    headers = {k: v for k, v in given.items() if k.lower() not in _CREDENTIAL_HEADERS}
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    return headers


def parse_status(body: dict) -> RequestStatus:
    """A status answer or webhook body, checked: an answer of another shape is an error worth a retry."""
    status = body.get("status")
    if status not in STATUSES:
        raise HiggsfieldError("Higgsfield's status answer was not readable.", permanent=False)
    if status == "cancelled":
        status = "canceled"
    if status == "completed":
        url = _result_url(body)
        if not url and isinstance(body.get("payload"), dict):
            # The envelope seen in third-party code: {request_id, status, payload: {images|video: [{url}]}}.
            url = _result_url(body["payload"])
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise HiggsfieldError("Higgsfield said completed but gave no result URL.", permanent=False)
        return RequestStatus(status=status, result_url=url)
    if status == "failed":
        error = body.get("error")
        return RequestStatus(status=status, error=str(error)[:500] if error else "Higgsfield could not make it.")
    return RequestStatus(status=status)


def _result_url(body: dict) -> str:
    """The first result's URL: `images: [{url}]`, `video: {url}`, or `video: [{url}]`."""
    for key in ("images", "video"):
        value = body.get(key)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return value[0].get("url") or ""
        if isinstance(value, dict):
            return value.get("url") or ""
    return ""
