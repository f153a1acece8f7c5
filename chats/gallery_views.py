"""The gallery page and downloads: every finished result of a person's chats, and each one's file by name.

The gallery is an even grid of thumbnails, newest first, filtered by kind (?kind=image or ?kind=video)
and paged by cursor: an htmx request gets the next page's items ("chats/gallery.html#gallery_page"),
any other request the whole page. Without scripts, a thumbnail is a link to the full file.
"""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest
from django.urls import reverse
from django.utils.html import conditional_escape
from django.views.decorators.http import require_GET

from generation import downloads
from generation import selectors as generation_selectors
from generation.models import Generation
from higgs_project.apikit.pagination import CursorError

from . import pages

GALLERY_PAGE = 24
FILTERS = [("", "All"), ("image", "Images"), ("video", "Videos")]


def _gallery_url(**query) -> str:
    query = {key: value for key, value in query.items() if value}
    return reverse("gallery") + (f"?{urlencode(query)}" if query else "")


@login_required
@require_GET
def gallery(request):
    kind = request.GET.get("kind", "")
    if kind not in generation_selectors.GALLERY_KINDS:
        return HttpResponseBadRequest("Unknown kind: show all, images (kind=image) or videos (kind=video).")
    try:
        page = generation_selectors.generation_gallery(
            user=request.user, kind=kind, limit=GALLERY_PAGE, cursor=request.GET.get("cursor")
        )
    except CursorError as exc:
        return HttpResponseBadRequest(conditional_escape(str(exc)))
    pages.labels_decorate(page.items)
    context = {
        "page": page,
        "kind": kind,
        "filters": [(value, label, _gallery_url(kind=value)) for value, label in FILTERS],
        "more_url": _gallery_url(kind=kind, cursor=page.next_cursor) if page.has_more else "",
        "chats": pages.sidebar_chats(request.user),
    }
    return pages.page_render(request, "chats/gallery.html", "gallery_page", context)


@login_required
@require_GET
def generation_download(request, generation_id):
    """The result as a file named from its prompt and date; marks it kept. Another person's is not found."""
    generation = generation_selectors.generation_get(user=request.user, generation_id=generation_id)
    if generation.status != Generation.Status.COMPLETED or generation.result is None:
        raise Http404("This generation has no result to download.")
    response = downloads.download_response(generation)
    downloads.generation_download_mark(generation)
    return response
