"""The recommender's entry point: the Claude agent when a key is set, the offline recommender otherwise."""

from asgiref.sync import sync_to_async
from django.conf import settings

from .types import RecommenderError, Reply, ReplySink, Turn

__all__ = ["RecommenderError", "recommender_name", "reply_compose"]


def recommender_name() -> str:
    return "claude" if settings.ANTHROPIC_API_KEY else "offline"


async def reply_compose(*, text: str, has_image: bool, history: list[Turn], sink: ReplySink) -> Reply:
    """Write the reply to `text`, passing its prose and each option to `sink` as they are ready."""
    if recommender_name() == "claude":
        from . import agent

        return await agent.compose(text=text, has_image=has_image, history=history, sink=sink)

    from . import offline

    user_texts = [turn.text for turn in history if turn.role == "user"]
    reply = await sync_to_async(offline.recommend)(text=text, has_image=has_image, history=user_texts)
    await sink.text(reply.content_text)
    for draft in reply.options:
        await sink.option(draft)
    return reply
