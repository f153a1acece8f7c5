"""The Claude agent: one streamed model call writes the prose and adds options through a tool.

Shape, for accuracy and cost: the whole enabled catalogue sits in the system prompt under
short references (S1…, M1…), marked for prompt caching, and one tool, `add_option`, is called
once per option. The tool names every offered model and the settings each takes, so it changes
(and the cached prefix with it) only when the model table does. Each option is checked as soon
as its tool call is complete: a good one is shown at once, a bad one (unknown reference, wrong
model for the kind, prompt out of bounds, parameters its model's schema refuses) is refused back
to the model with the reason, and only then is a second call made.

Haiku 5.5 thinks by default, and thinking counts toward max_tokens; this task (pick from a list,
write briefs) gains little from it while the person waits for the first words, so it is off. An
answer cut at max_tokens or stopped by a refusal fails the reply with a plain message: no option
of a cut answer is kept.
"""

import asyncio
import json
import logging
import re
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anthropic
import httpx2
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from generation.model_catalogue import model_list
from generation.model_schema import (
    IMAGE_TO_VIDEO,
    KINDS,
    TEXT_TO_IMAGE,
    ParameterError,
    image_required,
    parameters_check,
    parameters_schema,
)
from generation.models import GenerationModel, Motion, Style

from . import asked as asking
from .offline import asked_in
from .types import OptionDraft, Preference, RecommenderError, Reply, ReplySink, Turn

logger = logging.getLogger(__name__)

PROMPT_MIN_WORDS, PROMPT_MAX_WORDS = 150, 300
MIN_OPTIONS, MAX_OPTIONS = 2, 4
REASON_MAX_CHARS = 400
# Thinking off: accepted at Haiku 5.5's default effort (it is refused only at xhigh and max), and it leaves all of
# max_tokens to the reply. Adaptive thinking would need its share of max_tokens on top of REPLY_TOKENS.
THINKING = {"type": "disabled"}
# What a full reply can take: four briefs of 300 words (about 1.7 tokens a word on Haiku 5.5's tokenizer, with the
# tool call's JSON around them), their reasons and the prose. ANTHROPIC_MAX_TOKENS below this is raised to it.
REPLY_TOKENS = MAX_OPTIONS * (PROMPT_MAX_WORDS * 17 // 10 + 150) + 400
# Answers that stopped before the model finished: what was streamed of them is not kept.
CUT_SHORT = {
    "max_tokens": "The assistant's answer ran too long and was cut off. Please try again.",
    "model_context_window_exceeded": "The conversation is too long for the assistant. Please start a new chat.",
    "refusal": "The assistant can't help with this request. Please rephrase it or ask for something else.",
}
# Settings an option never carries: images and sounds are the person's, chosen when they generate.
NOT_FOR_OPTIONS = re.compile(r"_url$|^seed$")


class AgentError(RecommenderError):
    """The model could not be reached or did not give a usable answer; the message is for the person."""


INSTRUCTIONS = f"""You are Higgs, a creative director who helps people turn ideas into images and videos \
generated on the Higgsfield platform.

For each message, either ask one short clarifying question (only when the request is too vague to \
picture: no subject at all), or answer with:
1. One to three sentences of friendly prose for the person (no lists, no markdown), then
2. {MIN_OPTIONS} to {MAX_OPTIONS} calls to the add_option tool, one per option, all in the same turn. \
Options should differ from each other (different styles or motions, and models where it helps).

Rules for options:
- kind: "text_to_image" for pictures, with an image style (reference S…). "text_to_video" for a video \
from words, and "image_to_video" only when the person attached an image; both video kinds take a camera \
motion (reference M…).
- model: one of the models listed for that kind.
- ref: a reference from the catalogue below, exactly as written. Never invent one.
- prompt: a cinematographer's brief of {PROMPT_MIN_WORDS} to {PROMPT_MAX_WORDS} words: subject, \
setting, composition and lens, light, colour palette, texture, mood, and for video the camera movement \
over time. Write it as flowing prose in English.
- parameters: only when the person asks for a format, length, resolution or number of images ("vertical", \
"10 seconds", "4K", "four variations"): set them for the chosen model, at the nearest value it accepts (the tool \
lists each model's settings). Prefer models that can do what was asked.
- reason: one or two sentences on why this style or motion and this model fit the request. Say only what is \
true: quote the person's words, the style's or motion's own description, or the model's summary, and name the \
settings you set. Never attribute a mood or setting to the request that its words do not contain.
Camera words ("push-in", "orbit", "drone", "pan", "zoom", "timelapse", "slow motion", "dolly", "crane") ask for \
a video. Follow-ups like "make it darker" or "now as a video" refer to the earlier turns: keep their subject.
If a tool call is refused, fix what the refusal says and call add_option again; accepted options stay."""


def _offered_models() -> dict[str, GenerationModel]:
    """The enabled models an option can name: those needing a reference image are the generate step's choice."""
    return {m.name: m for m in model_list() if not image_required(m.input_schema) or m.kind == IMAGE_TO_VIDEO}


def _models_text(models: dict[str, GenerationModel]) -> str:
    lines = ["Models by kind:"]
    for kind in KINDS:
        entries = [f"{m.name} ({m.summary})" if m.summary else m.name for m in models.values() if m.kind == kind]
        lines.append(f"- {kind}: " + "; ".join(entries))
    return "\n".join(lines)


@dataclass(frozen=True)
class Catalogue:
    """The enabled catalogue under short references, the enabled models, and the text the model reads."""

    styles: dict[str, Style]
    motions: dict[str, Motion]
    text: str
    models: dict[str, GenerationModel]
    models_text: str
    tool: dict


def _clean(text: str) -> str:
    return " ".join((text or "").split())


# The catalogue as the model reads it, with the version of the rows it was built from: building it takes longer
# than reading that version, so it is built again only when an enabled style, motion or model changes.
_catalogue: list = [None, None]


def _catalogue_version() -> tuple:
    """How many styles, motions and models are enabled, and when the last of each changed, in one query: any
    saved change (an edit, a new order, enabling, disabling, a row added or deleted) changes it."""
    quote = connection.ops.quote_name
    columns = ", ".join(
        f"(SELECT COUNT(*) FROM {quote(t._meta.db_table)} WHERE {quote('enabled')}), "
        f"(SELECT MAX({quote('updated_at')}) FROM {quote(t._meta.db_table)} WHERE {quote('enabled')})"
        for t in (Style, Motion, GenerationModel)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns}")  # noqa: S608 - table and column names from our models, no input
        return tuple(cursor.fetchone())


def catalogue_load() -> Catalogue:
    """The enabled catalogue under short references, the enabled models, and the text the model reads."""
    version = _catalogue_version()
    if _catalogue[0] != version:
        _catalogue[:] = [version, _catalogue_build()]
    return _catalogue[1]


def _catalogue_build() -> Catalogue:
    styles = {f"S{i}": s for i, s in enumerate(Style.objects.filter(enabled=True).order_by("sort_order", "name"), 1)}
    motions = {f"M{i}": m for i, m in enumerate(Motion.objects.filter(enabled=True).order_by("sort_order", "name"), 1)}
    lines = ["Image styles (ref | name | description):"]
    lines += [f"{ref} | {_clean(s.name)} | {_clean(s.description)}".rstrip(" |") for ref, s in styles.items()]
    lines.append("")
    lines.append("Camera motions (ref | name | description):")
    lines += [f"{ref} | {_clean(m.name)} | {_clean(m.description)}".rstrip(" |") for ref, m in motions.items()]
    models = _offered_models()
    return Catalogue(
        styles=styles,
        motions=motions,
        text="\n".join(lines),
        models=models,
        models_text=_models_text(models),
        tool=add_option_tool(models),
    )


def option_parameters_schema(model: GenerationModel) -> dict:
    """The settings an option of this model may carry: the model's parameters less URLs and the seed."""
    schema = parameters_schema(model.input_schema)
    properties = {k: v for k, v in schema["properties"].items() if not NOT_FOR_OPTIONS.search(k)}
    return {**schema, "properties": properties, "required": [k for k in schema["required"] if k in properties]}


def _compact(prop: dict) -> str:
    """A property's allowed values in a few characters: 5|10, "4"|"6"|"8", 2-12, true|false, text."""
    if "enum" in prop:
        return "|".join(f'"{v}"' if isinstance(v, str) and v.isdigit() else str(v) for v in prop["enum"])
    kind = prop.get("type")
    if kind == "boolean":
        return "true|false"
    if kind in ("integer", "number") and "minimum" in prop and "maximum" in prop:
        return f"{prop['minimum']:g}-{prop['maximum']:g}"
    return {"integer": "whole number", "number": "number"}.get(kind, "text")


def _settings_text(models: dict[str, GenerationModel]) -> str:
    lines = []
    for name, model in models.items():
        props = option_parameters_schema(model)["properties"]
        settings_list = "; ".join(f"{k} {_compact(p)}" for k, p in props.items()) or "none"
        lines.append(f"- {name}: {settings_list}")
    return "\n".join(lines)


def add_option_tool(models: dict[str, GenerationModel]) -> dict:
    """The add_option tool, naming the enabled models and their settings: it is built from the model table alone,
    so it changes (and the cached prefix with it) only when the table does."""
    tool = {**ADD_OPTION_TOOL, "input_schema": {**ADD_OPTION_TOOL["input_schema"]}}
    tool["description"] = (
        f"{ADD_OPTION_TOOL['description']}\n\nSettings each model takes in `parameters` (value lists are the only "
        f"values accepted; a-b is a range):\n{_settings_text(models)}"
    )
    properties = dict(tool["input_schema"]["properties"])
    properties["model"] = {"type": "string", "enum": list(models)}
    tool["input_schema"]["properties"] = properties
    return tool


ADD_OPTION_TOOL = {
    "name": "add_option",
    "description": "Offer one generation option to the person. Call it once per option, 2 to 4 times.",
    "input_schema": {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": list(KINDS)},
            "model": {"type": "string", "description": "One of the models listed for the option's kind."},
            "ref": {"type": "string", "description": "A catalogue reference: S… for styles, M… for motions."},
            "prompt": {"type": "string", "description": f"{PROMPT_MIN_WORDS} to {PROMPT_MAX_WORDS} words."},
            "reason": {"type": "string", "description": "One or two sentences."},
            "parameters": {
                "type": "object",
                "description": "Optional: the chosen model's settings the request asks for (see the list above).",
            },
        },
        "required": ["kind", "model", "ref", "prompt", "reason"],
        "additionalProperties": False,
    },
}


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


def option_check(
    tool_input,
    *,
    catalogue: Catalogue,
    has_image: bool,
    accepted: list[OptionDraft],
    preference: Preference = Preference(),  # noqa: B008 - frozen, never changed
    asked: asking.Asked = asking.Asked(),  # noqa: B008 - frozen, never changed
) -> tuple[OptionDraft | None, str]:
    """An accepted option, or None and the reason for the model.

    Its parameters are checked against the model's schema; a setting the person asked for that the model takes
    but the option left out is filled in at the nearest value the model accepts."""
    if not isinstance(tool_input, dict):
        return None, "The input must be an object with kind, model, ref, prompt and reason."
    missing = [f for f in ("kind", "model", "ref", "prompt", "reason") if not isinstance(tool_input.get(f), str)]
    if missing:
        return None, f"Missing or not a string: {', '.join(missing)}."
    kind, model_key, ref = tool_input["kind"], tool_input["model"], tool_input["ref"].strip().upper()
    prompt, reason = _clean(tool_input["prompt"]), _clean(tool_input["reason"])
    if len(accepted) >= MAX_OPTIONS:
        return None, f"There are already {MAX_OPTIONS} options; no more are needed."
    if kind not in KINDS:
        return None, f"Unknown kind {kind!r}: use one of {', '.join(KINDS)}."
    if preference.kind and kind != preference.kind:
        return None, f"The person asked for {preference.kind} options only."
    if preference.model_key and model_key != preference.model_key:
        return None, f"The person asked for the model {preference.model_key} for every option."
    if kind == IMAGE_TO_VIDEO and not has_image:
        return None, "image_to_video needs an image attached to the message; use text_to_video instead."
    if has_image and kind != IMAGE_TO_VIDEO and not preference.kind:
        return None, "The person attached an image to animate: offer image_to_video options."
    models = catalogue.models
    model = models.get(model_key)
    if model is None or model.kind != kind:
        names = ", ".join(m.name for m in models.values() if m.kind == kind)
        return None, f"Model {model_key!r} does not do {kind}: use one of {names}."
    style = motion = None
    if kind == TEXT_TO_IMAGE:
        style = catalogue.styles.get(ref)
        if style is None:
            return None, f"{ref!r} is not an image style reference in the catalogue (S1 to S{len(catalogue.styles)})."
    else:
        motion = catalogue.motions.get(ref)
        if motion is None:
            return None, f"{ref!r} is not a camera motion reference in the catalogue (M1 to M{len(catalogue.motions)})."
    words = len(prompt.split())
    if not PROMPT_MIN_WORDS <= words <= PROMPT_MAX_WORDS:
        return None, f"The prompt has {words} words; write {PROMPT_MIN_WORDS} to {PROMPT_MAX_WORDS}."
    if not reason or _sentences(reason) > 2 or len(reason) > REASON_MAX_CHARS:
        return None, "The reason must be one or two sentences."
    entry_id = (style or motion).pk
    if any((o.style_id or o.motion_id) == entry_id and o.model_key == model_key for o in accepted):
        return None, "That style or motion with that model is already an option: offer something different."
    given = tool_input.get("parameters")
    if given is None:
        given = {}
    try:
        parameters = parameters_check(option_parameters_schema(model), given, label=model_key)
    except ParameterError as exc:
        return None, f"parameters: {exc}"
    # What the person asked for and the model can do, where the option left it out; the reason then says so.
    left_out = asking.Asked(
        **{
            setting: wanted
            for setting, wanted in asked.items()
            if not any(name in parameters for name in asking.FIELDS[setting])
        }
    )
    filled = asking.fit(model.input_schema, left_out)
    settable = option_parameters_schema(model)["properties"]
    parameters = {**{k: v for k, v in filled.parameters.items() if k in settable}, **parameters}
    clause = asking.settings_clause(asking.Fitted(filled.parameters, filled.honoured, ()), model.label)
    if clause:
        reason = f"{reason} {clause[0].upper()}{clause[1:]}."
    draft = OptionDraft(
        kind=kind,
        model_key=model_key,
        style_id=style.pk if style else None,
        motion_id=motion.pk if motion else None,
        enhanced_prompt=prompt,
        reason=reason,
        parameters=parameters,
    )
    return draft, ""


def history_messages(history: list[Turn], budget_tokens: int) -> list[dict]:
    """The most recent earlier turns that fit the budget, as alternating user/assistant messages."""
    budget = budget_tokens * 4  # about four characters a token
    kept: list[Turn] = []
    for turn in reversed(history):
        text = turn.text.strip()
        if not text:
            continue
        if len(text) > budget:
            break
        budget -= len(text)
        kept.append(turn)
    kept.reverse()
    messages: list[dict] = []
    for turn in kept:
        role = "assistant" if turn.role == "assistant" else "user"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + turn.text
        else:
            messages.append({"role": role, "content": turn.text})
    while messages and messages[0]["role"] != "user":
        messages.pop(0)
    return messages


def _user_content(
    text: str,
    has_image: bool,
    preference: Preference = Preference(),  # noqa: B008
    asked: asking.Asked = asking.Asked(),  # noqa: B008
    image_from_chat: bool = False,
) -> str:
    """The person's message, and notes in brackets on what our own reading of it found (the model sees both)."""
    words = text.strip()
    text = words or "(no text)"
    if has_image and image_from_chat:
        text += (
            "\n\n[The words point at a picture made earlier in this chat: offer image_to_video options that "
            "animate it.]"
        )
    elif has_image:
        text += "\n\n[The person attached an image to animate: offer image_to_video options.]"
    else:
        camera = asking.camera_words(words)
        if asking.medium(words) == "video":
            because = f" (camera words: “{camera}”)" if camera else ""
            text += f"\n\n[The words ask for a video{because}: offer text_to_video options.]"
        if asking.result_reference(words):
            text += (
                "\n\n[The person may mean an earlier picture, but this chat has none to animate: offer "
                "text_to_video options of the earlier subject and say so in one short sentence.]"
            )
    if asked:
        text += (
            f"\n\n[Settings asked for: {asking.asked_note(asked)}. Set them in parameters where the model takes them.]"
        )
    if preference.kind or preference.model_key:
        wanted = " with the model ".join(filter(None, (preference.kind, preference.model_key)))
        text += f"\n\n[The person asked for {wanted}: every option must be that.]"
    return text


# One client per event loop (a web process has one): its connection pool and TLS context are made once, not
# for every reply (making them cost about 19 ms of CPU a reply). A client is tied to the loop it first ran on.
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def anthropic_client() -> anthropic.AsyncAnthropic:
    """This event loop's client for the current settings (a new one when a setting changed)."""
    loop = asyncio.get_running_loop()
    key = (
        settings.ANTHROPIC_API_KEY,
        settings.ANTHROPIC_BASE_URL or None,
        settings.ANTHROPIC_TIMEOUT,
        settings.ANTHROPIC_MAX_RETRIES,
    )
    held = _clients.get(loop)
    if held is None or held[0] != key:
        api_key, base_url, timeout, max_retries = key
        client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        held = (key, client)
        _clients[loop] = held
    return held[1]


# Error types of an `error` event in a stream that has already answered 200: the service, not the request.
_UNAVAILABLE = {"overloaded_error", "api_error", "timeout_error"}
UNREADABLE = "The assistant's answer was cut off or unreadable. Please try again."


class AnswerUnreadable(AgentError):
    """The answer's stream ended before its stop reason, or is not the Messages API's: nothing of it is kept."""

    def __init__(self, why: str):
        super().__init__(UNREADABLE)
        self.why = why


def _error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str(error.get("type", ""))


def _readable(exc: Exception) -> str:
    if isinstance(exc, anthropic.APITimeoutError):
        return "The assistant took too long to answer. Please try again."
    if isinstance(exc, anthropic.RateLimitError):
        return "The assistant is busy right now (rate limited). Please try again in a moment."
    if isinstance(exc, anthropic.APIStatusError) and (exc.status_code >= 500 or _error_type(exc) in _UNAVAILABLE):
        return "The assistant's model service is unavailable right now. Please try again."
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return "The assistant is not configured correctly (the model service refused our key)."
    if isinstance(exc, anthropic.APIConnectionError):
        return "The assistant's model service could not be reached. Please try again."
    return "The assistant could not answer this time. Please try again."


def system_blocks(catalogue: Catalogue) -> list[dict]:
    """The system prompt of every call: the instructions with the models, then the catalogue, which the API caches."""
    return [
        {"type": "text", "text": INSTRUCTIONS + "\n\n" + catalogue.models_text},
        {"type": "text", "text": catalogue.text, "cache_control": {"type": "ephemeral"}},
    ]


@dataclass
class _Composing:
    """One reply as it is written: what its options are checked against, its prose so far and the options
    accepted, each shown through the sink as soon as it is ready."""

    catalogue: Catalogue
    has_image: bool
    preference: Preference
    asked: asking.Asked
    sink: ReplySink
    prose: list[str] = field(default_factory=list)
    accepted: list[OptionDraft] = field(default_factory=list)

    async def say(self, text: str) -> None:
        self.prose.append(text)
        await self.sink.text(text)

    async def settle(self, call: dict, round_number: int) -> dict:
        """Check a finished tool call: show a good option at once, refuse a bad one back to the model; returns the
        tool result that says which."""
        draft, refusal = option_check(
            call["input"],
            catalogue=self.catalogue,
            has_image=self.has_image,
            accepted=self.accepted,
            preference=self.preference,
            asked=self.asked,
        )
        if draft is None:
            logger.info("Refused an option in round %s: %s", round_number, refusal)
            return _tool_result(call["id"], f"Refused: {refusal}", error=True)
        self.accepted.append(draft)
        await self.sink.option(draft)
        return _tool_result(call["id"], f"Accepted as option {len(self.accepted)}.")

    def reply(self) -> Reply:
        content = "".join(self.prose).strip()
        if not content and not self.accepted:
            raise AgentError("The assistant gave an empty answer. Please try again.")
        return Reply(
            content_text=content or "Here are a few options for your idea.",
            options=self.accepted,
            recommender="claude",
        )


@dataclass
class _Answer:
    """One streamed answer, read event by event: its blocks as the API would list them (to send back in a
    correction round) and its stop reason.

    Why not the SDK's stream helper (`messages.stream`): it builds a snapshot of the whole message at every event
    and parses a tool call's JSON again at each piece of it, and its plain stream makes a typed object of each
    event. A reply of four 300-word options in pieces of 16 characters cost 18 ms of CPU through the helper, 8 ms
    through the plain stream and 2.6 ms read here from the raw events, each call's JSON read once, at its end.

    A finished tool call is released only when the next block starts or the stop reason comes: an answer cut at
    max_tokens may have cut its last call too, which is never released.
    """

    blocks: list[dict] = field(default_factory=list)
    stop_reason: str | None = None
    _json: list[str] = field(default_factory=list)
    _finished: dict | None = None

    def read(self, event: dict) -> tuple[str, list[dict]]:
        """Take in one event; returns the text it adds ("" for none) and the tool calls it releases."""
        kind = event["type"]
        if kind == "content_block_start":
            released = self._release()
            self.blocks.append({name: value for name, value in event["content_block"].items() if value is not None})
            self._json = []
            return "", released
        if kind == "content_block_delta":
            return self._delta(event["delta"]), []
        if kind == "content_block_stop" and self.blocks and self.blocks[-1]["type"] == "tool_use":
            self._finished = self._call_end(self.blocks[-1])
        elif kind == "message_delta":
            self.stop_reason = event["delta"]["stop_reason"]
            released = self._release()
            return "", released if self.stop_reason not in CUT_SHORT else []
        return "", []

    def end(self) -> None:
        """Refuse an answer that stopped before the model finished, or that never said why it stopped."""
        if self.stop_reason in CUT_SHORT:
            logger.warning("Claude stopped early: %s", self.stop_reason)
            raise AgentError(CUT_SHORT[self.stop_reason])
        if self.stop_reason is None:
            raise AnswerUnreadable("the answer ended without its stop reason")

    def _delta(self, delta: dict) -> str:
        block, kind = self.blocks[-1], delta["type"]
        if kind == "text_delta":
            block["text"] += delta["text"]
            return delta["text"]
        if kind == "input_json_delta":
            self._json.append(delta["partial_json"])
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta["signature"]
        return ""

    def _call_end(self, call: dict) -> dict:
        # Like the SDK: a call whose JSON arrived in no piece, or only in empty ones, has an empty input.
        given = "".join(self._json)
        if given:
            try:
                call["input"] = json.loads(given)
            except json.JSONDecodeError:
                raise AnswerUnreadable("a tool call's input is not JSON") from None
        return call

    def _release(self) -> list[dict]:
        finished, self._finished = self._finished, None
        return [finished] if finished is not None else []


async def compose(
    *,
    text: str,
    has_image: bool,
    history: list[Turn],
    sink: ReplySink,
    preference: Preference = Preference(),  # noqa: B008
    image_from_chat: bool = False,
    catalogue: Catalogue | None = None,
    on_call: Callable[[], None] | None = None,
) -> Reply:
    """The reply to `text`: its prose and each accepted option go to `sink` as they come. `on_call` is called as
    each model call goes out. Fails with AgentError, whose message is for the person."""
    if catalogue is None:
        catalogue = await sync_to_async(catalogue_load)()
    asked = asked_in(text=text, history=[turn.text for turn in history if turn.role == "user"])
    composing = _Composing(catalogue=catalogue, has_image=has_image, preference=preference, asked=asked, sink=sink)
    messages = history_messages(history, settings.RECOMMENDER_HISTORY_TOKENS)
    messages.append({"role": "user", "content": _user_content(text, has_image, preference, asked, image_from_chat)})
    try:
        await _rounds(composing, messages, on_call)
    except anthropic.APIError as exc:
        logger.warning("Claude call failed: %s", type(exc).__name__)
        raise AgentError(_readable(exc)) from exc
    except httpx2.TransportError as exc:
        # The stream was cut or stalled mid-way: the SDK raises its transport's error as a stream is read.
        logger.warning("Claude answer unreadable: %s", type(exc).__name__)
        raise AnswerUnreadable(type(exc).__name__) from exc
    except AnswerUnreadable as exc:
        logger.warning("Claude answer unreadable: %s", exc.why)
        raise
    return composing.reply()


async def _rounds(composing: _Composing, messages: list[dict], on_call: Callable[[], None] | None) -> None:
    """The model's calls: the first writes the prose and the options; each later one only corrects refused
    options, until enough are accepted or RECOMMENDER_MAX_TOOL_ROUNDS is reached."""
    for round_number in range(1, settings.RECOMMENDER_MAX_TOOL_ROUNDS + 1):
        answer, results = await _round(composing, messages, round_number, on_call)
        # Enough good options end the reply, even beside a refused one: a correction would cost a call.
        if not results or len(composing.accepted) >= MIN_OPTIONS:
            return
        note = f"{len(composing.accepted)} option(s) accepted so far; offer {MIN_OPTIONS} to {MAX_OPTIONS} in all."
        messages.append({"role": "assistant", "content": answer.blocks})
        messages.append({"role": "user", "content": [*results, {"type": "text", "text": note}]})
    logger.warning("The agent reached %s tool rounds", settings.RECOMMENDER_MAX_TOOL_ROUNDS)
    if not composing.accepted:
        raise AgentError("The assistant could not settle on options. Please rephrase and try again.")


async def _round(
    composing: _Composing, messages: list[dict], round_number: int, on_call: Callable[[], None] | None
) -> tuple[_Answer, list[dict]]:
    """One model call, read as it streams: the prose shown (the first round's only: later rounds correct options),
    each finished tool call settled; returns the answer and the tool results of its calls."""
    speak = not composing.prose
    answer, results = _Answer(), []
    call = anthropic_client().messages.with_streaming_response.create(
        model=settings.ANTHROPIC_MODEL,
        max_tokens=max(settings.ANTHROPIC_MAX_TOKENS, REPLY_TOKENS),
        thinking=THINKING,
        system=system_blocks(composing.catalogue),
        tools=[composing.catalogue.tool],
        messages=messages,
        stream=True,
    )
    if on_call is not None:
        # As the call starts: the next post's work runs while this request goes out and Claude thinks.
        on_call()
    async with call as response:
        async for event in stream_events(response.http_response):
            text, finished = answer.read(event)
            if text and speak:
                await composing.say(text)
            for tool_call in finished:
                results.append(await composing.settle(tool_call, round_number))
    answer.end()
    return answer, results


async def stream_events(response: httpx2.Response) -> AsyncIterator[dict]:
    """The stream's events as dicts, as the SDK's own stream reads them (`AsyncStream.raw_events`): pings and
    unnamed events skipped, an `error` event raised as the SDK raises it (an APIStatusError with its body). Bytes
    that are not UTF-8, or an event that is not JSON, make the answer unreadable."""
    try:
        async for sse in anthropic.AsyncStream.raw_events(response):
            if sse.event in ("ping", None):
                continue
            if sse.event == "error":
                raise _stream_error(sse.data, response)
            if sse.data:
                yield _event(sse.data)
    except UnicodeDecodeError:
        raise AnswerUnreadable("the stream is not UTF-8") from None


def _event(data: str) -> dict:
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        raise AnswerUnreadable("an event is not JSON") from None


def _stream_error(data: str, response: httpx2.Response) -> anthropic.APIStatusError:
    try:
        body = json.loads(data)
        message = f"{body}"
    except json.JSONDecodeError:
        body, message = data, data or f"Error code: {response.status_code}"
    return anthropic.APIStatusError(message, response=response, body=body)


def _tool_result(tool_use_id: str, text: str, error: bool = False) -> dict:
    result = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
    if error:
        result["is_error"] = True
    return result
