"""Writes to chats and messages: creating, renaming and deleting chats, posting a message and its reply."""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from generation.model_catalogue import model_names, model_resolve
from generation.model_schema import IMAGE_TO_VIDEO, KINDS
from higgs_project.apikit.auth import ANONYMOUS_API_GROUP, token_hash
from higgs_project.apikit.rate_limits import RateLimited, rate_wait, wait_words
from recommender.services import recommender_name

from . import selectors
from .errors import ServiceError
from .models import ApiToken, Attachment, Chat, Message, Option, ReplyRetry
from .replies import reply_post
from .reply_rows import reply_stop_settle
from .uploads import UploadError, upload_find_by_url

logger = logging.getLogger(__name__)

DEFAULT_CHAT_TITLE = "New chat"
TITLE_MAX_LENGTH = 200
MESSAGE_MAX_LENGTH = 8000
TOKEN_PREFIX = "hgs_"


class MessageRateLimited(RateLimited, ServiceError):
    """More messages in the window than RATE_LIMIT_MESSAGES allows."""

    def __init__(self, retry_after: int):
        super().__init__(f"You're sending messages quickly. Try again in {wait_words(retry_after)}.")
        self.retry_after = retry_after


def message_text_clean(text: str | None) -> str:
    """The text of a message as it is kept, or ServiceError when it is too long (the pages say the same words).

    Browsers send a textarea's line breaks as CRLF: one character each, as the person counted them.
    """
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > MESSAGE_MAX_LENGTH:
        raise ServiceError(
            f"A message can have at most {MESSAGE_MAX_LENGTH} characters; this one has {len(text)}. "
            "Shorten it, or split it in two."
        )
    return text


def _clean_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    if len(title) > TITLE_MAX_LENGTH:
        raise ServiceError(f"A title can have at most {TITLE_MAX_LENGTH} characters.")
    return title


def _title_from_text(text: str) -> str:
    words = " ".join(text.split())
    if len(words) <= 60:
        return words
    return words[:60].rsplit(" ", 1)[0] + "…"


def chat_create(*, owner, title: str | None = None) -> Chat:
    return Chat.objects.create(owner=owner, title=_clean_title(title) or DEFAULT_CHAT_TITLE)


def chat_rename(*, chat: Chat, title: str) -> Chat:
    title = _clean_title(title)
    if not title:
        raise ServiceError("A title cannot be empty.")
    chat.title = title
    chat.save(update_fields=["title", "updated_at"])
    return chat


def chat_delete(*, chat: Chat) -> None:
    # Messages, options and attachments go with the chat; files leave storage once the
    # deletion commits (see chats.signals).
    chat.delete()


def _attachments_resolve(*, owner, urls: list[str]) -> list[Attachment]:
    """The owner's attachments named by their download URLs; anything else is refused."""
    found = []
    for url in urls:
        attachment = selectors.attachment_find_by_url(owner=owner, url=url)
        if attachment is None:
            # A presigned upload straight to S3 has no row yet: it is checked and made on first sight.
            try:
                attachment = upload_find_by_url(owner=owner, url=url)
            except UploadError as exc:
                raise ServiceError(f"The attachment was refused: {exc}") from None
        if attachment is None:
            raise ServiceError(f"Unknown attachment: {url[:200]}. Upload it through /api/attachments/presign first.")
        found.append(attachment)
    return found


def _preference_check(*, kind: str, model_key: str, has_image: bool) -> tuple[str, str]:
    """The composer's preferred kind and model, checked; a model alone implies its kind."""
    kind, model_key = (kind or "").strip(), (model_key or "").strip()
    if kind and kind not in KINDS:
        raise ServiceError(f"Unknown mode {kind!r}: use one of {', '.join(KINDS)}.")
    if model_key:
        resolved = model_resolve(name=model_key)
        if resolved is None:
            raise ServiceError(f"Unknown model {model_key!r}. Models: {', '.join(model_names())}.")
        model = resolved.model
        model_key = model.name
        if kind and model.kind != kind:
            raise ServiceError(f"{model.label} makes {model.kind.replace('_', '-')}, not {kind.replace('_', '-')}.")
        kind = model.kind
    if kind == IMAGE_TO_VIDEO and not has_image:
        raise ServiceError("Video from an image needs an image: attach one to the message.")
    return kind, model_key


def _message_rate_check(*, owner_id) -> None:
    wait = rate_wait(
        setting="RATE_LIMIT_MESSAGES",
        recent=Message.objects.filter(chat__owner_id=owner_id, author_type=Message.Author.USER),
    )
    if wait:
        raise MessageRateLimited(wait)


def _owner_lock(*, owner_id) -> None:
    """Lock the person's row: their posts, retries and edits, to any of their chats, go one at a time, so the
    rate limits are exact across chats."""
    list(get_user_model().objects.select_for_update().filter(pk=owner_id).values_list("pk", flat=True))


@dataclass(frozen=True)
class _Post:
    """A post as checked, before anything is written."""

    text: str
    attachments: list[Attachment]
    preferred_kind: str
    preferred_model: str


def _post_check(
    *,
    owner_of: Callable[[], object],
    text: str | None,
    attachment_urls: list[str] | None,
    preferred_kind: str,
    preferred_model: str,
) -> _Post:
    """The post's text, attachments and preferences, checked; `owner_of()` gives its author, read only for a
    message with attachments (to find their files)."""
    text = message_text_clean(text)
    attachments = _attachments_resolve(owner=owner_of(), urls=attachment_urls) if attachment_urls else []
    if not text and not attachments:
        raise ServiceError("A message needs text or an attachment.")
    has_image = any(a.kind == Attachment.Kind.IMAGE for a in attachments)
    preferred_kind, preferred_model = _preference_check(
        kind=preferred_kind, model_key=preferred_model, has_image=has_image
    )
    return _Post(text, attachments, preferred_kind, preferred_model)


def _post_write(*, chat: Chat, post: _Post) -> tuple[Message, Message]:
    """Save a checked post and its pending reply, in the caller's transaction with the person's row locked."""
    # The chat's row lock keeps its positions and counters exact.
    locked = Chat.objects.select_for_update().get(pk=chat.pk)
    _message_rate_check(owner_id=locked.owner_id)
    user_message = Message.objects.create(
        chat=locked,
        position=locked.message_count + 1,
        author_type=Message.Author.USER,
        content_text=post.text or None,
        preferred_kind=post.preferred_kind,
        preferred_model=post.preferred_model,
    )
    reply = Message.objects.create(
        chat=locked,
        position=locked.message_count + 2,
        author_type=Message.Author.ASSISTANT,
        status=Message.Status.PENDING,
        recommender=recommender_name(),
    )
    changes = {
        "message_count": F("message_count") + 2,
        "last_message_at": reply.created_at,
        "updated_at": reply.created_at,
    }
    if locked.message_count == 0 and locked.title == DEFAULT_CHAT_TITLE and post.text:
        changes["title"] = _title_from_text(post.text)
    Chat.objects.filter(pk=locked.pk).update(**changes)
    for attachment in post.attachments:
        attachment.chat, attachment.message = locked, user_message
        attachment.save(update_fields=["chat", "message"])
    return user_message, reply


def message_post_begin(
    *,
    chat: Chat,
    text: str | None,
    attachment_urls: list[str] | None = None,
    preferred_kind: str = "",
    preferred_model: str = "",
) -> tuple[Message, Message]:
    """Save the person's message and a pending reply to it; return both.

    Both are saved before the recommender runs, so the conversation and its counters are
    right even if the recommender fails; chats.replies then fills the reply in.
    """
    post = _post_check(
        owner_of=lambda: chat.owner,
        text=text,
        attachment_urls=attachment_urls,
        preferred_kind=preferred_kind,
        preferred_model=preferred_model,
    )
    with transaction.atomic():
        _owner_lock(owner_id=chat.owner_id)
        return _post_write(chat=chat, post=post)


def chat_start(
    *,
    owner,
    text: str | None,
    title: str | None = None,
    attachment_urls: list[str] | None = None,
    preferred_kind: str = "",
    preferred_model: str = "",
) -> tuple[Message, Message]:
    """A new chat with its first message and the pending reply to it, in one transaction: a refused post (too
    long, rate limited, a foreign attachment) leaves no chat behind. Returns the message and the reply. Without
    a `title`, the chat is named after the message."""
    post = _post_check(
        owner_of=lambda: owner,
        text=text,
        attachment_urls=attachment_urls,
        preferred_kind=preferred_kind,
        preferred_model=preferred_model,
    )
    with transaction.atomic():
        # The person's row first, as every post takes it: the new chat's row refers to it.
        _owner_lock(owner_id=owner.pk)
        return _post_write(chat=chat_create(owner=owner, title=title), post=post)


def message_post(*, chat: Chat, text: str | None, attachment_urls: list[str] | None = None, **preferences) -> Message:
    """Post a message and wait for the finished reply (for callers outside an event loop)."""
    begin = partial(message_post_begin, chat=chat, text=text, attachment_urls=attachment_urls, **preferences)

    async def post_and_wait() -> Message:
        posted = await reply_post(begin=begin)
        return await posted.task

    return async_to_sync(post_and_wait)()


def _retry_rate_check(*, owner_id) -> None:
    """Retries ask the recommender again: RATE_LIMIT_MESSAGES holds for them too, counted apart from posts."""
    wait = rate_wait(
        setting="RATE_LIMIT_MESSAGES",
        recent=ReplyRetry.objects.filter(owner_id=owner_id),
    )
    if wait:
        raise MessageRateLimited(wait)


def reply_retry_begin(*, reply: Message) -> tuple[Message, Message]:
    """Reset a failed (or interrupted) reply to pending; return the message it answers and the reply."""
    with transaction.atomic():
        # The person's row first, as a post takes it: their retries are counted one at a time.
        owner_id = Chat.objects.filter(pk=reply.chat_id).values_list("owner_id", flat=True).get()
        _owner_lock(owner_id=owner_id)
        reply = Message.objects.select_for_update().get(pk=reply.pk)
        if reply.author_type != Message.Author.ASSISTANT:
            raise ServiceError("Only the assistant's replies can be retried.")
        if reply.display_status != Message.Status.FAILED:
            raise ServiceError("Only a failed reply can be retried.")
        user_message = (
            Message.objects.filter(chat_id=reply.chat_id, position__lt=reply.position, author_type=Message.Author.USER)
            .order_by("-position")
            .first()
        )
        if user_message is None:
            raise ServiceError("There is no message for this reply to answer.")
        _retry_rate_check(owner_id=owner_id)
        reply.options.all().delete()
        _reply_write_again(reply=reply, owner_id=owner_id)
    return user_message, reply


def _reply_write_again(*, reply: Message, owner_id) -> None:
    """Set a reply back to pending, to be written anew (its options already removed), and count the retry."""
    reply.status = Message.Status.PENDING
    reply.content_text = None
    reply.render_payload = None
    reply.error = ""
    reply.recommender = recommender_name()
    reply.save(update_fields=["status", "content_text", "render_payload", "error", "recommender", "updated_at"])
    ReplyRetry.objects.create(owner_id=owner_id, reply=reply)


def reply_stop(*, reply: Message) -> tuple[Message, bool]:
    """Stop a reply while it is written; return it and whether it was stopped now.

    Only the row changes: its writer, in whichever process, sees it at its next check and keeps the text
    written so far (chats.replies). A reply that has ended, or whose writer was interrupted, stays as it is.
    """
    stopped = False
    if reply.author_type == Message.Author.ASSISTANT and reply.display_status == Message.Status.PENDING:
        stopped = (
            Message.objects.filter(pk=reply.pk, status=Message.Status.PENDING).update(
                status=Message.Status.STOPPED, updated_at=timezone.now()
            )
            > 0
        )
    if stopped:
        # Tidied here too, for a writer that will never look again (a restart in the meantime).
        reply_stop_settle(reply=reply, content_text=None)
    reply.refresh_from_db()
    return reply, stopped


def message_edit_keeps_turn(*, message: Message) -> bool:
    """Whether editing the message would post anew: the reply after it has options that were generated from."""
    from generation.models import Generation

    return Generation.objects.filter(
        option__message__chat_id=message.chat_id, option__message__position=message.position + 1
    ).exists()


def message_edit_begin(*, message: Message, text: str | None) -> tuple[Message, Message]:
    """Replace the person's last message with `text` and have its reply written anew. Returns the message the
    reply answers and the pending reply: the edited message itself when the turn was replaced in place.

    The reply is reset where it is (its options go, as a retry's do), unless they were generated from:
    then the turn stays and the edited text is posted as a new message. Asking again is rate limited as
    a retry is.
    """
    text = message_text_clean(text)
    with transaction.atomic():
        owner_id = Chat.objects.filter(pk=message.chat_id).values_list("owner_id", flat=True).get()
        _owner_lock(owner_id=owner_id)
        chat = Chat.objects.select_for_update().get(pk=message.chat_id)
        message = Message.objects.select_for_update().get(pk=message.pk)
        reply = Message.objects.filter(chat=chat, position=message.position + 1).first()
        if message.author_type != Message.Author.USER:
            raise ServiceError("Only your own messages can be edited.")
        if reply is None or reply.position != chat.message_count or reply.author_type != Message.Author.ASSISTANT:
            raise ServiceError("Only your last message can be edited.")
        if not text and not message.attachments.exists():
            raise ServiceError("Write what you would like to make: an empty message cannot be sent.")
        if reply.display_status == Message.Status.PENDING:
            raise ServiceError("The reply is still being written: stop it, or wait for it to end, then edit.")
        keep_turn = message_edit_keeps_turn(message=message)
        if not keep_turn:
            _retry_rate_check(owner_id=owner_id)
            if message.position == 1 and text and chat.title == _title_from_text(message.content_text or ""):
                # The title was made from the words being replaced: it follows them.
                Chat.objects.filter(pk=chat.pk).update(title=_title_from_text(text))
            message.content_text = text or None
            message.save(update_fields=["content_text", "updated_at"])
            # None has results (checked above); the filter keeps one that a click made meanwhile.
            reply.options.filter(generations__isnull=True).delete()
            _reply_write_again(reply=reply, owner_id=owner_id)
    if keep_turn:
        if not text:
            raise ServiceError("Write what you would like to make: an empty message cannot be sent.")
        return message_post_begin(chat=chat, text=text)
    return message, reply


def option_result_show(*, generation, attachment: Attachment) -> None:
    """A finished generation's result, on its option and in the reply that offered it, so a reload of the chat
    shows it there (in the transaction that completes the job: generation.signals.generation_completed)."""
    if not generation.option_id:
        return
    Option.objects.filter(pk=generation.option_id).update(result_url=attachment.file.url)
    message = Message.objects.select_for_update().get(pk=generation.option.message_id)
    chunk = {
        "type": "video" if attachment.kind == Attachment.Kind.VIDEO else "image",
        "imageUrl": attachment.file.url,
        "alt": f"Result of {generation.model_key} for option {generation.option.position + 1}",
        "option_id": str(generation.option_id),
        "generation_id": str(generation.pk),
        "mime": attachment.mime,
    }
    message.render_payload = [*(message.render_payload or []), chunk]
    message.save(update_fields=["render_payload", "updated_at"])


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """A new API token; the raw secret is returned once and only its hash is kept."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:12], key_hash=token_hash(raw))
    return token, raw


@transaction.atomic
def api_anonymous_user_create(*, username: str):
    """Make (or find) the dedicated account for unauthenticated API calls; an existing person's account of
    that name is never adopted. Returns the account and whether it was made now."""
    from django.contrib.auth.models import Group

    User = get_user_model()
    group, _ = Group.objects.get_or_create(name=ANONYMOUS_API_GROUP)
    user = User.objects.filter(username=username).first()
    if user is not None:
        if not user.groups.filter(pk=group.pk).exists():
            raise ServiceError(
                f"An account named {username!r} already exists and is not the anonymous API account: "
                "choose another API_ANONYMOUS_USER."
            )
        return user, False
    user = User(username=username)
    user.set_unusable_password()
    user.save()
    user.groups.add(group)
    return user, True
