"""Who an API call acts as: a bearer token, a browser session, or the configured demo user.

`api_auth` serves the synchronous endpoints; `api_auth_async` the async reads, which stay on the event
loop when the token is one this process has seen lately (no database query: `services.api_token_authenticate`
keeps it), and go to the request's thread otherwise.
"""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.middleware.csrf import CsrfViewMiddleware
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer

from . import services

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`, tokens from `manage.py create_api_token` or admin."""

    def authenticate(self, request, token):
        user = services.api_token_authenticate(raw=token)
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
    user = services.api_anonymous_user()
    if user is not None:
        request.user = user
    return user


api_auth = [BearerTokenAuth(), SessionAuth(), anonymous_demo_user]


async def _token_user(raw: str):
    from higgs_project.database import reads_on_loop

    if reads_on_loop.get():
        try:
            return services.api_token_authenticate(raw=raw)
        except SynchronousOnlyOperation:
            # The token must be looked up (or its use recorded): the ORM refuses before sending anything,
            # so nothing was done twice. That is the request's thread's work.
            pass
    return await sync_to_async(services.api_token_authenticate)(raw=raw)


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
