"""The JSON API under /api: authentication, error shapes and the routers of each app."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import HttpError

from chats.api import router as chats_router
from chats.auth import api_auth
from chats.pagination import CursorError
from chats.services import ServiceError
from chats.uploads import UploadError
from generation.api import router as generation_router
from generation.services import GenerationError
from recommender.api import router as catalogue_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Higgs API",
    version="1",
    description='Chats, messages, options and the Higgsfield catalogue. Errors answer `{"detail": ...}`.',
    auth=api_auth,
)


def _error(request, status: int, detail):
    return api.create_response(request, {"detail": detail}, status=status)


@api.exception_handler(Http404)
def not_found(request, exc):
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(CursorError)
def bad_cursor(request, exc):
    return _error(request, 400, str(exc))


@api.exception_handler(ServiceError)
def refused(request, exc):
    return _error(request, 422, str(exc))


@api.exception_handler(UploadError)
def upload_refused(request, exc):
    return _error(request, exc.status, str(exc))


@api.exception_handler(GenerationError)
def generation_refused(request, exc):
    return _error(request, exc.status, str(exc))


@api.exception_handler(RequestDataTooBig)
def too_big(request, exc):
    return _error(request, 413, "The request body is too large.")


@api.exception_handler(HttpError)
def http_error(request, exc):
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Exception)
def unexpected(request, exc):
    # Only known error types reach the client with their words; the rest is logged.
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    return _error(request, 500, "Something went wrong on our side. Please try again.")


@api.get("/health", auth=None, tags=["health"])
def health(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        logger.exception("Health check: the database does not answer")
        checks["database"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    return api.create_response(
        request, {"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503
    )


api.add_router("", chats_router)
api.add_router("", catalogue_router)
api.add_router("", generation_router)
