"""Guards on what a client sends, and the media URLs we send back."""

from django.conf import settings


def contains_nul(value) -> bool:
    """Whether a parsed JSON value holds a NUL character anywhere: PostgreSQL cannot store one in text."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    return False


def absolute_url(request, url: str | None) -> str | None:
    """Media URLs the client can fetch: PUBLIC_BASE_URL, or the request's own host."""
    if not url or url.startswith(("http://", "https://")):
        return url or None
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + url
    return request.build_absolute_uri(url)
