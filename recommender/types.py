"""What a recommender answers, whichever one wrote it: the reply's prose and the options it offers.

A reply with no options and a question in its text is a clarifying question.
"""

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class OptionDraft:
    """One option before it is saved: a model plus a style (images) or a motion (videos)."""

    kind: str
    model_key: str
    style_id: uuid.UUID | None
    motion_id: uuid.UUID | None
    enhanced_prompt: str
    reason: str
    parameters: dict
    # The image the option animates or reworks: an earlier result the request pointed at ("animate it").
    source_image_url: str = ""


@dataclass(frozen=True)
class Reply:
    content_text: str
    options: list[OptionDraft]
    # Which recommender wrote it: "offline" or "claude".
    recommender: str


@dataclass(frozen=True)
class Preference:
    """What the person picked in the composer: a kind of result and a model, each optional ("" = any)."""

    kind: str = ""
    model_key: str = ""


@dataclass(frozen=True)
class ChatImages:
    """The pictures already in a chat that words like "animate it" or "the second one as a video" can point at."""

    newest: str = ""  # the newest picture made or attached before this message
    # The newest reply that has pictures: each option's newest picture, by the option's place ("" where none).
    by_option: tuple[str, ...] = ()

    def pointed_at(self, ordinal: int | None) -> str:
        """The picture for "the first/second/third one" (an ordinal from 0), or the newest for "it"."""
        if ordinal is None:
            return self.newest
        return self.by_option[ordinal] if ordinal < len(self.by_option) else ""


@dataclass(frozen=True)
class Turn:
    """One earlier turn of the chat, as context for a follow-up ("make it darker")."""

    role: str  # "user" or "assistant"
    text: str


class ReplySink:
    """Receives a reply as it is written: text deltas, then each option once it is accepted."""

    async def text(self, delta: str) -> None:
        pass

    async def option(self, draft: OptionDraft) -> None:
        pass


class RecommenderError(Exception):
    """The recommender could not answer; the message is meant for the person."""
