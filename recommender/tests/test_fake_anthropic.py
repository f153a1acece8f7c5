"""The fake Anthropic server, proven with the real `anthropic` SDK talking to it over loopback."""

import asyncio
import json
import threading

import anthropic
import httpx2
import pytest

from recommender.tests.fake_anthropic import FakeAnthropic, error, garbage, reply, text, thinking, tool_use

MODEL = "claude-haiku-5-5"
HELLO = [{"role": "user", "content": "Suggest a style for a rainy street."}]
# A cached static prefix, as the recommender sends its catalogue: cache_control on the last static block.
CATALOGUE = [
    {"type": "text", "text": "You recommend styles and motions."},
    {"type": "text", "text": "Catalogue: " + "style " * 2000, "cache_control": {"type": "ephemeral"}},
]
# Tells the SDK to wait 10 ms before its retry instead of its 0.5 s backoff (it ignores `retry-after: 0`).
RETRY_SOON = {"retry-after-ms": "10"}


@pytest.fixture
def server():
    with FakeAnthropic() as fake:
        yield fake


def sdk(server, **options):
    options.setdefault("max_retries", 0)
    options.setdefault("api_key", "test-key")
    return anthropic.AsyncAnthropic(base_url=server.url, **options)


async def create(server, client_options=None, **params):
    async with sdk(server, **(client_options or {})) as client:
        return await client.messages.create(
            model=params.pop("model", MODEL),
            max_tokens=params.pop("max_tokens", 512),
            messages=params.pop("messages", HELLO),
            **params,
        )


def test_it_answers_a_text_reply(server):
    server.script(reply("Try film noir with a slow push in."))

    message = asyncio.run(create(server))

    assert message.content[0].text == "Try film noir with a slow push in."
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_")
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0
    [request] = server.requests
    assert request.body["messages"] == HELLO
    assert request.body_size == len(request.raw) > 0
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.status == 200
    assert request.stream is False


def test_it_streams_text_deltas_in_order_and_a_tool_use(server):
    words = "Rain calls for a moody palette, so I pick film noir with a gentle dolly."
    pick = {"style_id": "film-noir", "strength": 0.8, "motions": [{"id": "dolly-in", "strength": 0.5}]}
    server.script(reply(text(words), tool_use("pick_style", pick, id="toolu_01pick")))

    async def stream():
        deltas, partial_json, kinds = [], [], []
        async with sdk(server) as client:
            async with client.messages.stream(model=MODEL, max_tokens=512, messages=HELLO) as events:
                async for event in events:
                    kinds.append(event.type)
                    if event.type == "text":
                        deltas.append(event.text)
                    elif event.type == "input_json":
                        partial_json.append(event.partial_json)
                return deltas, partial_json, kinds, await events.get_final_message()

    deltas, partial_json, kinds, message = asyncio.run(stream())

    assert len(deltas) > 3
    assert "".join(deltas) == words
    assert len([chunk for chunk in partial_json if chunk]) > 1
    assert json.loads("".join(partial_json)) == pick
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    text_block, tool_block = message.content
    assert text_block.text == words
    assert (tool_block.type, tool_block.id, tool_block.name) == ("tool_use", "toolu_01pick", "pick_style")
    assert tool_block.input == pick
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens > 1
    assert server.last_request.stream is True


def test_the_sdk_retries_a_rate_limit(server):
    server.script(error(429, message="Slow down", headers={"retry-after": "0", **RETRY_SOON}), reply("Done."))

    message = asyncio.run(create(server, {"max_retries": 2}))

    assert message.content[0].text == "Done."
    first, second = server.requests
    assert (first.status, second.status) == (429, 200)
    assert second.headers["x-stainless-retry-count"] == "1"


def test_the_sdk_gives_up_on_server_errors_after_its_retries(server):
    server.script(*[error(500, headers=RETRY_SOON)] * 3)

    with pytest.raises(anthropic.InternalServerError) as raised:
        asyncio.run(create(server, {"max_retries": 1}))

    assert raised.value.status_code == 500
    assert raised.value.body["error"]["type"] == "api_error"
    assert server.request_count == 2
    assert server.pending_steps == 1


def test_an_overloaded_answer_is_not_retried_when_the_server_says_so(server):
    server.script(error(529, headers={"x-should-retry": "false"}), reply("Never sent."))

    with pytest.raises(anthropic.InternalServerError) as raised:
        asyncio.run(create(server, {"max_retries": 2}))

    assert raised.value.body["error"]["type"] == "overloaded_error"
    assert server.request_count == 1


def test_a_bad_request_is_an_sdk_error(server):
    server.script(error(400, message="messages: at least one message is required"))

    with pytest.raises(anthropic.BadRequestError, match="at least one message"):
        asyncio.run(create(server, {"max_retries": 2}))

    assert server.request_count == 1


def test_an_answer_slower_than_the_client_timeout_times_out(server):
    # A long delay (stop() cuts it short): the answer would come, late, if the client waited for it.
    server.script(reply("Too late.", delay=30.0))

    with pytest.raises(anthropic.APITimeoutError):
        asyncio.run(create(server, {"timeout": 0.3, "max_retries": 0}))

    assert server.request_count == 1


def test_it_reports_a_cache_write_then_a_cache_read(server):
    server.script(reply("First."), reply("Second."))

    first = asyncio.run(create(server, system=CATALOGUE)).usage
    second = asyncio.run(create(server, system=CATALOGUE)).usage

    assert first.cache_creation_input_tokens > 3000
    assert first.cache_read_input_tokens == 0
    assert second.cache_creation_input_tokens == 0
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.input_tokens == first.input_tokens
    assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
    before, after = server.requests
    assert before.prefix_bytes == after.prefix_bytes > 12000
    assert (before.cache_hit, after.cache_hit) == (False, True)
    assert after.usage["cache_read_input_tokens"] == second.cache_read_input_tokens


def test_a_later_turn_reads_the_prefix_an_earlier_turn_cached(server):
    turn = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "A rainy street.", "cache_control": {"type": "ephemeral"}}],
        }
    ]
    later = [
        {"role": "user", "content": [{"type": "text", "text": "A rainy street."}]},
        {"role": "assistant", "content": "Film noir."},
        {"role": "user", "content": [{"type": "text", "text": "Brighter.", "cache_control": {"type": "ephemeral"}}]},
    ]
    server.script(reply("Film noir."), reply("Pastel."))

    first = asyncio.run(create(server, system=CATALOGUE, messages=turn)).usage
    second = asyncio.run(create(server, system=CATALOGUE, messages=later)).usage

    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert 0 < second.cache_creation_input_tokens < 30


def test_a_prefix_below_the_models_minimum_is_not_cached():
    with FakeAnthropic(min_cacheable_tokens=1024) as server:
        server.script(reply("One."), reply("Two."))
        short = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]

        usages = [asyncio.run(create(server, system=short)).usage for _ in range(2)]

    assert [(usage.cache_creation_input_tokens, usage.cache_read_input_tokens) for usage in usages] == [(0, 0)] * 2
    assert server.requests[0].prefix_bytes > 0


def test_invalid_json_fails_fast_without_an_sdk_error_type(server):
    # The SDK does not wrap a broken JSON body: json.JSONDecodeError (a ValueError) reaches the caller.
    server.script(garbage(b'{"type": "message", "content": [', delay=0.0))

    with pytest.raises(ValueError):
        asyncio.run(create(server, {"max_retries": 2}))

    assert server.request_count == 1


def test_a_non_json_body_is_an_sdk_error_under_strict_validation(server):
    # Without strict validation the SDK would hand back the HTML as a str.
    server.script(garbage(b"<html>Bad gateway</html>", content_type="text/html"))

    with pytest.raises(anthropic.APIResponseValidationError):
        asyncio.run(create(server, {"_strict_response_validation": True}))


def test_a_stream_cut_mid_way_raises(server):
    server.script(reply("A long answer that never arrives in full.", hang_up_after=4))

    async def stream():
        async with sdk(server) as client:
            async with client.messages.stream(model=MODEL, max_tokens=512, messages=HELLO) as events:
                return await events.get_final_message()

    # The SDK does not wrap errors raised while reading a stream: httpx2's error reaches the caller.
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        asyncio.run(stream())


def test_a_connection_dropped_before_an_answer_is_a_connection_error(server):
    server.script(reply("Never sent.", hang_up_after=0))

    with pytest.raises(anthropic.APIConnectionError):
        asyncio.run(create(server))


def test_a_request_without_a_key_is_refused(server):
    server.script(reply("Never sent."))

    with pytest.raises(anthropic.AuthenticationError) as raised:
        asyncio.run(create(server, extra_headers={"Authorization": anthropic.omit}))

    assert raised.value.body["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
    assert server.requests[0].status == 401
    assert server.pending_steps == 1


def test_a_wrong_key_is_refused_when_the_server_expects_one():
    with FakeAnthropic(api_key="right-key") as server:
        with pytest.raises(anthropic.AuthenticationError):
            asyncio.run(create(server, {"api_key": "wrong-key"}))


def test_an_empty_script_answers_500_saying_so(server):
    with pytest.raises(anthropic.InternalServerError, match="script ran out"):
        asyncio.run(create(server))


def test_a_step_can_answer_from_the_request(server):
    server.script(lambda request: reply(f"You sent {len(request.body['messages'])} message(s)."))

    message = asyncio.run(create(server))

    assert message.content[0].text == "You sent 1 message(s)."


def test_it_stops_cleanly_with_a_slow_stream_open():
    server = FakeAnthropic().start()
    server.script(reply("One word at a time, very slowly indeed.", chunk_delay=10.0))

    async def read_then_stop():
        async with sdk(server) as client:
            async with client.messages.stream(model=MODEL, max_tokens=512, messages=HELLO) as events:
                first = await events.__anext__()
                # stop() raises if a thread outlives its deadline: the stream's 10 s waits are cut short.
                await asyncio.to_thread(server.stop)
                with pytest.raises(httpx2.TransportError):
                    await events.get_final_message()
                return first.type

    first_event = asyncio.run(read_then_stop())

    assert first_event == "message_start"
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("fake-anthropic")]
    server.stop()  # a second stop is harmless


# --- Thinking, sampling and max_tokens, as the real API treats them ---


@pytest.mark.parametrize(
    ("params", "refusal"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, '"thinking.type.enabled" is not supported'),
        ({"thinking": {"type": "between_tools"}}, '"thinking.type.between_tools" is not supported'),
        ({"thinking": {"type": "adaptive", "budget_tokens": 2048}}, "budget_tokens: Extra inputs are not permitted"),
        ({"thinking": {"type": "disabled"}, "output_config": {"effort": "max"}}, "not supported with effort 'max'"),
        # The SDK no longer takes sampling settings as arguments; a client can still send them.
        ({"extra_body": {"temperature": 0.2}}, "does not support setting temperature"),
        ({"thinking": {"type": "disabled"}, "extra_body": {"top_k": 5}}, "does not support setting top_k"),
        (
            {"messages": [*HELLO, {"role": "assistant", "content": "Sure:"}]},
            "does not support assistant message prefill",
        ),
        ({"max_tokens": 200_000, "timeout": 5}, "max_tokens: 200000 is out of range"),
        ({"output_config": {"effort": "extreme"}}, "output_config.effort"),
    ],
)
def test_haiku_5_5_refuses_what_the_real_api_refuses(server, params, refusal):
    server.script(reply("Never sent."))

    with pytest.raises(anthropic.BadRequestError, match=refusal.replace("(", r"\(").replace(".", r"\.")):
        asyncio.run(create(server, **params))

    assert server.pending_steps == 1


@pytest.mark.parametrize(
    ("params", "refusal"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "greater than or equal to 1024"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 2048}, "must be greater than"),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "max_tokens": 4096,
                "extra_body": {"temperature": 0.5},
            },
            "only be set to its default when thinking is enabled",
        ),
    ],
)
def test_a_model_with_manual_thinking_refuses_a_bad_budget_or_sampling_beside_thinking(server, params, refusal):
    with pytest.raises(anthropic.BadRequestError, match=refusal):
        asyncio.run(create(server, model="claude-earlier-model", **params))


def test_the_settings_the_agent_sends_are_accepted(server):
    server.script(reply("Fine."))

    message = asyncio.run(create(server, thinking={"type": "disabled"}, max_tokens=4096))

    assert message.content[0].text == "Fine."


def test_thinking_is_sent_only_when_the_request_leaves_it_on_and_streams_through_the_sdk():
    with FakeAnthropic(default_thinking="Let me think about rain and light.") as fake:
        fake.script(reply("Film noir."), reply(thinking("Scripted thoughts."), "Film noir."))

        on_by_default = asyncio.run(create(fake))
        off = asyncio.run(create(fake, thinking={"type": "disabled"}))

        assert [b.type for b in on_by_default.content] == ["thinking", "text"]
        assert on_by_default.content[0].thinking == "Let me think about rain and light."
        assert [b.type for b in off.content] == ["text"]

        fake.script(reply(thinking("Scripted thoughts."), "Film noir."))

        async def stream():
            async with sdk(fake) as client:
                async with client.messages.stream(model=MODEL, max_tokens=512, messages=HELLO) as events:
                    kinds = [event.type async for event in events]
                    return kinds, await events.get_final_message()

        kinds, message = asyncio.run(stream())
        assert "thinking" in kinds and "signature" in kinds
        assert message.content[0].thinking == "Scripted thoughts." and message.content[0].signature


def test_thinking_counts_toward_max_tokens_and_a_long_answer_is_cut_there():
    with FakeAnthropic(default_thinking="hmm " * 400) as fake:
        fake.script(reply("A short answer."), reply("A short answer."))

        thinking_first = asyncio.run(create(fake, max_tokens=300))
        without = asyncio.run(create(fake, max_tokens=300, thinking={"type": "disabled"}))

    assert thinking_first.stop_reason == "max_tokens"
    assert [b.type for b in thinking_first.content] == ["thinking"]
    assert without.stop_reason == "end_turn"
    assert without.content[0].text == "A short answer."
