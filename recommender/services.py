"""The recommender's entry point: the Claude agent when a key is set, the offline recommender otherwise."""

from asgiref.sync import sync_to_async
from django.conf import settings

from generation.model_schema import IMAGE_TO_VIDEO

from .types import Preference, RecommenderError, Reply, ReplySink, Turn

__all__ = ["Preference", "RecommenderError", "recommender_name", "reply_compose"]


def recommender_name() -> str:
    return "claude" if settings.ANTHROPIC_API_KEY else "offline"


async def reply_compose(
    *, text: str, has_image: bool, history: list[Turn], sink: ReplySink, preference: Preference | None = None
) -> Reply:
    """Write the reply to `text`, passing its prose and each option to `sink` as they are ready.

    A preferred kind or model (from the composer) narrows the options to it; an attached image
    leads to image-to-video options unless another kind was asked for.
    """
    preference = preference or Preference()
    if preference.kind and preference.kind != IMAGE_TO_VIDEO:
        has_image = False
    if recommender_name() == "claude":
        from . import agent

        return await agent.compose(text=text, has_image=has_image, history=history, sink=sink, preference=preference)

    from . import offline

    user_texts = [turn.text for turn in history if turn.role == "user"]
    reply = await sync_to_async(offline.recommend)(
        text=text, has_image=has_image, history=user_texts, preference=preference
    )
    await sink.text(reply.content_text)
    for draft in reply.options:
        await sink.option(draft)
    return reply
