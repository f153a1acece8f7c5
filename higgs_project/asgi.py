"""ASGI entry point: gunicorn with the uvicorn worker, or uvicorn alone, serves this.

Django's own ASGI handler, with two changes that halve what a request costs the web process:

- the stock middleware run their hooks on the event loop (`higgs_project.middleware.OnLoop`);
- a request's synchronous parts (the view, the ORM, the signals around it) run in a thread taken from
  the idle ones and given back afterwards, where Django starts and joins a new thread for every request
  (and another to join it). A thread serves one request at a time, as under WSGI.

A task that outlives its request (a reply whose reader went away) sends its later steps to one thread
shared by all such tasks, and each of those steps gives its database connections back when it ends:
no end of request will (Django's handler left them open in a thread of asgiref's until it was collected).
With a pool, every step of a request does the same, so a reply waiting on Claude holds no connection.

And for the hot reads (`docs/performance.md`):

- a request that never needs its thread (an async view reading on the event loop, `higgs_project.database`)
  never goes to it: the `request_started` signal, whose receivers only look after that thread's database
  connections, is sent there when the request first uses it, and the end of the response (`request_finished`)
  runs on the loop when the thread was not used;
- an API call with a bearer token runs through the middleware it needs: the security headers, CORS, the
  request id, compression; not sessions, CSRF (ninja checks CSRF for cookie calls itself), the lazy
  session user, flash messages, htmx or static files, which only a browser's requests use;
- the start-up work (URLs, the API's schemas) is done before the first request, then `gc.freeze()` puts
  every object made so far out of the collector's reach: a full collection walked them all (about
  150 ms, the whole process stopped) every few seconds under load.
"""

import asyncio
import gc
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi
from django.db import connections
from django.urls import set_script_prefix, set_urlconf
from django.utils.log import log_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "higgs_project.settings")
django.setup(set_prefix=False)

from higgs_project.database import pooled_connections_release, reads_on_loop  # noqa: E402 - needs the settings
from higgs_project.middleware import middleware_on_loop  # noqa: E402

# What a call with `Authorization: Bearer ...` to the API skips of settings.MIDDLEWARE (see above).
BROWSER_ONLY_MIDDLEWARE = {
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
}
API_PREFIX = "/api/"

# With a pool, each step of a request gives its connection back when it ends (a reply's request stays open
# while Claude writes: see pooled_connections_release); without one, the request's thread keeps it.
POOLED = any(conn.get("OPTIONS", {}).get("pool") for conn in settings.DATABASES.values())

# Idle request threads kept for the next requests; a burst beyond this many at once ends its extra threads.
IDLE_THREADS_KEPT = 32


class RequestThread(ThreadPoolExecutor):
    """A request's thread. It counts the steps sent to it and not yet done: a step still queued when the
    request ends belongs to a task that outlived it, and opens a connection no end of request will close."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self._in_flight = 0
        # The request_started signal of the request this thread serves, sent before its first step.
        self.start_signal = None
        self.used = False

    def lend(self, scope) -> "RequestThread":
        self.start_signal, self.used = scope, False
        return self

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            self._in_flight += 1
        self.used = True
        if self.start_signal is not None:
            scope, self.start_signal = self.start_signal, None
            return super().submit(self._first_step, scope, fn, *args, **kwargs)
        return super().submit(self._step, fn, *args, **kwargs)

    def _first_step(self, scope, fn, *args, **kwargs):
        signals.request_started.send(sender=ASGIHandler, scope=scope)
        return self._step(fn, *args, **kwargs)

    def _step(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            if POOLED:
                pooled_connections_release()
            with self._lock:
                self._in_flight -= 1

    def busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0


def _then_close_connections(step, *args, **kwargs):
    try:
        return step(*args, **kwargs)
    finally:
        connections.close_all()


class AfterRequestThread(ThreadPoolExecutor):
    """The thread of the tasks that outlive their request, one per process: made on the first step sent
    to it; each step closes its database connections (back to the pool) when it ends. Such steps are
    short database writes, and rare: a thread each is not worth it."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="after-request")

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(_then_close_connections, fn, *args, **kwargs)


class RequestThreads:
    """Request threads kept while idle, and the thread for what outlives requests. Only the event loop
    takes and gives back: no lock."""

    def __init__(self):
        self._idle: list[RequestThread] = []
        self.after_request = AfterRequestThread()

    def take(self, scope) -> RequestThread:
        return (self._idle.pop() if self._idle else RequestThread()).lend(scope)

    def give_back(self, thread: RequestThread) -> None:
        if thread.busy():
            # After those steps, hand their connections back (to the pool) rather than keep them idle.
            thread.submit(connections.close_all)
        if len(self._idle) < IDLE_THREADS_KEPT:
            self._idle.append(thread)
        else:
            thread.shutdown(wait=False)


class RequestContext(ThreadSensitiveContext):
    """Django's per-request context for thread-sensitive code, its thread lent by `RequestThreads`.

    asgiref looks a context's thread up in `SyncToAsync.context_to_thread_executor`, and makes one there
    when there is none: so the lent thread is put there on entry and taken away, back to the idle ones,
    before asgiref's own exit, which would otherwise stop it.
    """

    def __init__(self, threads: RequestThreads, scope):
        super().__init__()
        self._threads = threads
        self._scope = scope
        self.thread = None

    async def __aenter__(self):
        await super().__aenter__()
        if self.token is not None:  # the outermost context, as under a server: this request's
            self.thread = self._threads.take(self._scope)
            SyncToAsync.context_to_thread_executor[self] = self.thread
        return self

    def thread_used(self) -> bool:
        return self.thread is None or self.thread.used

    async def __aexit__(self, exc, value, tb):
        thread = SyncToAsync.context_to_thread_executor.pop(self, None)
        if thread is not None:
            self._threads.give_back(thread)
        outermost = self.token is not None
        result = await super().__aexit__(exc, value, tb)
        if outermost:
            # Tasks started by the request still point at this context; asgiref sends their later steps here.
            SyncToAsync.context_to_thread_executor[self] = self._threads.after_request
        return result


class ASGIHandler(asgi.ASGIHandler):
    def __init__(self):
        self._threads = RequestThreads()
        super().__init__()

    def load_middleware(self, is_async=False):
        # BaseHandler builds the chain from settings.MIDDLEWARE, read once, here, at start-up: the chain of
        # bearer API calls first, then the full one (whose view and exception hooks both chains share).
        with middleware_on_loop():
            on_loop = settings.MIDDLEWARE
            settings.MIDDLEWARE = [path for path in on_loop if path not in _browser_only()]
            try:
                super().load_middleware(is_async=is_async)
                self._bearer_api_chain = self._middleware_chain
            finally:
                settings.MIDDLEWARE = on_loop
            super().load_middleware(is_async=is_async)

    async def get_response_async(self, request):
        """BaseHandler's, with the chain of bearer API calls for those."""
        chain = self._middleware_chain
        if request.path.startswith(API_PREFIX) and _bearer(request.META.get("HTTP_AUTHORIZATION", "")):
            chain = self._bearer_api_chain
        set_urlconf(settings.ROOT_URLCONF)
        response = await chain(request)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            await sync_to_async(log_response, thread_sensitive=False)(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return response

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        reads_on_loop.set(True)
        async with RequestContext(self._threads, scope) as context:
            await self.handle(scope, receive, send, context)

    async def handle(self, scope, receive, send, context=None):
        """Django's `ASGIHandler.handle`, with request_started sent by the request's thread (see above) and
        the response closed on the loop when that thread was not used."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            set_script_prefix(asgi.get_script_prefix(scope))
            if context is None:
                await signals.request_started.asend(sender=self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                body_file.close()
                await self.send_response(error_response, send)
                await sync_to_async(error_response.close)()
                return

            class RequestProcessed(Exception):
                pass

            response = None
            try:
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self.listen_for_disconnect(receive))
                        response = await self.run_get_response(request)
                        await self.send_response(response, send)
                        raise RequestProcessed
                except* (RequestProcessed, RequestAborted):
                    pass
            except BaseExceptionGroup as exception_group:
                if len(exception_group.exceptions) == 1:
                    raise exception_group.exceptions[0]  # noqa: B904 - as Django does
                raise

            if context is not None and not context.thread_used():
                # No database connection of this request to give back: request_finished's receivers find
                # nothing to do, and need no thread.
                if response is None:
                    signals.request_finished.send(sender=self.__class__)
                else:
                    response.close()
            elif response is None:
                await signals.request_finished.asend(sender=self.__class__)
            else:
                await sync_to_async(response.close)()


def _bearer(authorization: str) -> bool:
    return authorization[:7].lower() == "bearer "


def _browser_only() -> set[str]:
    from higgs_project.middleware import ON_LOOP

    return BROWSER_ONLY_MIDDLEWARE | {ON_LOOP[path] for path in BROWSER_ONLY_MIDDLEWARE if path in ON_LOOP}


application = ASGIHandler()


def _warm_up() -> None:
    """What the first request would otherwise do, in every process: import the views, build the URL
    resolver and the API's schemas; then freeze the objects made so far (see above)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    get_resolver()._populate()
    # The Claude agent and its SDK, imported by the first reply otherwise: seconds with the event loop stopped.
    import recommender.agent  # noqa: F401

    gc.collect()
    gc.freeze()


_warm_up()
