"""Credits: each person's balance and its ledger. A generation is charged its model's price when it is
made and refunded, once, when it ends without a result; staff adjust balances with a note.

Every change locks the person's account row and writes a CreditEntry in the same transaction, so
the balance always equals the sum of the ledger and two requests at once cannot overspend.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from .model_catalogue import model_get
from .model_schema import TEXT_TO_IMAGE
from .models import CreditAccount, CreditEntry, Generation

DEFAULT_PRICES = {"image": 1, "video": 5}


class CreditError(Exception):
    """An adjustment that cannot be made; the message is for staff, `field` the form field at fault."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


def generation_price(*, model_key: str, model=None) -> int:
    """Credits one generation with this model costs: the model's price (staff set it in the admin), unless the
    GENERATION_PRICES setting names the model or its family (image, video). `model`, when the caller has the
    row already, spares reading it again."""
    prices = settings.GENERATION_PRICES
    if model_key in prices:
        return prices[model_key]
    model = model if model is not None else model_get(model_key)
    family = "image" if model is None or model.kind == TEXT_TO_IMAGE else "video"
    if family in prices:
        return prices[family]
    return model.credits if model is not None else DEFAULT_PRICES[family]


def credits_balance(*, user) -> int:
    """The person's balance; someone who never used credits has the starting balance waiting."""
    balance = CreditAccount.objects.filter(user_id=user.pk).values_list("balance", flat=True).first()
    return settings.CREDITS_START if balance is None else balance


def credit_account_lock(*, user_id) -> CreditAccount:
    """The person's account, locked until the transaction ends; made with the starting grant on first use.

    Call inside transaction.atomic().
    """
    account = CreditAccount.objects.select_for_update().filter(user_id=user_id).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            account = CreditAccount.objects.create(user_id=user_id, balance=settings.CREDITS_START)
            if settings.CREDITS_START:
                CreditEntry.objects.create(
                    account=account,
                    amount=settings.CREDITS_START,
                    balance_after=settings.CREDITS_START,
                    reason=CreditEntry.Reason.GRANT,
                    note="Starting balance",
                )
    except IntegrityError:
        # Another request made it a moment ago: use that one.
        account = CreditAccount.objects.select_for_update().get(user_id=user_id)
    return account


@transaction.atomic
def credits_open(*, user) -> CreditAccount:
    """The person's account, made with the starting grant if they have none yet."""
    return credit_account_lock(user_id=user.pk)


def _entry(*, account: CreditAccount, amount: int, reason: str, **fields) -> CreditEntry:
    CreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
    account.refresh_from_db(fields=["balance"])
    return CreditEntry.objects.create(
        account=account, amount=amount, balance_after=account.balance, reason=reason, **fields
    )


def credits_charge(*, account: CreditAccount, generation: Generation, price: int) -> CreditEntry | None:
    """Take the price of a new job from a locked account whose balance the caller has checked; free: nothing."""
    if price <= 0:
        return None
    return _entry(account=account, amount=-price, reason=CreditEntry.Reason.CHARGE, generation=generation)


@transaction.atomic
def credits_refund(*, generation: Generation, outcome: str) -> CreditEntry | None:
    """Give back what the job was charged, if it was and not yet given back (the job's move to `outcome` calls it)."""
    charge = CreditEntry.objects.filter(generation_id=generation.pk, reason=CreditEntry.Reason.CHARGE).first()
    if charge is None:
        return None
    account = CreditAccount.objects.select_for_update().get(pk=charge.account_id)
    if CreditEntry.objects.filter(generation_id=generation.pk, reason=CreditEntry.Reason.REFUND).exists():
        return None
    return _entry(
        account=account,
        amount=-charge.amount,
        reason=CreditEntry.Reason.REFUND,
        generation_id=generation.pk,
        note=f"Ended {outcome.replace('_', ' ')}",
    )


def adjustment_check(*, balance: int, amount: int, note: str) -> str:
    """An adjustment's note, tidied; CreditError when the adjustment cannot be made (the admin form asks too)."""
    if not amount:
        raise CreditError("Say how many credits to add or take away.", field="adjust_by")
    note = " ".join((note or "").split())
    if not note:
        raise CreditError("Say why, for the ledger.", field="note")
    if balance + amount < 0:
        raise CreditError(f"The balance is {balance}; it cannot go below zero.", field="adjust_by")
    return note


@transaction.atomic
def credits_adjust(*, user, amount: int, staff=None, note: str = "") -> CreditEntry:
    """Staff grant (positive) or take back (negative) credits, with a note saying why."""
    account = credit_account_lock(user_id=user.pk)
    note = adjustment_check(balance=account.balance, amount=amount, note=note)
    return _entry(account=account, amount=amount, reason=CreditEntry.Reason.ADJUST, staff=staff, note=note[:200])
