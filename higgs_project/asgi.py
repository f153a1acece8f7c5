"""ASGI entry point: gunicorn with the uvicorn worker, or uvicorn alone, serves this.

Django's own ASGI handler, with two changes that halve what a request costs the web process:

- the stock middleware run their hooks on the event loop (`higgs_project.middleware.OnLoop`);
- a request's synchronous parts (the view, the ORM, the signals around it) run in a thread taken from
  the idle ones and given back afterwards, where Django starts and joins a new thread for every request
  (and another to join it). A thread serves one request at a time, as under WSGI.

A task that outlives its request (a reply whose reader went away) sends its later steps to one thread
shared by all such tasks, and each of those steps gives its database connections back when it ends:
no end of request will (Django's handler left them open in a thread of asgiref's until it was collected).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from django.core.handlers import asgi
from django.db import connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "higgs_project.settings")
django.setup(set_prefix=False)

from higgs_project.middleware import middleware_on_loop  # noqa: E402 - needs the settings set up

# Idle request threads kept for the next requests; a burst beyond this many at once ends its extra threads.
IDLE_THREADS_KEPT = 32


class RequestThread(ThreadPoolExecutor):
    """A request's thread. It counts the steps sent to it and not yet done: a step still queued when the
    request ends belongs to a task that outlived it, and opens a connection no end of request will close."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self._in_flight = 0

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            self._in_flight += 1
        return super().submit(self._step, fn, *args, **kwargs)

    def _step(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
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

    def take(self) -> RequestThread:
        return self._idle.pop() if self._idle else RequestThread()

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

    def __init__(self, threads: RequestThreads):
        super().__init__()
        self._threads = threads

    async def __aenter__(self):
        await super().__aenter__()
        if self.token is not None:  # the outermost context, as under a server: this request's
            SyncToAsync.context_to_thread_executor[self] = self._threads.take()
        return self

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
        # BaseHandler builds the chain from settings.MIDDLEWARE, read once, here, at start-up.
        with middleware_on_loop():
            super().load_middleware(is_async=is_async)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with RequestContext(self._threads):
            await self.handle(scope, receive, send)


application = ASGIHandler()
