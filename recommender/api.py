"""GET and DELETE /api/me/taste: what the recommender learned of the caller's choices, and forgetting it."""

from datetime import datetime

from ninja import Router, Schema, Status

from .taste import taste_get, taste_reset, taste_summary

router = Router(tags=["account"])


class LikedOut(Schema):
    value: str  # a model's name, a style's or motion's id, or a format (vertical, square, wide)
    name: str
    chosen: int
    kept: int


class TasteOut(Schema):
    generated: int
    kept: int
    cancelled: int
    passed_over: int
    in_use: bool
    since: datetime | None
    styles: list[LikedOut]
    motions: list[LikedOut]
    models: list[LikedOut]
    formats: list[LikedOut]


@router.get("/me/taste", response=TasteOut)
def taste(request):
    """What your choices since your last reset teach the recommender; used to rank and word its options once
    `in_use` (three choices or more). It never leaves our database."""
    return taste_summary(taste_get(owner=request.auth))


@router.delete("/me/taste", response={204: None})
def taste_forget(request):
    """Forget what was learned: replies rank options as for someone new until you choose again."""
    taste_reset(owner=request.auth)
    return Status(204, None)
