"""Who an API call acts as: a bearer token, a browser session, or the configured demo user."""

from django.conf import settings
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
