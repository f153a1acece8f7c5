"""GET /api/me: who the caller is and their credit balance (beyond the contract, which it leaves as it is)."""

import uuid

from ninja import Router, Schema

from .credits import credits_balance

router = Router(tags=["account"])


class MeOut(Schema):
    id: uuid.UUID
    username: str
    credits: int


@router.get("/me", response=MeOut)
def me(request):
    """The caller and their credits: each generation costs its model's price, refunded when it ends without a result."""
    user = request.auth
    return MeOut(id=user.pk, username=user.get_username(), credits=credits_balance(user=user))
