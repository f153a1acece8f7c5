"""Error answers for everything Django itself refuses (a bad request, a forbidden one, a page that is not
there, a crash): our own pages in the app's look, with a way back, and JSON under /api, never a debug page.

The API's own errors are answered by its exception handlers (higgs_project.api); these cover what never
reaches them (an unknown /api path, a request Django refuses before any view).
"""

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader

PAGES = {
    400: ("Bad request", "That request could not be understood."),
    403: ("Not allowed", "You do not have access to that page. If you think you should, log in again."),
    404: ("Not found", "There is nothing here, or it is not yours."),
}


def _is_api(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def _answer(request, status: int):
    title, detail = PAGES[status]
    if _is_api(request):
        return JsonResponse({"detail": detail}, status=status)
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def bad_request(request, exception=None):
    return _answer(request, 400)


def permission_denied(request, exception=None):
    return _answer(request, 403)


def page_not_found(request, exception=None):
    return _answer(request, 404)


def csrf_failure(request, reason=""):
    return _answer(request, 403)


def server_error(request):
    # No context processors here: whatever failed must not fail again while drawing the page.
    if _is_api(request):
        return JsonResponse({"detail": "Something went wrong on our side. Please try again."}, status=500)
    return HttpResponseServerError(loader.get_template("500.html").render())
