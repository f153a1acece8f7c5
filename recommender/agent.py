"""The Claude agent: one streamed model call writes the prose and adds options through a tool.

Shape, for accuracy and cost: the whole enabled catalogue sits in the system prompt under
short references (S1…, M1…), marked for prompt caching, and one tool, `add_option`, is called
once per option. Each option is checked as soon as its tool call is complete: a good one is
shown at once, a bad one (unknown reference, wrong model for the kind, prompt out of bounds)
is refused back to the model with the reason, and only then is a second call made.
"""

import logging
import re
from dataclasses import dataclass

import anthropic
import httpx2
from asgiref.sync import sync_to_async
from django.conf import settings

from generation.model_catalogue import model_list
from generation.model_schema import IMAGE_TO_VIDEO, KINDS, TEXT_TO_IMAGE, TEXT_TO_VIDEO, image_required
from generation.models import GenerationModel, Motion, Style

from .types import OptionDraft, Preference, RecommenderError, Reply, ReplySink, Turn

logger = logging.getLogger(__name__)

PROMPT_MIN_WORDS, PROMPT_MAX_WORDS = 150, 300
MIN_OPTIONS, MAX_OPTIONS = 2, 4
REASON_MAX_CHARS = 400


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
- reason: one or two sentences on why this style or motion and this model fit the request.
Follow-ups like "make it darker" or "now as a video" refer to the earlier turns: keep their subject.
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
    models: dict[str, GenerationModel] = None
    models_text: str = ""


def _clean(text: str) -> str:
    return " ".join((text or "").split())


def catalogue_load() -> Catalogue:
    styles = {f"S{i}": s for i, s in enumerate(Style.objects.filter(enabled=True).order_by("sort_order", "name"), 1)}
    motions = {f"M{i}": m for i, m in enumerate(Motion.objects.filter(enabled=True).order_by("sort_order", "name"), 1)}
    lines = ["Image styles (ref | name | description):"]
    lines += [f"{ref} | {_clean(s.name)} | {_clean(s.description)}".rstrip(" |") for ref, s in styles.items()]
    lines.append("")
    lines.append("Camera motions (ref | name | description):")
    lines += [f"{ref} | {_clean(m.name)} | {_clean(m.description)}".rstrip(" |") for ref, m in motions.items()]
    models = _offered_models()
    return Catalogue(
        styles=styles, motions=motions, text="\n".join(lines), models=models, models_text=_models_text(models)
    )


def add_option_tool(model_names: list[str]) -> dict:
    """The add_option tool, naming the enabled models: it changes (and the cached prefix with it) only when they do."""
    tool = {**ADD_OPTION_TOOL, "input_schema": {**ADD_OPTION_TOOL["input_schema"]}}
    properties = dict(tool["input_schema"]["properties"])
    properties["model"] = {"type": "string", "enum": list(model_names)}
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
) -> tuple[OptionDraft | None, str]:
    """An accepted option, or None and the reason for the model."""
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
    models = catalogue.models if catalogue.models is not None else _offered_models()
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
    parameters = {"duration": 5} if kind in (IMAGE_TO_VIDEO, TEXT_TO_VIDEO) else {}
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


def _user_content(text: str, has_image: bool, preference: Preference = Preference()) -> str:  # noqa: B008
    text = text.strip() or "(no text)"
    if has_image:
        text += "\n\n[The person attached an image to animate: offer image_to_video options.]"
    if preference.kind or preference.model_key:
        wanted = " with the model ".join(filter(None, (preference.kind, preference.model_key)))
        text += f"\n\n[The person asked for {wanted}: every option must be that.]"
    return text


def _client() -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=settings.ANTHROPIC_API_KEY,
        base_url=settings.ANTHROPIC_BASE_URL or None,
        timeout=settings.ANTHROPIC_TIMEOUT,
        max_retries=settings.ANTHROPIC_MAX_RETRIES,
    )


def _readable(exc: Exception) -> str:
    if isinstance(exc, anthropic.APITimeoutError):
        return "The assistant took too long to answer. Please try again."
    if isinstance(exc, anthropic.RateLimitError):
        return "The assistant is busy right now (rate limited). Please try again in a moment."
    if isinstance(exc, anthropic.APIStatusError) and exc.status_code >= 500:
        return "The assistant's model service is unavailable right now. Please try again."
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return "The assistant is not configured correctly (the model service refused our key)."
    if isinstance(exc, anthropic.APIConnectionError):
        return "The assistant's model service could not be reached. Please try again."
    return "The assistant could not answer this time. Please try again."


async def compose(
    *,
    text: str,
    has_image: bool,
    history: list[Turn],
    sink: ReplySink,
    preference: Preference = Preference(),  # noqa: B008
) -> Reply:
    catalogue = await sync_to_async(catalogue_load)()
    system = [
        {"type": "text", "text": INSTRUCTIONS + "\n\n" + catalogue.models_text},
        {"type": "text", "text": catalogue.text, "cache_control": {"type": "ephemeral"}},
    ]
    messages = history_messages(history, settings.RECOMMENDER_HISTORY_TOKENS)
    messages.append({"role": "user", "content": _user_content(text, has_image, preference)})
    accepted: list[OptionDraft] = []
    prose: list[str] = []
    client = _client()
    try:
        for round_number in range(1, settings.RECOMMENDER_MAX_TOOL_ROUNDS + 1):
            # The prose is the first round's; later rounds only correct refused options.
            speak = not prose
            results = []
            async with client.messages.stream(
                model=settings.ANTHROPIC_MODEL,
                max_tokens=settings.ANTHROPIC_MAX_TOKENS,
                system=system,
                tools=[add_option_tool(list(catalogue.models))],
                messages=messages,
            ) as stream:
                async for event in stream:
                    if event.type == "text" and speak:
                        prose.append(event.text)
                        await sink.text(event.text)
                    elif event.type == "content_block_stop" and event.content_block.type == "tool_use":
                        block = event.content_block
                        draft, refusal = option_check(
                            block.input,
                            catalogue=catalogue,
                            has_image=has_image,
                            accepted=accepted,
                            preference=preference,
                        )
                        if draft is not None:
                            accepted.append(draft)
                            await sink.option(draft)
                            results.append(_tool_result(block.id, f"Accepted as option {len(accepted)}."))
                        else:
                            logger.info("Refused an option in round %s: %s", round_number, refusal)
                            results.append(_tool_result(block.id, f"Refused: {refusal}", error=True))
                final = await stream.get_final_message()
            # Enough good options end the reply, even beside a refused one: a correction would cost a call.
            if not results or len(accepted) >= MIN_OPTIONS:
                break
            messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]})
            note = f"{len(accepted)} option(s) accepted so far; offer {MIN_OPTIONS} to {MAX_OPTIONS} in all."
            messages.append({"role": "user", "content": [*results, {"type": "text", "text": note}]})
        else:
            logger.warning("The agent reached %s tool rounds", settings.RECOMMENDER_MAX_TOOL_ROUNDS)
            if not accepted:
                raise AgentError("The assistant could not settle on options. Please rephrase and try again.")
    except anthropic.APIError as exc:
        logger.warning("Claude call failed: %s", type(exc).__name__)
        raise AgentError(_readable(exc)) from exc
    except (httpx2.TransportError, ValueError, AttributeError, TypeError) as exc:
        # A stream cut mid-way, or an answer that is not the Messages API's shape.
        logger.warning("Claude answer unreadable: %s", type(exc).__name__)
        raise AgentError("The assistant's answer was cut off or unreadable. Please try again.") from exc
    finally:
        await client.close()
    content = "".join(prose).strip()
    if not content and not accepted:
        raise AgentError("The assistant gave an empty answer. Please try again.")
    if not content:
        content = "Here are a few options for your idea."
    return Reply(content_text=content, options=accepted, recommender="claude")


def _tool_result(tool_use_id: str, text: str, error: bool = False) -> dict:
    result = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
    if error:
        result["is_error"] = True
    return result
