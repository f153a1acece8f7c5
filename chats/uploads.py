"""Uploads of people's images and videos: presigned URLs, checking what arrived, and clearing what was never used.

With S3 configured the browser PUTs straight to the bucket through a presigned URL; otherwise it PUTs to our
own signed, expiring, single-use URL (`PUT /api/uploads/{ticket}`), which writes to local storage. Either way
the bytes, never the name or a header, decide what a file is (generation.media.probe), and the Attachment row
is made only once the file is there and checked. An upload's key is `attachments/{owner}/{upload id}/{name}`,
so the key alone says whose it is, and the upload id becomes the Attachment's id: a second use is refused.
"""

import logging
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from generation import media

from .models import Attachment
from .services import ServiceError

logger = logging.getLogger(__name__)

# What each accepted type is stored as; the extension of a key therefore says which type was declared.
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}
MIME_BY_EXTENSION = {extension: mime for mime, extension in EXTENSIONS.items()}
# MP4 and MOV are one container (ISO media): cameras and browsers label the same file either way.
SAME_CONTAINER = {"video/mp4": "video/quicktime", "video/quicktime": "video/mp4"}
KEY_PREFIX = "attachments/"
KEY_RE = re.compile(r"attachments/([0-9a-f]{32})/([0-9a-f]{32})/([^/]+)$")
NAME_MAX_LENGTH = 80
SALT = "chats.uploads.ticket"
READ_CHUNK = 1024 * 1024


class UploadError(ServiceError):
    """An upload refused; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Presigned:
    upload_id: uuid.UUID
    upload_url: str  # absolute for S3, a path of ours for local storage
    download_url: str  # likewise
    expires_at: float  # epoch seconds
    key: str


@dataclass(frozen=True)
class Ticket:
    upload_id: uuid.UUID
    owner_id: uuid.UUID
    key: str
    content_type: str
    size: int


def storage_is_s3() -> bool:
    from storages.backends.s3 import S3Storage

    return isinstance(default_storage, S3Storage)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def clean_file_name(file_name: str, content_type: str) -> str:
    """A safe name for storage: no folders, no control or odd characters, the extension of the declared type."""
    name = unicodedata.normalize("NFKC", file_name or "")
    name = re.split(r"[\\/]", name)[-1]  # only the last part of any path
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = "".join(ch for ch in stem if unicodedata.category(ch)[0] != "C")  # control, format, unassigned
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.UNICODE)
    stem = re.sub(r"[-.]{2,}", "-", stem).strip("-._")
    stem = stem[:NAME_MAX_LENGTH].rstrip("-._") or "upload"
    return f"{stem}.{EXTENSIONS[content_type]}"


def _check_declared(*, content_type: str, size: int) -> str:
    content_type = _media_type(content_type)
    if content_type not in EXTENSIONS:
        raise UploadError(
            f"Files of type {content_type or 'unknown'!r} cannot be uploaded. "
            "Images: JPEG, PNG, WebP, GIF; videos: MP4, WebM, MOV."
        )
    if size < 1:
        raise UploadError("The file is empty.")
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadError(f"The file is too large: at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB.", 413)
    return content_type


def upload_presign(*, owner, file_name: str, content_type: str, size: int) -> Presigned:
    """Where to PUT a file of this type and size, and the URL it will be found at afterwards."""
    content_type = _check_declared(content_type=content_type, size=size)
    upload_id = uuid.uuid4()
    key = f"{KEY_PREFIX}{owner.pk.hex}/{upload_id.hex}/{clean_file_name(file_name, content_type)}"
    expiry = settings.UPLOAD_URL_EXPIRY
    expires_at = time.time() + expiry
    if storage_is_s3():
        client = default_storage.connection.meta.client
        upload_url = client.generate_presigned_url(
            "put_object",
            Params={"Bucket": default_storage.bucket_name, "Key": key, "ContentType": content_type},
            ExpiresIn=expiry,
            HttpMethod="PUT",
        )
    else:
        ticket = {"u": upload_id.hex, "o": owner.pk.hex, "k": key, "t": content_type, "s": size, "e": int(expires_at)}
        upload_url = f"/api/uploads/{signing.dumps(ticket, salt=SALT, compress=True)}"
    return Presigned(
        upload_id=upload_id,
        upload_url=upload_url,
        download_url=default_storage.url(key),
        expires_at=expires_at,
        key=key,
    )


def _ticket_load(token: str) -> Ticket:
    try:
        data = signing.loads(token, salt=SALT)
        ticket = Ticket(
            upload_id=uuid.UUID(hex=data["u"]),
            owner_id=uuid.UUID(hex=data["o"]),
            key=data["k"],
            content_type=data["t"],
            size=int(data["s"]),
        )
        expires_at = int(data["e"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise UploadError("This upload URL is not valid. Ask for a new one.", 403) from None
    if time.time() > expires_at:
        raise UploadError("This upload URL has expired. Ask for a new one.", 403)
    return ticket


def _measure(data: bytes, *, declared: str) -> media.MediaInfo:
    """What the bytes are; refused unless an accepted type that matches what was declared."""
    try:
        info = media.probe(data)
    except media.MediaError as exc:
        raise UploadError(f"The file is {exc}.", 415) from None
    if info.mime not in media.ALLOWED_MIME:
        raise UploadError(f"The file is {media.REFUSAL}: it is {info.mime}.", 415)
    if info.mime != declared and SAME_CONTAINER.get(info.mime) != declared:
        raise UploadError(f"The file is {info.mime}, not the {declared} it was declared as.", 415)
    return info


def _attachment_create(*, upload_id, owner_id, key: str, data: bytes, info: media.MediaInfo) -> Attachment:
    """The Attachment of a checked upload. Its id is the upload id, so a second use fails here."""
    try:
        with transaction.atomic():
            return Attachment.objects.create(
                id=upload_id,
                owner_id=owner_id,
                size_bytes=len(data),
                file=key,
                **info.attachment_fields(),
            )
    except IntegrityError:
        raise UploadError("This upload URL has already been used.", 409) from None


def upload_receive(*, token: str, content_type: str | None, content_length: int | None, stream) -> Attachment:
    """A raw PUT to our own upload URL: check the ticket, the header, the size and the bytes, then store."""
    ticket = _ticket_load(token)
    if _media_type(content_type) != ticket.content_type:
        raise UploadError(
            f"The upload must be sent with Content-Type: {ticket.content_type}, as declared "
            f"(not {_media_type(content_type) or 'none'}).",
            415,
        )
    if content_length is not None and content_length > ticket.size:
        raise UploadError(f"The file has more bytes than the {ticket.size} declared.", 413)
    if Attachment.objects.filter(pk=ticket.upload_id).exists():
        raise UploadError("This upload URL has already been used.", 409)
    data = bytearray()
    while chunk := stream.read(READ_CHUNK):
        data += chunk
        if len(data) > ticket.size:
            raise UploadError(f"The file has more bytes than the {ticket.size} declared.", 413)
    if len(data) != ticket.size:
        raise UploadError(f"The file has {len(data)} bytes, not the {ticket.size} declared.", 400)
    data = bytes(data)
    info = _measure(data, declared=ticket.content_type)
    with transaction.atomic():
        attachment = _attachment_create(
            upload_id=ticket.upload_id, owner_id=ticket.owner_id, key=ticket.key, data=data, info=info
        )
        # The key is unique by its upload id; should a file be there all the same, storage picks a free name.
        name = default_storage.save(ticket.key, ContentFile(data))
        if name != ticket.key:
            attachment.file = name
            attachment.save(update_fields=["file"])
    return attachment


def upload_key_from_url(url: str) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """(owner id, upload id, key) of an upload named by one of its URLs (ours, S3's, presigned or not)."""
    match = KEY_RE.search(unquote(urlsplit(url or "").path))
    if match is None:
        return None
    return uuid.UUID(hex=match[1]), uuid.UUID(hex=match[2]), match.group(0)


def upload_complete(*, owner, upload_id: uuid.UUID, key: str | None = None) -> Attachment | None:
    """The owner's upload as an Attachment, made on first sight when the file went straight to storage (S3).

    None when there is no such upload of theirs (yet). A file that fails the checks is deleted and refused.
    """
    existing = Attachment.objects.filter(pk=upload_id).first()
    if existing is not None:
        return existing if existing.owner_id == owner.pk else None
    prefix = f"{KEY_PREFIX}{owner.pk.hex}/{upload_id.hex}/"
    if key is None:
        try:
            _dirs, files = default_storage.listdir(prefix)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not files:
            return None
        key = prefix + files[0]
    if not key.startswith(prefix) or not default_storage.exists(key):
        return None
    declared = MIME_BY_EXTENSION.get(key.rsplit(".", 1)[-1])
    size = default_storage.size(key)
    try:
        if declared is None:
            raise UploadError("The file has a name we never gave out.", 422)
        if size > settings.UPLOAD_MAX_BYTES:
            raise UploadError(f"The file is too large: at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB.", 413)
        if storage_is_s3():
            stored_type = _media_type(default_storage.bucket.Object(key).content_type)
            if stored_type != declared:
                raise UploadError(f"The file was sent as {stored_type or 'no type'}, not as {declared}.", 415)
        with default_storage.open(key, "rb") as handle:
            data = handle.read()
        info = _measure(data, declared=declared)
    except UploadError:
        default_storage.delete(key)
        raise
    try:
        return _attachment_create(upload_id=upload_id, owner_id=owner.pk, key=key, data=data, info=info)
    except UploadError:
        # Made meanwhile by a twin request.
        return Attachment.objects.filter(pk=upload_id, owner=owner).first()


def upload_find_by_url(*, owner, url: str) -> Attachment | None:
    """The owner's upload that a download URL names, completing it if it went straight to storage."""
    found = upload_key_from_url(url)
    if found is None:
        return None
    owner_id, upload_id, key = found
    if owner_id != owner.pk:
        return None
    return upload_complete(owner=owner, upload_id=upload_id, key=key)


# --- Clearing ---


def uploads_cleanup(*, now=None) -> dict:
    """Remove uploads never attached to a message within UPLOAD_UNATTACHED_SECONDS (rows and files).

    Files without a row (a presigned upload to S3 that was never sent with a message) go too.
    """
    from generation.models import Generation

    cutoff = (now or timezone.now()) - timedelta(seconds=settings.UPLOAD_UNATTACHED_SECONDS)
    stale = (
        Attachment.objects.filter(
            message__isnull=True, option__isnull=True, file__startswith=KEY_PREFIX, created_at__lt=cutoff
        )
        .exclude(pk__in=Generation.objects.filter(result__isnull=False).values("result"))
        .only("pk", "file")
    )
    rows = 0
    for attachment in stale:
        attachment.delete()  # its file goes once this commits (chats.signals)
        rows += 1
    files = 0
    for key in _upload_keys():
        match = KEY_RE.fullmatch(key)
        if match is None or Attachment.objects.filter(pk=uuid.UUID(hex=match[2])).exists():
            continue
        try:
            if default_storage.get_modified_time(key) >= cutoff:
                continue
            default_storage.delete(key)
            files += 1
        except (FileNotFoundError, OSError):
            continue
    return {"attachments": rows, "files": files}


def _upload_keys():
    """Every upload key in storage (attachments/{owner}/{upload}/{name})."""
    try:
        owners, _ = default_storage.listdir(KEY_PREFIX)
    except (FileNotFoundError, NotADirectoryError):
        return
    for owner in owners:
        uploads, _ = default_storage.listdir(f"{KEY_PREFIX}{owner}/")
        for upload in uploads:
            _, names = default_storage.listdir(f"{KEY_PREFIX}{owner}/{upload}/")
            for name in names:
                yield f"{KEY_PREFIX}{owner}/{upload}/{name}"


# --- The bucket ---


def bucket_cors_configure() -> list[dict]:
    """Let browsers on CORS_ALLOWED_ORIGINS and our own pages PUT to presigned URLs and read files (S3 only)."""
    if not storage_is_s3():
        raise UploadError("Media is stored on local disk, not S3: there is no bucket to configure.")
    own = [settings.PUBLIC_BASE_URL] if settings.PUBLIC_BASE_URL else []
    origins = list(dict.fromkeys([*settings.CORS_ALLOWED_ORIGINS, *settings.CSRF_TRUSTED_ORIGINS, *own]))
    rules = [
        {
            "AllowedOrigins": origins,
            "AllowedMethods": ["PUT", "GET", "HEAD"],
            "AllowedHeaders": ["content-type"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3600,
        }
    ]
    client = default_storage.connection.meta.client
    client.put_bucket_cors(Bucket=default_storage.bucket_name, CORSConfiguration={"CORSRules": rules})
    return rules
