"""An option card's fragment: its controls and price redrawn for the model picked in it (htmx GET)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import selectors
from .option_cards import CardReads, option_card


@login_required
@require_GET
def option_controls(request, option_id):
    """The card's model select, settings and Generate button for `?model=`, keeping the settings sent along
    (the ones shown before) where the new model takes them."""
    option = selectors.option_get(user=request.user, option_id=option_id)
    card = option_card(
        CardReads(request.user), option, model_key=request.GET.get("model", ""), wanted=request.GET.dict()
    )
    return render(request, "chats/chat.html#option_controls", {"option": option, "card": card, "redrawn": True})
