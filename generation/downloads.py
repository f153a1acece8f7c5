"""Downloads of results: the file under a name a person recognises, and the mark that they kept it.

A download answers the file as an attachment named from the prompt and the day it was made
(`higgs-cinematic-sunset-over-mountains-2026-11-30.png`). Local storage streams the file; S3 gets a
presigned GET whose response S3 itself names. `downloaded_at` records that the owner kept the result,
which the recommender reads as a sign of what people like.
"""

from pathlib import PurePosixPath

from django.http import FileResponse, Http404, HttpResponseRedirect
from django.utils import timezone
from django.utils.text import slugify

from higgs_project.storage import download_url, storage_is_s3

from .models import Generation

NAME_CHARS = 60  # of the prompt's part of the name, cut at a word


def download_name(generation: Generation) -> str:
    """`higgs-<prompt as words>-<date>.<ext>`, plain ASCII, whatever the prompt holds."""
    words = slugify(generation.prompt)
    if len(words) > NAME_CHARS:
        cut = words[: NAME_CHARS + 1]
        words = cut.rsplit("-", 1)[0] if "-" in cut else cut[:NAME_CHARS]
    words = words.strip("-") or ("video" if generation.result.kind == "video" else "image")
    made = timezone.localdate(generation.created_at)  # the day the gallery shows
    extension = PurePosixPath(generation.result.file.name).suffix.lower() or ".bin"
    return f"higgs-{words}-{made.isoformat()}{extension}"


def generation_download_mark(generation: Generation) -> None:
    """Record that the owner downloaded the result (the last time, if more than once)."""
    now = timezone.now()
    Generation.objects.filter(pk=generation.pk).update(downloaded_at=now)
    generation.downloaded_at = now


def download_response(generation: Generation):
    """The result as an attachment: streamed from local storage, or a redirect to a presigned S3 GET."""
    result, name = generation.result, download_name(generation)
    if storage_is_s3():
        return HttpResponseRedirect(download_url(result.file.name, file_name=name, content_type=result.mime))
    try:
        stream = result.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is no longer stored.") from None
    return FileResponse(stream, as_attachment=True, filename=name, content_type=result.mime)
