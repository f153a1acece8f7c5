"""Uploads of people's images and videos: presigned URLs, checking what arrived, and clearing what was never used.

Presigning records an Upload: the owner, the declared type and size, and a storage key we make
(`attachments/{owner}/{upload id}/image.png`, the extension that of the declared type). With S3 configured the
browser PUTs straight to the bucket through a presigned URL that signs the type and the length; otherwise it
PUTs to our own URL (`PUT /api/uploads/{ticket}`), whose signed ticket names only the Upload's id, so even a
ticket signed with a leaked key cannot choose where a file goes. The bytes, never the name or a header, decide
what a file is (generation.media.probe). An upload is used once: `used_at` is set by a conditional UPDATE in
the transaction that makes its Attachment (of the same id), on the PUT here or on first use for S3.
"""

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from generation import media
from higgs_project.storage import storage_is_s3

from .errors import ServiceError
from .models import Attachment, Upload

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
# MP4 and MOV are one container (ISO media): cameras and browsers label the same file either way.
SAME_CONTAINER = {"video/mp4": "video/quicktime", "video/quicktime": "video/mp4"}
KEY_PREFIX = "attachments/"
KEY_RE = re.compile(r"attachments/([0-9a-f]{32})/([0-9a-f]{32})/([^/]+)$")
# Tickets of the first kind (which carried a storage key) were signed with "chats.uploads.ticket".
SALT = "chats.uploads.upload"
READ_CHUNK = 1024 * 1024

NOT_VALID = "This upload URL is not valid. Ask for a new one."
EXPIRED = "This upload URL has expired. Ask for a new one."
USED = "This upload URL has already been used. Ask for a new one."


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
    expires_at: datetime
    key: str


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _check_declared(*, content_type: str, size: int) -> str:
    content_type = _media_type(content_type)
    if content_type not in EXTENSIONS:
        raise UploadError(
            f"Files of type {content_type or 'unknown'!r} cannot be uploaded. "
            "Images: JPEG, PNG, WebP, GIF; videos: MP4, WebM, MOV."
        )
    if size < 1:
        raise UploadError("The file is empty.")
    _check_limit(size)
    return content_type


def _check_limit(size: int) -> None:
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadError(f"The file is too large: at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB.", 413)


def _check_size(size: int, *, declared: int) -> None:
    if size > declared:
        raise UploadError(f"The file has more bytes than the {declared} declared.", 413)
    if size < declared:
        raise UploadError(f"The file has {size} bytes, not the {declared} declared.", 400)


def upload_key(*, owner_id: uuid.UUID, upload_id: uuid.UUID, content_type: str) -> str:
    """Where an upload is stored: in its owner's folder, under a name of ours with the declared type's extension."""
    kind = content_type.split("/", 1)[0]  # image or video
    return f"{KEY_PREFIX}{owner_id.hex}/{upload_id.hex}/{kind}.{EXTENSIONS[content_type]}"


def upload_presign(*, owner, file_name: str, content_type: str, size: int) -> Presigned:
    """Where to PUT a file of this type and size, and the URL it will be found at afterwards.

    The file's own name is not used: a name that a person chose never reaches storage.
    """
    content_type = _check_declared(content_type=content_type, size=size)
    expiry = settings.UPLOAD_URL_EXPIRY
    upload_id = uuid.uuid4()
    upload = Upload.objects.create(
        id=upload_id,
        owner=owner,
        key=upload_key(owner_id=owner.pk, upload_id=upload_id, content_type=content_type),
        mime=content_type,
        size_bytes=size,
        expires_at=timezone.now() + timedelta(seconds=expiry),
    )
    if storage_is_s3():
        # Both headers are signed: S3 refuses a PUT with another type or another length.
        client = default_storage.connection.meta.client
        upload_url = client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": default_storage.bucket_name,
                "Key": upload.key,
                "ContentType": content_type,
                "ContentLength": size,
            },
            ExpiresIn=expiry,
            HttpMethod="PUT",
        )
    else:
        upload_url = f"/api/uploads/{signing.Signer(salt=SALT).sign(upload.pk.hex)}"
    return Presigned(
        upload_id=upload.pk,
        upload_url=upload_url,
        download_url=default_storage.url(upload.key),
        expires_at=upload.expires_at,
        key=upload.key,
    )


def _upload_for_ticket(token: str) -> Upload:
    """The Upload a ticket names, while it can still be used."""
    if storage_is_s3():
        raise UploadError(NOT_VALID, 403)  # uploads go straight to the bucket: we give out no tickets then
    try:
        upload_id = uuid.UUID(hex=signing.Signer(salt=SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        raise UploadError(NOT_VALID, 403) from None
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None:
        raise UploadError(NOT_VALID, 403)
    if upload.used_at is not None:
        raise UploadError(USED, 409)
    if upload.expires_at <= timezone.now():
        raise UploadError(EXPIRED, 403)
    return upload


def _upload_use(upload: Upload) -> None:
    """Record the one use of an upload; refused when another request used it first. Call inside a transaction."""
    if Upload.objects.filter(pk=upload.pk, used_at__isnull=True).update(used_at=timezone.now()) != 1:
        raise UploadError(USED, 409)


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


def _attachment_create(*, upload: Upload, size: int, info: media.MediaInfo) -> Attachment:
    return Attachment.objects.create(
        id=upload.pk, owner_id=upload.owner_id, size_bytes=size, file=upload.key, **info.attachment_fields()
    )


def upload_receive(*, token: str, content_type: str | None, content_length: int | None, stream) -> Attachment:
    """A raw PUT to our own upload URL: check the ticket, the header, the size and the bytes, then store."""
    upload = _upload_for_ticket(token)
    if _media_type(content_type) != upload.mime:
        raise UploadError(
            f"The upload must be sent with Content-Type: {upload.mime}, as declared "
            f"(not {_media_type(content_type) or 'none'}).",
            415,
        )
    if content_length is not None and content_length > upload.size_bytes:
        raise UploadError(f"The file has more bytes than the {upload.size_bytes} declared.", 413)
    data = bytearray()
    while chunk := stream.read(READ_CHUNK):
        data += chunk
        if len(data) > upload.size_bytes:
            raise UploadError(f"The file has more bytes than the {upload.size_bytes} declared.", 413)
    _check_size(len(data), declared=upload.size_bytes)
    data = bytes(data)
    info = _measure(data, declared=upload.mime)
    # Read and checked before the transaction, so that a slow client never holds it open.
    with transaction.atomic():
        _upload_use(upload)
        attachment = _attachment_create(upload=upload, size=len(data), info=info)
        # Only a failed attempt that rolled back can have left a file at the key; storage then picks a free
        # name beside it (same folder, same extension).
        name = default_storage.save(upload.key, ContentFile(data))
        if name != upload.key:
            attachment.file = name
            attachment.save(update_fields=["file"])
    return attachment


def upload_key_from_url(url: str) -> tuple[uuid.UUID, uuid.UUID, str] | None:
    """(owner id, upload id, key) of an upload named by one of its URLs (ours, S3's, presigned or not)."""
    match = KEY_RE.search(unquote(urlsplit(url or "").path))
    if match is None:
        return None
    return uuid.UUID(hex=match[1]), uuid.UUID(hex=match[2]), match.group(0)


def upload_complete(*, owner, upload_id: uuid.UUID) -> Attachment | None:
    """The owner's upload as an Attachment, checked and made on first use when it went straight to S3.

    None when there is no such upload of theirs, or its file has not arrived yet. A file that fails the
    checks is deleted and refused; an upload already used whose Attachment is gone stays refused.
    """
    upload = Upload.objects.filter(pk=upload_id, owner=owner).first()
    if upload is None:
        return None
    if upload.used_at is None and storage_is_s3():
        checked = _s3_object_check(upload)
        if checked is None:
            return None
        try:
            with transaction.atomic():
                _upload_use(upload)
                return _attachment_create(upload=upload, size=upload.size_bytes, info=checked)
        except UploadError:
            pass  # a twin request used it first: its Attachment is the answer
    elif upload.used_at is None:
        return None  # local storage: the PUT makes the Attachment, and it has not come
    attachment = Attachment.objects.filter(pk=upload.pk, owner=owner).first()
    if attachment is None:
        raise UploadError("This upload has already been used, and its file deleted. Upload it again.", 409)
    return attachment


def _s3_object_check(upload: Upload) -> media.MediaInfo | None:
    """Check the object a presigned PUT left in the bucket: its length, its type, then its bytes.

    None when nothing is there yet. The object is deleted when refused (its PUT URL may still be used again).
    """
    from botocore.exceptions import ClientError

    obj = default_storage.bucket.Object(upload.key)
    try:
        obj.load()  # HEAD
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    try:
        _check_limit(obj.content_length)
        _check_size(obj.content_length, declared=upload.size_bytes)
        stored_type = _media_type(obj.content_type)
        if stored_type != upload.mime:
            raise UploadError(f"The file was sent as {stored_type or 'no type'}, not as {upload.mime}.", 415)
        try:
            # The object that was measured, and no more bytes than declared, should it change meanwhile.
            body = obj.get(IfMatch=obj.e_tag)["Body"]
            data = body.read(upload.size_bytes + 1)
            body.close()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("412", "PreconditionFailed"):
                raise UploadError("The file changed while it was being checked. Send it again.", 409) from None
            raise
        _check_size(len(data), declared=upload.size_bytes)
        return _measure(data, declared=upload.mime)
    except UploadError:
        default_storage.delete(upload.key)
        raise


def upload_find_by_url(*, owner, url: str) -> Attachment | None:
    """The owner's upload that a download URL names, checked and made on first use if it went straight to S3.

    Only the upload's id is read from the URL: its key and type come from the Upload record.
    """
    found = upload_key_from_url(url)
    if found is None:
        return None
    owner_id, upload_id, _key = found
    if owner_id != owner.pk:
        return None
    return upload_complete(owner=owner, upload_id=upload_id)


# --- Clearing ---


def uploads_cleanup(*, now=None) -> dict:
    """Remove uploads never attached to a message within UPLOAD_UNATTACHED_SECONDS (rows and files).

    Files without a row (a presigned upload to S3 that was never sent with a message) go too, and so do the
    Upload records whose URLs expired before then: a ticket naming a record that is gone is refused all the same.
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
    expired, _ = Upload.objects.filter(expires_at__lt=cutoff).delete()
    return {"attachments": rows, "files": files, "uploads": expired}


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
