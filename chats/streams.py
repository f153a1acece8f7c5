"""Server-sent events, as the JSON API and the pages stream a reply: an event's text, the keep-alive, and the
response's headers, in one place."""

import asyncio

from django.http import StreamingHttpResponse

KEEPALIVE_SECONDS = 15
KEEPALIVE = ": keep-alive\n\n"


def sse_event(name: str, data: str) -> str:
    """One event; each line of `data` goes on a data line of its own (JSON has none, HTML may have many)."""
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"event: {name}\n{lines}\n"


async def events_kept_alive(events: asyncio.Queue):
    """A reply's (event, payload) pairs as they come, and ("keepalive", None) after each KEEPALIVE_SECONDS without
    one, so that proxies keep a quiet connection open."""
    while True:
        try:
            yield await asyncio.wait_for(events.get(), timeout=KEEPALIVE_SECONDS)
        except TimeoutError:
            yield "keepalive", None


def event_stream_response(stream) -> StreamingHttpResponse:
    """A response of server-sent events: never cached, never buffered by a proxy (nginx's X-Accel-Buffering)."""
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
