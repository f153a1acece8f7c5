"""Who an API call acts as: a bearer token, a browser session, or the configured demo user.

`api_auth` serves the synchronous endpoints; `api_auth_async` the async reads, which stay on the event
loop when the token is one this process has seen lately (no database query: `api_token_authenticate`
keeps it), and go to the request's thread otherwise. The token model is settings.API_TOKEN_MODEL.
"""

import copy
import hashlib
import threading
import time

from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SynchronousOnlyOperation
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer

from higgs_project.database import reads_on_loop

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
# The group that marks the one account unauthenticated API calls may act as (made by manage.py
# create_anonymous_api_user).
ANONYMOUS_API_GROUP = "anonymous-api"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class _Recent:
    """What this web process found lately, by key hash, for API_TOKEN_CACHE_SECONDS (never when that is 0);
    emptied when it grows past TOKENS_SEEN_MAX entries, and by `api_tokens_forget`."""

    def __init__(self):
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, key_hash: str):
        ttl = settings.API_TOKEN_CACHE_SECONDS
        with _recent_lock:
            entry = self._entries.get(key_hash)
        if entry is None or time.monotonic() - entry[0] >= ttl:
            return None
        return entry[1]

    def remember(self, key_hash: str, value) -> None:
        if settings.API_TOKEN_CACHE_SECONDS <= 0:
            return
        with _recent_lock:
            if len(self._entries) >= TOKENS_SEEN_MAX:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic(), value)

    def clear(self) -> None:
        with _recent_lock:
            self._entries.clear()


_recent_lock = threading.Lock()
TOKENS_SEEN_MAX = 10_000

# Tokens this process found lately, each with its user. A client calls in bursts (a page load is several
# calls); each call would otherwise look the same token up again, the costliest part of a small read.
# Unknown tokens are never kept.
_tokens_seen = _Recent()

# Browser sessions this process found signed in lately, by a hash of the session key: their user's id. A page
# polls a running card every second or two; only that poll's "no change" answer reads it (session_user_id),
# so it costs what an API read costs.
_sessions_seen = _Recent()


def api_tokens_forget() -> None:
    """Saving or deleting any token or user, and any logout, in this process: both are emptied (so a password
    change too). In other web processes an entry lives API_TOKEN_CACHE_SECONDS at most."""
    _tokens_seen.clear()
    _sessions_seen.clear()


async def session_user_id(request):
    """The id of the user the request's session cookie signs in, or None: on the event loop for a session this
    process has seen signed in lately, else read (in the request's thread) and remembered."""
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not key:
        return None
    key_hash = token_hash(key)
    user_id = _sessions_seen.get(key_hash)
    if user_id is not None:
        return user_id
    user = await request.auser()
    if not user.is_authenticated:
        return None
    _sessions_seen.remember(key_hash, user.pk)
    return user.pk


def _token_find(key_hash: str):
    token_model = apps.get_model(settings.API_TOKEN_MODEL)
    # key_hash is unique: get() spares the ORDER BY that first() adds, on the hottest query there is.
    try:
        return token_model.objects.select_related("user").get(key_hash=key_hash, user__is_active=True)
    except token_model.DoesNotExist:
        return None


def api_token_authenticate(*, raw: str):
    """The active user a raw token belongs to, or None."""
    key_hash = token_hash(raw)
    token = _tokens_seen.get(key_hash)
    if token is None:
        token = _token_find(key_hash)
        if token is None:
            return None
        _tokens_seen.remember(key_hash, token)
    now = timezone.now()
    # Record use at most once a minute, so that reads stay reads.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        type(token).objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    # A copy: the kept token is shared by concurrent requests, and a request may change its user.
    return copy.copy(token.user)


def api_anonymous_user():
    """The account unauthenticated API calls act as: only with API_ANONYMOUS_USER set, only an account made
    for it (marked by its group, never an ordinary person's), and only while it is active."""
    username = settings.API_ANONYMOUS_USER
    if not username:
        return None
    return get_user_model().objects.filter(username=username, is_active=True, groups__name=ANONYMOUS_API_GROUP).first()


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`, tokens from `manage.py create_api_token` or admin."""

    def authenticate(self, request, token):
        user = api_token_authenticate(raw=token)
        if user is None:
            # A wrong token is an error, not a reason to fall back to another identity.
            raise AuthenticationError(message="The API token is invalid or revoked.")
        request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The browser's session cookie; unsafe methods must carry the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self):
        super().__init__(csrf=False)

    def authenticate(self, request, key):
        if not key or not request.user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS:
            csrf = CsrfViewMiddleware(lambda req: None)
            csrf.process_request(request)
            if csrf.process_view(request, None, (), {}) is not None:
                raise HttpError(403, "CSRF check failed: send the X-CSRFToken header with session requests.")
        return request.user


def anonymous_demo_user(request):
    """With API_ANONYMOUS_USER set, calls without credentials act as that user."""
    if "HTTP_AUTHORIZATION" in request.META:
        return None
    user = api_anonymous_user()
    if user is not None:
        request.user = user
    return user


api_auth = [BearerTokenAuth(), SessionAuth(), anonymous_demo_user]


async def _token_user(raw: str):
    if reads_on_loop.get():
        try:
            return api_token_authenticate(raw=raw)
        except SynchronousOnlyOperation:
            # The token must be looked up (or its use recorded): the ORM refuses before sending anything,
            # so nothing was done twice. That is the request's thread's work.
            pass
    return await sync_to_async(api_token_authenticate)(raw=raw)


class AsyncBearerTokenAuth(BearerTokenAuth):
    async def authenticate(self, request, token):
        user = await _token_user(token)
        if user is None:
            raise AuthenticationError(message="The API token is invalid or revoked.")
        request.user = user
        return user


class AsyncSessionAuth(SessionAuth):
    async def authenticate(self, request, key):
        if not key:
            return None
        user = await request.auser()
        if not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS:
            return await sync_to_async(super().authenticate)(request, key)
        return user


async def anonymous_demo_user_async(request):
    if "HTTP_AUTHORIZATION" in request.META or not settings.API_ANONYMOUS_USER:
        return None
    return await sync_to_async(anonymous_demo_user)(request)


api_auth_async = [AsyncBearerTokenAuth(), AsyncSessionAuth(), anonymous_demo_user_async]
