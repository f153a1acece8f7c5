"""Higgsfield's model catalogue as request-body schemas, for the fake platform and its tests.

The catalogue is higgsfield_models.json beside this module: our dated snapshot (2026-11-30) of the 48 models of
Higgsfield's published OpenAPI spec, with their input schemas (its `source` field says where each fact comes from).
From it we build, per model path:

- a JSON Schema (draft 2020-12) of the request body, which the fake validates every submission with, and
- an OpenAPI document shaped like docs.higgsfield.ai/docs/openapi.json, which the fake serves, and which
  `request_schemas_from_openapi` reads back (the tests check the two agree).

It is kept apart from our own model table (generation/catalog/models.json, what we offer): the fake checks
submissions against Higgsfield's facts, not against our reading of them. `HIGGSFIELD_MODELS_JSON` points at a newer
copy of the same file.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

__all__ = [
    "DEFAULT_MODELS_JSON",
    "ITEM_SCHEMAS",
    "MODELS_JSON_ENV",
    "SCHEMA_DIALECT",
    "load_models",
    "model_path",
    "models_json_path",
    "openapi_document",
    "param_type",
    "request_schema",
    "request_schemas",
    "request_schemas_from_openapi",
    "validation_errors",
]

MODELS_JSON_ENV = "HIGGSFIELD_MODELS_JSON"
DEFAULT_MODELS_JSON = Path(__file__).resolve().parent / "higgsfield_models.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The spec's item refs (#/definitions/MotionSchema, #/definitions/ImageUrlInputImageSchema) point at nothing
# (NOTES.md, "Spec defects"). Their shapes come from the generated catalogue's item fields and the SDKs:
# a motion is {id: a motion uuid from /v1/motions, strength: 0..1}; an input image is
# {type: "image_url", image_url}. Requiring every field and refusing others is our (strict) reading.
ITEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "MotionSchema": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "strength": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["id", "strength"],
        "additionalProperties": False,
    },
    "ImageUrlInputImageSchema": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "const": "image_url"},
            "image_url": {"type": "string", "format": "uri"},
        },
        "required": ["type", "image_url"],
        "additionalProperties": False,
    },
}
_REF_PREFIX = "#/definitions/"

# models.json key -> JSON Schema keyword (models.json spells the spec's constraints in snake case).
_CONSTRAINTS = {
    "min": "minimum",
    "max": "maximum",
    "min_items": "minItems",
    "max_items": "maxItems",
    "min_length": "minLength",
    "max_length": "maxLength",
    "multiple_of": "multipleOf",
    "format": "format",
}


# --- Loading ---


def models_json_path() -> Path:
    return Path(os.environ.get(MODELS_JSON_ENV) or DEFAULT_MODELS_JSON)


def load_models(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The `models` list of models.json: dicts with id, path, kind, input, family and params."""
    source = Path(path) if path is not None else models_json_path()
    with source.open(encoding="utf-8") as file:
        return json.load(file)["models"]


def model_path(model: Mapping[str, Any]) -> str:
    """The model's URL path. Most are "/" + id; some keep a prefix the id drops (/higgsfield-ai/soul/standard)."""
    return model.get("path") or "/" + model["id"].strip("/")


# --- JSON Schema of a request body ---


def param_type(param: Mapping[str, Any]) -> str | None:
    """The param's JSON type; with none given, inferred from its enum values (the spec leaves `type` out on
    soul/standard resolution and hailuo-02 standard duration, NOTES.md)."""
    if param.get("type"):
        return param["type"]
    values = param.get("enum") or []
    if not values:
        return None
    if all(isinstance(value, bool) for value in values):
        return "boolean"
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "integer"
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        return "number"
    if all(isinstance(value, str) for value in values):
        return "string"
    return None


def _keywords(source: Mapping[str, Any]) -> dict[str, Any]:
    """type, enum and the constraints of a param or an item, as JSON Schema keywords."""
    schema: dict[str, Any] = {}
    kind = param_type(source)
    if kind is not None:
        schema["type"] = kind
    if "enum" in source:
        schema["enum"] = list(source["enum"])  # integer enums stay numbers: Kling duration is [5, 10]
    for key, keyword in _CONSTRAINTS.items():
        if key in source:
            schema[keyword] = source[key]
    return schema


def _item_schema(items: Mapping[str, Any]) -> dict[str, Any]:
    ref = items.get("ref")
    if ref is None:
        return _keywords(items)
    return _resolve(ref)


def _resolve(ref: str) -> dict[str, Any]:
    # A ref we know no shape for (a model a test added) takes any object.
    return copy.deepcopy(ITEM_SCHEMAS.get(ref, {"type": "object"}))


def _param_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    schema = _keywords(param)
    if "default" in param:
        schema["default"] = param["default"]
    if "items" in param:
        schema["items"] = _item_schema(param["items"])
    return schema


def _body_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,  # an unknown field is refused, like style_id on soul/standard
    }


def request_schema(model: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the model's request body."""
    params = model.get("params", [])
    return _body_schema(
        {param["name"]: _param_schema(param) for param in params},
        [param["name"] for param in params if param.get("required")],
    )


def request_schemas(models: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Model path -> request body schema."""
    return {model_path(model): request_schema(model) for model in models}


# --- The OpenAPI document, as docs.higgsfield.ai serves it ---


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def _openapi_property(param: Mapping[str, Any]) -> dict[str, Any]:
    # Only the spec's own type: where it gives none (soul/standard resolution), neither do we.
    prop: dict[str, Any] = {}
    if "enum" in param:
        prop["enum"] = list(param["enum"])
    if param.get("type"):
        prop["type"] = param["type"]
    prop["title"] = _title(param["name"])
    if "default" in param:
        prop["default"] = param["default"]
    elif not param.get("required"):
        prop["default"] = None  # models.json drops the spec's `"default": null`; put it back
    for key, keyword in _CONSTRAINTS.items():
        if key in param:
            prop[keyword] = param[key]
    if "items" in param:
        items = param["items"]
        if items.get("ref"):
            prop["items"] = {"$ref": _REF_PREFIX + items["ref"]}  # dangling, as in the real spec
        else:
            prop["items"] = _keywords(items)
    return prop


def _request_id_parameter() -> list[dict[str, Any]]:
    return [
        {
            "name": "request_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid", "title": "Request Id"},
        }
    ]


def openapi_document(models: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The models as an OpenAPI document shaped like Higgsfield's published one (NOTES.md "Spec metadata").

    Its quirks are kept on purpose, so a reader of ours meets what it would meet upstream: no version,
    securitySchemes at the top level (not under components), the cancel operation reusing the status
    operation's summary and operationId, the misplaced $ref in the status answer, dangling item refs.
    """
    paths: dict[str, Any] = {
        "/requests/{request_id}/status": {
            "get": {
                "summary": "Get Generation Status",
                "operationId": "get_request_status",
                "parameters": _request_id_parameter(),
                "responses": {
                    "200": {"description": "Successful Response", "$ref": "#/components/schemas/RequestStatus"}
                },
            }
        },
        "/requests/{request_id}/cancel": {
            "post": {
                "summary": "Get Generation Status",
                "operationId": "get_request_status",
                "parameters": _request_id_parameter(),
                "responses": {"202": {"description": "Successful Response"}},
            }
        },
    }
    for model in models:
        params = model.get("params", [])
        schema = {
            "type": "object",
            "properties": {param["name"]: _openapi_property(param) for param in params},
            "required": [param["name"] for param in params if param.get("required")],
        }
        paths[model_path(model)] = {
            "post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                "responses": {
                    "200": {
                        "description": "The request status",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RequestStatus"}}},
                    }
                },
            }
        }
    return {
        "info": {"title": "API Reference"},
        "servers": [{"url": "https://platform.higgsfield.ai"}],
        "securitySchemes": {
            "authKey": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "{api_key_id}:{api_key_secret}",
            }
        },
        "x-mcp": {"enabled": True},
        "paths": paths,
        "components": {
            "schemas": {
                "RequestStatus": {
                    "title": "Request",
                    "type": "object",
                    "properties": {
                        "status": {
                            "enum": ["queued", "in_progress", "nsfw", "failed", "completed", "canceled"],
                            "title": "Status",
                            "type": "string",
                        },
                        "request_id": {"type": "string", "format": "uuid"},
                        "status_url": {"type": "string", "format": "uri"},
                        "cancel_url": {"type": "string", "format": "uri"},
                    },
                    "required": ["status", "request_id"],
                }
            }
        },
        "security": [{"authKey": []}],
    }


def _read_property(prop: Mapping[str, Any]) -> dict[str, Any]:
    schema = {key: value for key, value in prop.items() if key != "title"}
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    if "type" not in schema and param_type(schema):
        schema["type"] = param_type(schema)
    items = schema.get("items")
    if isinstance(items, Mapping) and "$ref" in items:
        ref = items["$ref"].removeprefix(_REF_PREFIX)
        schema["items"] = _resolve(ref)  # with the shapes we know
    return schema


def request_schemas_from_openapi(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Model path -> request body schema, read back from an OpenAPI document such as `openapi_document`'s.

    Titles and null defaults are dropped, a missing type is inferred from the enum and the dangling item refs
    are resolved with ITEM_SCHEMAS, so the result compares equal to `request_schemas` of the same models.
    """
    schemas = {}
    for path, operations in document["paths"].items():
        if path.startswith("/requests/"):
            continue
        body = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
        schemas[path] = _body_schema(
            {name: _read_property(prop) for name, prop in body.get("properties", {}).items()},
            list(body.get("required", [])),
        )
    return schemas


# --- Validation, answered the way FastAPI does ---


def _multiple_of(validator: Any, factor: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # jsonschema's own check divides floats exactly, so it refuses cfg_scale 0.07 or 0.29 against
    # multipleOf 0.01 (0.29 / 0.01 == 28.999999999999996); pydantic upstream allows for rounding. So do we.
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    quotient = instance / factor
    if not math.isfinite(quotient) or abs(quotient - round(quotient)) > 1e-9 * max(1.0, abs(quotient)):
        yield ValidationError(f"{instance!r} is not a multiple of {factor}")


_Validator = validators.extend(Draft202012Validator, {"multipleOf": _multiple_of})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    """An absolute URL, as pydantic's URL types take one: a scheme, and a host for the web schemes."""
    if not isinstance(value, str):
        return True  # the type keyword speaks for other types
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if not _SCHEME.fullmatch(parts.scheme) or value.strip() != value:
        return False
    if parts.scheme.lower() in ("http", "https", "ws", "wss", "ftp"):
        return bool(parts.hostname)
    return bool(value.partition(":")[2])


@_FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _expected(values: Iterable[Any]) -> str:
    # pydantic's wording: "Input should be 5 or 10", "Input should be '2K' or '4K'"
    shown = [repr(value) if isinstance(value, str) else json.dumps(value) for value in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


_TYPE_ERRORS = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
}
_TYPE_KINDS = frozenset(kind for kind, _ in _TYPE_ERRORS.values())


def _kind_and_message(error: ValidationError) -> tuple[str, str]:
    """pydantic v2's error type and message for a jsonschema error (what FastAPI would answer)."""
    keyword, expected, found = error.validator, error.validator_value, error.instance
    if keyword == "type":
        return _TYPE_ERRORS.get(expected, ("type_error", f"Input should be of type {expected}"))
    if keyword == "enum":
        return "enum", f"Input should be {_expected(expected)}"
    if keyword == "const":
        return "literal_error", f"Input should be {_expected([expected])}"
    if keyword == "minimum":
        return "greater_than_equal", f"Input should be greater than or equal to {expected}"
    if keyword == "maximum":
        return "less_than_equal", f"Input should be less than or equal to {expected}"
    if keyword == "multipleOf":
        return "multiple_of", f"Input should be a multiple of {expected}"
    if keyword == "minLength":
        return "string_too_short", f"String should have at least {expected} characters"
    if keyword == "maxLength":
        return "string_too_long", f"String should have at most {expected} characters"
    if keyword == "minItems":
        return "too_short", f"List should have at least {expected} items after validation, not {len(found)}"
    if keyword == "maxItems":
        return "too_long", f"List should have at most {expected} items after validation, not {len(found)}"
    if keyword == "format" and expected == "uri":
        return "url_parsing", "Input should be a valid URL"
    if keyword == "format" and expected == "uuid":
        return "uuid_parsing", "Input should be a valid UUID"
    return str(keyword), error.message


def validation_errors(schema: Mapping[str, Any], body: Any) -> list[dict[str, Any]]:
    """Every way `body` breaks `schema`, as the items of FastAPI's 422 detail:
    [{"loc": ["body", field, ...], "msg": ..., "type": ...}], in the schema's field order. Empty when valid."""
    found: list[dict[str, Any]] = []
    for error in _Validator(schema, format_checker=_FORMATS).iter_errors(body):
        where = ["body", *error.absolute_path]
        if error.validator == "required":
            # One error per missing name; the name is in the message only, so list what is missing here.
            names = [name for name in error.validator_value if name not in error.instance]
            found += [{"loc": [*where, name], "msg": "Field required", "type": "missing"} for name in names]
        elif error.validator == "additionalProperties":
            known = error.schema.get("properties", {})
            found += [
                {"loc": [*where, name], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
                for name in error.instance
                if name not in known
            ]
        else:
            kind, message = _kind_and_message(error)
            found.append({"loc": where, "msg": message, "type": kind})

    # A value of the wrong type also misses its enum ("5" for Kling's [5, 10]); report the type alone,
    # as pydantic does. And report each (place, kind) once.
    mistyped = {tuple(item["loc"]) for item in found if item["type"] in _TYPE_KINDS}
    unique: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in found:
        loc = tuple(item["loc"])
        if loc in mistyped and item["type"] not in _TYPE_KINDS:
            continue
        unique.setdefault((loc, item["type"]), item)

    order = list(schema.get("properties", {}))

    def position(item: dict[str, Any]) -> int:
        field = item["loc"][1] if len(item["loc"]) > 1 else None
        return order.index(field) if field in order else len(order)

    return sorted(unique.values(), key=position)
