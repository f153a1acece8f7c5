"""The recommender's entry point: which recommender answers, and its one error type."""

from .types import Reply


class RecommenderError(Exception):
    """The recommender could not answer; the message is meant for the person."""


def reply_compose(*, text: str, has_image: bool = False, history: list[str] | None = None) -> Reply:
    from . import offline

    return offline.recommend(text=text, has_image=has_image, history=history or [])
