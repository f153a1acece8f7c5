"""What the page views of every family share: the sidebar, a page or its htmx fragment, the chat page, and the data
its messages, option cards and generation cards show, read once per page so that the templates only format it.
"""

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.shortcuts import render

from generation import selectors as generation_selectors
from generation.model_catalogue import model_labels
from generation.models import Generation

from . import selectors, services
from .forms import MODES, GenerateForm
from .models import Message
from .option_cards import CardReads, option_card, price_refusal
from .uploads import EXTENSIONS

SIDEBAR_CHATS = 50
MESSAGES_SHOWN = 300


def page_render(request, template: str, partial: str, context: dict, status: int = 200):
    """The page, or for an htmx request its fragment `partial`."""
    name = f"{template}#{partial}" if request.htmx else template
    return render(request, name, context, status=status)


def sidebar_chats(user) -> list:
    return selectors.chat_list(user=user, limit=SIDEBAR_CHATS).items


def composer_setup(reads: CardReads) -> dict:
    """What the composer offers: the modes and models to prefer, and the images it can upload."""
    return {
        "modes": MODES,
        "max_length": services.MESSAGE_MAX_LENGTH,
        "models": [(kind, label, reads.models_of(kind)) for kind, label in MODES],
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "max_megabytes": settings.UPLOAD_MAX_BYTES // (1024 * 1024),
        "image_types": ",".join(mime for mime in EXTENSIONS if mime.startswith("image/")),
    }


def chat_page(request, chat, *, status: int = 200, **context):
    """The whole chat page (a chat, or a new one when `chat` is None): the sidebar, the messages with their cards,
    whether editing the last message keeps its turn, and the composer."""
    reads = CardReads(request.user)
    shown = chat_messages(request.user, chat, reads=reads) if chat is not None else []
    context = {
        "chats": sidebar_chats(request.user),
        "chat": chat,
        "messages_shown": shown,
        "edit_keeps_turn": chat is not None and _last_message_keeps_turn(chat, shown),
        "composer": composer_setup(reads),
        **context,
    }
    return render(request, "chats/chat.html", context, status=status)


def _last_message_keeps_turn(chat, shown: list[Message]) -> bool:
    """Whether editing the chat's last message (the only one that can be edited) would post it anew."""
    last = next((m for m in shown if m.position == chat.message_count - 1), None)
    if last is None or last.author_type != Message.Author.USER:
        return False
    return services.message_edit_keeps_turn(message=last)


def chat_messages(user, chat, *, reads: CardReads) -> list[Message]:
    """The chat's first MESSAGES_SHOWN messages, decorated for the page."""
    items, after = [], None
    while len(items) < MESSAGES_SHOWN:
        page = selectors.message_list(chat=chat, limit=settings.API_PAGE_MAX_LIMIT, after=after)
        items += page.items
        if not page.has_more:
            break
        after = page.next_cursor
    return messages_decorate(user, chat.pk, items, reads=reads)


def _generations_by_option(user, chat_id) -> dict:
    """The chat's generations per option, newest first, leaving out attempts that were retried."""
    items = generation_selectors.generation_list(user=user, chat_id=chat_id, limit=settings.API_PAGE_MAX_LIMIT).items
    retried = {g.retry_of_id for g in items if g.retry_of_id}
    by_option: dict = {}
    for generation in items:
        if generation.pk not in retried and generation.option_id:
            by_option.setdefault(generation.option_id, []).append(generation)
    return by_option


def messages_decorate(user, chat_id, message_list: list[Message], *, reads: CardReads | None = None) -> list[Message]:
    """Give each assistant message its options, each option its card and generations, and each generation what
    its card shows, for the templates."""
    reads = reads or CardReads(user)
    prefetch_related_objects(message_list, "options__style", "options__motion")
    by_option = _generations_by_option(user, chat_id)
    options = [option for message in message_list for option in message.options.all()]
    options_decorate(reads, options, by_option=by_option)
    generations_decorate(reads, [g for shown in by_option.values() for g in shown])
    return message_list


def labels_decorate(items: list) -> list:
    """Give each option or generation the label of its model (`model_label`), from the labels every page shares."""
    labels = model_labels()
    for item in items:
        item.model_label = labels.get(item.model_key, item.model_key)
    return items


def options_decorate(reads: CardReads, options: list, *, by_option: dict | None = None) -> list:
    """Give each option its model's label, its card (models, controls, price, refusal), its Generate form and its
    generations."""
    labels_decorate(options)
    for option in options:
        option.card = option_card(reads, option)
        option.generate_form = GenerateForm(option=option)
        option.generations_shown = (by_option or {}).get(option.pk, [])
    return options


def generations_decorate(reads: CardReads, generations: list[Generation]) -> list[Generation]:
    """Give each generation its model's label, and each finished one what its card shows besides: the price of
    another take, why the balance cannot pay it ('' when it can), and the name of its style or motion ('' when
    none)."""
    labels_decorate(generations)
    finished = [g for g in generations if g.status == Generation.Status.COMPLETED and g.result_id is not None]
    looks = _look_names(finished)
    for generation in finished:
        generation.take_price = reads.price(generation.model_key)
        generation.take_refusal = price_refusal(generation.take_price, reads.balance)
        generation.look = looks.get(generation.style_id or generation.motion_id, "")
    return generations


def _look_names(generations: list[Generation]) -> dict:
    """The names of the styles and motions the generations used, by id: a query for each kind used."""
    style_ids = {g.style_id for g in generations if g.style_id}
    motion_ids = {g.motion_id for g in generations if g.motion_id and not g.style_id}
    names = {}
    if style_ids:
        styles = generation_selectors.style_list(enabled_only=False).filter(pk__in=style_ids)
        names |= dict(styles.values_list("pk", "name"))
    if motion_ids:
        motions = generation_selectors.motion_list(enabled_only=False).filter(pk__in=motion_ids)
        names |= dict(motions.values_list("pk", "name"))
    return names


def posted_context(user, chat, user_message: Message, reply: Message) -> dict:
    """What the page adds for a message just posted and its pending reply (chats/chat.html#posted)."""
    chat.refresh_from_db()
    # The new reply has no options yet, let alone results: editing the message would replace its turn.
    return {
        "chat": chat,
        "chats": sidebar_chats(user),
        "messages_shown": [user_message, reply],
        "edit_keeps_turn": False,
    }
