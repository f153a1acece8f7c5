"""The JSON API under /api: authentication, error shapes and the routers of each app."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.parser import Parser

from chats.api import router as chats_router
from chats.errors import ServiceError
from chats.uploads import UploadError
from generation.api import router as generation_router
from generation.catalogue_api import router as catalogue_router
from generation.credits_api import router as credits_router
from generation.services import GenerationError
from higgs_project.apikit.auth import api_auth
from higgs_project.apikit.errors import ErrorOut
from higgs_project.apikit.inputs import contains_nul
from higgs_project.apikit.pagination import CursorError
from higgs_project.apikit.rate_limits import RateLimited
from higgs_project.apikit.rendering import FastJSONRenderer
from recommender.api import router as taste_router

from .readiness import database_check, readiness_checks

logger = logging.getLogger(__name__)

# The errors that the handlers below give any operation with these traits; an operation's own
# `response=` declares the ones particular to it (409, 415, 502...), and those win.
ERRORS = {
    400: "Malformed JSON body or cursor, or text holding a NUL character.",
    401: "No credentials, or bad ones.",
    403: "CSRF check failed (calls with the session cookie).",
    404: "Not found, or not yours.",
    413: "The request body is too large.",
    422: "Invalid input; `detail` lists the faults.",
}


def _error_statuses(method: str, operation: dict) -> set[int]:
    parameters = operation.get("parameters", [])
    statuses = set()
    if operation.get("security"):
        statuses.add(401)
        if method != "get":
            statuses.add(403)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation or any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if "requestBody" in operation or any(p["name"] in ("cursor", "after") for p in parameters):
        statuses.add(400)
    if "requestBody" in operation:
        statuses.add(413)
    return statuses


class TextParser(Parser):
    """JSON bodies and query strings as usual, but text with a NUL character is refused (400), not a 500 later."""

    def parse_body(self, request):
        data = super().parse_body(request)
        if contains_nul(data):
            # ninja answers 400 "Cannot parse request body" to any error raised here.
            raise ValueError("Text may not contain NUL characters.")
        return data

    def parse_querydict(self, data, list_fields, request):
        values = super().parse_querydict(data, list_fields, request)
        for name, value in values.items():
            if contains_nul(name) or contains_nul(value):
                raise HttpError(400, f"The query parameter {name!r} may not contain NUL characters.")
        return values


class HiggsApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        """The schema, with the error answers every operation can give documented (so clients and fuzzers know)."""
        schema = super().get_openapi_schema(**kwargs)
        error_ref = {"$ref": "#/components/schemas/ErrorOut"}
        schema["components"].setdefault("schemas", {}).setdefault(
            "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                for status in sorted(_error_statuses(method, operation)):
                    operation["responses"].setdefault(
                        status,
                        {"description": ERRORS[status], "content": {"application/json": {"schema": error_ref}}},
                    )
        return schema


api = HiggsApi(
    title="Higgs API",
    version="1",
    description='Chats, messages, options and the Higgsfield catalogue. Errors answer `{"detail": ...}`.',
    auth=api_auth,
    parser=TextParser(),
    renderer=FastJSONRenderer(),
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


@api.exception_handler(RateLimited)
def too_many(request, exc):
    # Ahead of ServiceError and GenerationError: ninja takes the first handler along the error's MRO.
    response = _error(request, 429, str(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


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


class HealthOut(Schema):
    status: str
    checks: dict


@api.get("/health", auth=None, tags=["health"], response={200: HealthOut, 503: HealthOut})
def health(request):
    checks = {"database": "ok" if database_check()["status"] == "ok" else "unavailable"}
    ok = all(v == "ok" for v in checks.values())
    return api.create_response(
        request, {"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503
    )


@api.get("/health/ready", auth=None, tags=["health"], response={200: HealthOut, 503: HealthOut})
def health_ready(request):
    """Readiness: the database, the media storage and the task queue (its backlog, the age of its oldest task).

    503 names the failing check and why; a load balancer stops sending traffic until it passes again.
    """
    ready, checks = readiness_checks()
    return api.create_response(
        request, {"status": "ok" if ready else "error", "checks": checks}, status=200 if ready else 503
    )


api.add_router("", chats_router)
api.add_router("", catalogue_router)
api.add_router("", generation_router)
api.add_router("", credits_router)
api.add_router("", taste_router)
