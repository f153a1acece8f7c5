"""Where media files are kept (local disk or an S3 bucket), for every app that stores or serves them."""

from django.core.files.storage import default_storage


def storage_is_s3() -> bool:
    from storages.backends.s3 import S3Storage

    return isinstance(default_storage, S3Storage)


def download_url(name: str, *, file_name: str, content_type: str) -> str:
    """A presigned GET of a stored object that the browser saves as `file_name` (S3 storage only)."""
    return default_storage.url(
        name,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{file_name}"',
            "ResponseContentType": content_type,
        },
    )
