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


@dataclass(frozen=True)
class Reply:
    content_text: str
    options: list[OptionDraft]
    # Which recommender wrote it: "offline" or "claude".
    recommender: str
