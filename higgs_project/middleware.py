"""Django's stock middleware, run on the event loop under ASGI, and the compression of pages and API answers.

Under ASGI, Django's `MiddlewareMixin` hands each `process_request` and `process_response` to a thread
(`sync_to_async`) and waits for it: with the stack in settings that was 16 round trips a request, and they
cost the web process more CPU than the API read they wrapped. The hooks below only read headers and
cookies and set attributes or headers, so `OnLoop` calls them on the event loop. A hook that may reach
the database still goes to the thread, where the request's connection lives: a session to save, flash
messages to store, a CSRF check that reads a form body or the session.

`settings.MIDDLEWARE` names the stock classes (Django's deployment checks look for them by path);
the ASGI handler (`higgs_project.asgi`) runs their on-loop twins. Under WSGI (`manage.py runserver`,
the test client) the stock classes run, synchronously, as before.
"""

import contextlib

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import clickjacking, common, csp, csrf, security
from django.middleware.gzip import GZipMiddleware

from higgs_project.apikit.auth import SAFE_METHODS


def _in_thread(hook, *args):
    return sync_to_async(hook, thread_sensitive=True)(*args)


class OnLoop:
    """`MiddlewareMixin.__acall__`, with hooks that do no I/O called on the event loop."""

    def request_needs_thread(self, request) -> bool:
        return False

    def response_needs_thread(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            if self.request_needs_thread(request):
                response = await _in_thread(self.process_request, request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_needs_thread(request, response):
                response = await _in_thread(self.process_response, request, response)
            else:
                response = self.process_response(request, response)
        return response


class SecurityMiddleware(OnLoop, security.SecurityMiddleware):
    pass


class ContentSecurityPolicyMiddleware(OnLoop, csp.ContentSecurityPolicyMiddleware):
    pass


class CommonMiddleware(OnLoop, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(OnLoop, clickjacking.XFrameOptionsMiddleware):
    pass


class AuthenticationMiddleware(OnLoop, auth.AuthenticationMiddleware):
    """Sets a lazy `request.user`: the session and the user are read later, by the view, in its thread."""


class SessionMiddleware(OnLoop, sessions.SessionMiddleware):
    """The session store is lazy; only saving a modified session needs the database."""

    def response_needs_thread(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(OnLoop, messages.MessageMiddleware):
    """Messages are stored (in a cookie or the session) only when some were read or added."""

    def response_needs_thread(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class CsrfViewMiddleware(OnLoop, csrf.CsrfViewMiddleware):
    """Cookie-based CSRF reads and sets headers only; a check of an unsafe request may read the form body."""

    def __init__(self, get_response):
        super().__init__(get_response)
        if self.async_mode:
            # Django hands a plain process_view to a thread too; a coroutine function it awaits.
            self.process_view = self._process_view_async

    def request_needs_thread(self, request) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_needs_thread(self, request, response) -> bool:
        return settings.CSRF_USE_SESSIONS

    async def _process_view_async(self, request, callback, callback_args, callback_kwargs):
        hook = csrf.CsrfViewMiddleware.process_view
        args = (self, request, callback, callback_args, callback_kwargs)
        settled = getattr(request, "csrf_processing_done", False) or getattr(callback, "csrf_exempt", False)
        if (settled or request.method in SAFE_METHODS) and not settings.CSRF_USE_SESSIONS:
            return hook(*args)
        return await _in_thread(hook, *args)


class CompressPagesMiddleware(GZipMiddleware):
    """Gzip for pages and API answers, but not for streams: gzip holds bytes back until it has a block,
    which would stall the server-sent events of a reply. Static files come compressed ahead of time from
    ServeStatic."""

    def process_response(self, request, response):
        if response.streaming:
            return response
        return super().process_response(request, response)


class OnLoopCompressPagesMiddleware(OnLoop, CompressPagesMiddleware):
    pass


# What `ASGIHandler` runs for each stock path of settings.MIDDLEWARE.
ON_LOOP = {
    "django.middleware.security.SecurityMiddleware": "higgs_project.middleware.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware": (
        "higgs_project.middleware.ContentSecurityPolicyMiddleware"
    ),
    "django.contrib.sessions.middleware.SessionMiddleware": "higgs_project.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware": "higgs_project.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "higgs_project.middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "higgs_project.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware": "higgs_project.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "higgs_project.middleware.XFrameOptionsMiddleware",
    "higgs_project.middleware.CompressPagesMiddleware": "higgs_project.middleware.OnLoopCompressPagesMiddleware",
}


@contextlib.contextmanager
def middleware_on_loop():
    """settings.MIDDLEWARE with each stock path replaced by its on-loop twin, while a handler loads it."""
    stock = settings.MIDDLEWARE
    settings.MIDDLEWARE = [ON_LOOP.get(path, path) for path in stock]
    try:
        yield
    finally:
        settings.MIDDLEWARE = stock
