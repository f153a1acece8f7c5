import mimetypes

from django.conf import settings
from django.contrib import admin
from django.http import Http404
from django.urls import include, path, re_path
from django.views.static import serve

from higgs_project.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("chats.urls")),
    path("", include("recommender.urls")),
]


def media_serve(request, path):
    """Media on local disk, served by the app itself (S3 serves its own): images and videos only, so that
    nothing in the media folder is ever served as a page or a script of our origin."""
    kind, _ = mimetypes.guess_type(path)
    if not kind or not kind.startswith(("image/", "video/")) or kind == "image/svg+xml":
        raise Http404("Not a media file.")
    return serve(request, path, document_root=settings.MEDIA_ROOT)


if not settings.AWS_STORAGE_BUCKET_NAME:
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", media_serve)]

# Our own error pages (JSON under /api); with DEBUG off, Django never shows its debug pages.
handler400 = "higgs_project.errors.bad_request"
handler403 = "higgs_project.errors.permission_denied"
handler404 = "higgs_project.errors.page_not_found"
handler500 = "higgs_project.errors.server_error"
