"""The shape of every error answer of the API."""

from ninja import Schema


class ErrorOut(Schema):
    """Every error answer: `detail` says what is wrong (for invalid input, a list of the faults)."""

    detail: str | list[dict]
