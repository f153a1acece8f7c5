"""The floor of the replies bench: an ASGI app that answers a post with nothing but its Claude call.

`bench/load.py --phases replies --app null` serves this instead of Higgs, under the same gunicorn and
uvicorn workers, against the same fake Claude and the same clients. A post here costs only what any Python
service must spend on it: HTTP in and out, the request's JSON, one Anthropic SDK call with the same 33 KB
system prompt and tool (built once at start from the real catalogue), and reading its stream to the end. No
database, no authentication, no checks, nothing saved: it is not a service, only a measure of what the
machine, the clients and the fake leave for one. Higgs' own figure minus this one is what our work costs.
"""

import json
import os
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "higgs_project.settings")
django.setup()

from django.conf import settings  # noqa: E402

from recommender import agent  # noqa: E402

_CATALOGUE = agent.catalogue_load()
_SYSTEM = agent.system_blocks(_CATALOGUE)


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _reply(text: str) -> str:
    """One Claude call read to its end, as the agent reads it: the answer's text."""
    answer = agent.anthropic_client().messages.with_streaming_response.create(
        model=settings.ANTHROPIC_MODEL,
        max_tokens=max(settings.ANTHROPIC_MAX_TOKENS, agent.REPLY_TOKENS),
        thinking=agent.THINKING,
        system=_SYSTEM,
        tools=[_CATALOGUE.tool],
        messages=[{"role": "user", "content": text}],
        stream=True,
    )
    words = []
    async with answer as response:
        async for event in agent.stream_events(response.http_response):
            if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                words.append(event["delta"]["text"])
    return "".join(words)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path, method = scope["path"], scope["method"]
    body = await _body(receive)
    if method == "GET" and path == "/api/health":
        await _send_json(send, 200, {"status": "ok"})
    elif method == "POST" and path == "/api/chats":
        await _send_json(send, 201, {"id": str(uuid.uuid4())})
    elif method == "POST" and path.startswith("/api/chats/") and path.endswith("/messages"):
        text = json.loads(body)["text"]
        reply = await _reply(text)
        await _send_json(send, 201, {"message": {"status": "complete", "content": reply}})
    else:
        await _send_json(send, 404, {"detail": "Not found."})
