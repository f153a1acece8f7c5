"""The recommender's entry point: the Claude agent when a key is set, the offline recommender otherwise."""

from collections.abc import Callable
from dataclasses import dataclass, replace

from asgiref.sync import sync_to_async
from django.conf import settings

from generation.model_catalogue import model_list
from generation.model_schema import IMAGE_TO_VIDEO, TEXT_TO_IMAGE, image_field

from . import asked, taste
from .types import ChatImages, OptionDraft, Preference, RecommenderError, Reply, ReplySink, Turn

__all__ = ["Grounding", "Preference", "RecommenderError", "recommender_name", "reply_compose", "reply_ground"]


def recommender_name() -> str:
    return "claude" if settings.ANTHROPIC_API_KEY else "offline"


@dataclass(frozen=True)
class _Source:
    """The picture in the chat the request points at, and what it asks of it: "animate" or "rework"."""

    url: str = ""
    use: str = ""
    # For a rework: the image models that can work from a picture (their own image field, or a variant with one).
    image_models: frozenset[str] = frozenset()

    def given(self, draft: OptionDraft) -> OptionDraft:
        if not self.url or draft.source_image_url:
            return draft
        if self.use == "animate" and draft.kind == IMAGE_TO_VIDEO:
            return replace(draft, source_image_url=self.url)
        if self.use == "rework" and draft.kind == TEXT_TO_IMAGE and draft.model_key in self.image_models:
            return replace(draft, source_image_url=self.url)
        return draft


class _Sourced(ReplySink):
    """Passes a reply on, giving the options that animate or rework a picture already in the chat its URL."""

    def __init__(self, sink: ReplySink, source: _Source):
        self.sink = sink
        self.source = source

    async def text(self, delta: str) -> None:
        await self.sink.text(delta)

    async def option(self, draft: OptionDraft) -> None:
        await self.sink.option(self.source.given(draft))


def _source(*, text: str, has_image: bool, images: ChatImages, preference: Preference) -> _Source:
    """What an earlier picture in the chat is to the request: animated ("animate it", "the second one as a
    video"), reworked ("that image but at night"), or nothing (a picture attached now wins)."""
    if has_image or not images.newest:
        return _Source()
    animate = asked.result_reference(text)
    if animate and preference.kind in ("", IMAGE_TO_VIDEO):
        return _Source(url=images.pointed_at(asked.result_ordinal(animate)), use="animate")
    rework = asked.result_rework(text)
    if rework and preference.kind in ("", TEXT_TO_IMAGE):
        takes = frozenset(
            model.key for model in model_list(kind=TEXT_TO_IMAGE) if image_field(model.input_schema) or model.with_image
        )
        return _Source(url=images.pointed_at(asked.result_ordinal(rework)), use="rework", image_models=takes)
    return _Source()


@dataclass(frozen=True)
class Grounding:
    """What a reply reads before it is written: the request's own terms once a preferred kind has spoken, the
    picture in the chat it points at, the taste of the chat's owner, and the catalogue Claude is shown."""

    has_image: bool
    preference: Preference
    source: _Source
    tasted: taste.Taste
    catalogue: object = None


def reply_ground(
    *,
    text: str,
    has_image: bool,
    preference: Preference | None = None,
    chat_images: ChatImages | None = None,
    chat_id=None,
) -> Grounding:
    """Every read a reply makes before the recommender runs, in one step of the request's thread."""
    preference = preference or Preference()
    if preference.kind and preference.kind != IMAGE_TO_VIDEO:
        has_image = False
    source = _source(text=text, has_image=has_image, images=chat_images or ChatImages(), preference=preference)
    catalogue = None
    if recommender_name() == "claude":
        from . import agent

        catalogue = agent.catalogue_load()
    return Grounding(has_image, preference, source, taste.taste_read(chat_id=chat_id), catalogue)


async def reply_compose(
    *,
    text: str,
    history: list[Turn],
    sink: ReplySink,
    grounding: Grounding,
    on_call: Callable[[], None] | None = None,
) -> Reply:
    """Write the reply to `text`, passing its prose and each option to `sink` as they are ready; `grounding` is
    what reply_ground read for it, in a step of the request's thread of its own.

    A preferred kind or model (from the composer) narrows the options to it; an attached image
    leads to image-to-video options unless another kind was asked for. Words that point at a picture
    made earlier in the chat ("animate it", "the last one as a video") make options that start from it.
    The taste of the chat's owner ranks and words the options here, after either recommender answers: it
    never goes to Claude. `on_call` is called as Claude's call goes out.
    """
    has_image, preference, source, tasted = (
        grounding.has_image,
        grounding.preference,
        grounding.source,
        grounding.tasted,
    )
    if source.use == "animate" and source.url:
        has_image = True
    if source.url:
        sink = _Sourced(sink, source)
    if recommender_name() == "claude":
        from . import agent

        reply = await agent.compose(
            text=text,
            has_image=has_image,
            history=history,
            sink=taste.TasteSink(sink, tasted) if tasted.active else sink,
            preference=preference,
            image_from_chat=source.use == "animate",
            catalogue=grounding.catalogue,
            on_call=on_call,
        )
        return replace(reply, options=[taste.option_reword(tasted, source.given(draft)) for draft in reply.options])

    from . import offline

    user_texts = [turn.text for turn in history if turn.role == "user"]
    reply = await sync_to_async(offline.recommend)(
        text=text, has_image=has_image, history=user_texts, preference=preference
    )
    reply = await sync_to_async(taste.offline_reply_tasted)(
        taste=tasted, reply=reply, text=text, has_image=has_image, history=user_texts, preference=preference
    )
    reply = replace(reply, options=[source.given(draft) for draft in reply.options])
    await sink.text(reply.content_text)
    for draft in reply.options:
        await sink.option(draft)
    return reply
