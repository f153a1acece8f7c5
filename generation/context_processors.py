"""The person's credit balance for every page (read only when a template shows it)."""

from .credits import credits_balance


def credits(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # A callable: the template calls it, so pages that do not show the balance cost no query.
    return {"credit_balance": lambda: credits_balance(user=user)}
