"""What the conversation controls need to know while a message is drawn."""

from django import template

from chats.services import message_edit_keeps_turn

register = template.Library()


@register.simple_tag
def edit_keeps_turn(message) -> bool:
    """Whether editing this message posts it anew (its reply's options have results) instead of replacing it."""
    return message_edit_keeps_turn(message=message)
