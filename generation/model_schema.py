"""Higgsfield's model input schemas: reading them (from its published spec or our snapshot), checking what a
person asks for against them, and building the request body we send.

Pure functions over JSON Schema dicts; the rows that hold the schemas are generation.models.GenerationModel.
Checks use the `jsonschema` library, so what we accept is exactly what the schema says.
"""

import copy
import math
import re
from collections.abc import Callable

from jsonschema import Draft202012Validator

TEXT_TO_IMAGE = "text_to_image"
IMAGE_TO_VIDEO = "image_to_video"
TEXT_TO_VIDEO = "text_to_video"
KINDS = (TEXT_TO_IMAGE, IMAGE_TO_VIDEO, TEXT_TO_VIDEO)

# The items of these arrays are `$ref`s the published spec leaves dangling (#/definitions/MotionSchema,
# ImageUrlInputImageSchema); their fields are known from Higgsfield's SDKs and the generated catalogue.
ITEM_SCHEMAS = {
    "MotionSchema": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "strength": {"type": "number", "minimum": 0, "maximum": 1}},
        "required": ["id"],
        "additionalProperties": False,
    },
    "ImageUrlInputImageSchema": {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": ["image_url"]}, "image_url": {"type": "string"}},
        "required": ["type", "image_url"],
        "additionalProperties": False,
    },
}

# What we fill in ourselves, never a person's setting: the prompt, the images, the style and the motions.
IMAGE_FIELDS = ("image_url", "image_reference_url", "input_images", "image_urls")
SYSTEM_FIELDS = frozenset({"prompt", *IMAGE_FIELDS, "style_id", "motions"})

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
# What a JSON Schema property may carry once we have read it; titles, descriptions and the like are dropped.
_KEPT = ("type", "enum", "default", *_CONSTRAINTS.values(), "items")


class ParameterError(ValueError):
    """A parameter this model cannot take, or a value out of its range; said before anything is spent.

    `field` names the parameter at fault (empty when the fault is not one field's).
    """

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


# --- Reading schemas ---


def _json_type(values: list) -> str:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def schema_from_params(params: list[dict]) -> dict:
    """The JSON Schema of a request body from the `params` list of Higgsfield's catalogue (models.json)."""
    properties, required = {}, []
    for param in params:
        prop = {}
        kind = param.get("type") or (_json_type(param["enum"]) if param.get("enum") else None)
        if kind:
            prop["type"] = kind
        if "enum" in param:
            prop["enum"] = list(param["enum"])
        if "default" in param:
            prop["default"] = param["default"]
        for ours, theirs in _CONSTRAINTS.items():
            if ours in param:
                prop[theirs] = param[ours]
        items = param.get("items")
        if isinstance(items, dict):
            if items.get("ref") in ITEM_SCHEMAS:
                prop["items"] = copy.deepcopy(ITEM_SCHEMAS[items["ref"]])
            else:
                prop["items"] = {k: v for k, v in items.items() if k in ("type", "format")}
                if "min_length" in items:
                    prop["items"]["minLength"] = items["min_length"]
        properties[param["name"]] = prop
        if param.get("required"):
            required.append(param["name"])
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def schema_from_openapi(schema: dict) -> dict:
    """A request body schema from Higgsfield's OpenAPI document, in the same normal form as schema_from_params.

    Titles and `default: null` are dropped; dangling `$ref` items are replaced by the known item shapes;
    a property with an enum but no type gets the enum's type (the spec leaves it out on a few).
    """
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise ValueError("the request body schema has no properties")
    properties = {}
    for name, raw in schema["properties"].items():
        if not isinstance(raw, dict):
            raise ValueError(f"property {name!r} is not an object")
        prop = {k: copy.deepcopy(v) for k, v in raw.items() if k in _KEPT}
        if prop.get("default", 0) is None:
            del prop["default"]
        if "type" not in prop and prop.get("enum"):
            prop["type"] = _json_type(prop["enum"])
        items = prop.get("items")
        if isinstance(items, dict):
            ref = items.get("$ref", "") or raw.get("items", {}).get("$ref", "")
            ref_name = ref.rsplit("/", 1)[-1]
            if ref and ref_name in ITEM_SCHEMAS:
                prop["items"] = copy.deepcopy(ITEM_SCHEMAS[ref_name])
            elif ref:
                raise ValueError(f"property {name!r} refers to an unknown item shape {ref_name!r}")
            else:
                prop["items"] = {k: v for k, v in items.items() if k in ("type", "format", "minLength")}
        properties[name] = prop
    required = [name for name in schema.get("required", []) if name in properties]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def kind_of(*, path: str, schema: dict, media: str = "") -> str:
    """Our mode for a model: image models make images; a video model is image-to-video when it takes an image.

    `media` is "image" or "video" when the catalogue says; the published spec does not, so the path decides.
    """
    props = schema.get("properties", {})
    if not media:
        video_words = ("video", "dop", "kling", "seedance", "minimax", "hailuo", "sora", "veo", "wan")
        media = "video" if any(word in path.lower() for word in video_words) else "image"
    if media == "image":
        return TEXT_TO_IMAGE
    takes_image = any(f in props for f in (*IMAGE_FIELDS, "first_frame_url"))
    return IMAGE_TO_VIDEO if takes_image and "text-to-video" not in path else TEXT_TO_VIDEO


def parameters_schema(schema: dict) -> dict:
    """What a client may set for a model: its input schema less what we fill in ourselves."""
    props = {k: v for k, v in schema.get("properties", {}).items() if k not in SYSTEM_FIELDS}
    required = [k for k in schema.get("required", []) if k in props and "default" not in props[k]]
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def image_field(schema: dict) -> str:
    """The field a model takes its (first) image in, or "" for a model without one."""
    props = schema.get("properties", {})
    return next((f for f in IMAGE_FIELDS if f in props), "")


def image_required(schema: dict) -> bool:
    field = image_field(schema)
    return bool(field) and field in schema.get("required", [])


# --- Checking what a person asks for ---


def _bound(value) -> str:
    """A schema bound as a person writes it: 1000000, 0.5 (never 1e+06)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _accepts(prop: dict) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(str(v) for v in prop["enum"])
    kind = prop.get("type")
    words = {"integer": "a whole number", "number": "a number", "boolean": "true or false", "string": "text"}
    text = words.get(kind, kind or "a value")
    if "minimum" in prop and "maximum" in prop:
        text += f" from {_bound(prop['minimum'])} to {_bound(prop['maximum'])}"
    elif "minimum" in prop:
        text += f" of at least {_bound(prop['minimum'])}"
    elif "maximum" in prop:
        text += f" of at most {_bound(prop['maximum'])}"
    return text


def _error_message(error, schema: dict, label: str) -> ParameterError:
    props = schema.get("properties", {})
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(props))
        takes = ", ".join(sorted(props)) or "no parameters"
        return ParameterError(
            f"{label} cannot take {', '.join(unknown)} (it takes {takes}).", field=unknown[0] if unknown else ""
        )
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        field = missing[0] if missing else ""
        return ParameterError(f"{label} needs {field}.", field=field)
    field = str(error.absolute_path[0]) if error.absolute_path else ""
    prop = props.get(field, {})
    return ParameterError(f"{field} must be {_accepts(prop)}; got {error.instance!r}.", field=field)


def _non_finite(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    return False


def parameters_check(schema: dict, parameters: dict, *, label: str) -> dict:
    """The parameters, checked against a parameters schema (see parameters_schema); raises ParameterError."""
    if not isinstance(parameters, dict):
        raise ParameterError("parameters must be an object.")
    given = {k: v for k, v in parameters.items() if v is not None}
    for name, value in given.items():
        # JSON has no NaN or Infinity: Python's parser lets them through, jsonschema's number type takes them.
        if _non_finite(value):
            raise ParameterError(f"{name} must be a finite number; got {value!r}.", field=name)
    errors = sorted(Draft202012Validator(schema).iter_errors(given), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        raise _error_message(errors[0], schema, label)
    return given


def _respell(prop: dict, value):
    """A flat legacy field's value in the spelling the model's schema uses: "720p" for "720", "768p" for "768P",
    5 for "5" and "6" for 6. Anything that does not match one of these stays as given (and is refused)."""
    enum = prop.get("enum")
    if enum:
        if value in enum:
            return value
        text = str(value).strip().lower()
        for allowed in enum:
            candidate = str(allowed).lower()
            if text == candidate or text.removesuffix("p") == candidate.removesuffix("p"):
                return allowed
        return value
    if prop.get("type") == "integer" and isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


# Flat fields of the original API whose name differs from the model's own.
LEGACY_NAMES = {"enhance_prompt": ("enhance_prompt", "prompt_optimizer"), "quality": ("quality", "resolution")}


def legacy_parameters(schema: dict, flat: dict, *, label: str) -> tuple[dict, list[str]]:
    """Map the contract's flat fields (aspect_ratio, quality, seed, duration, ...) onto a model's schema.

    A field the model has no place for is left out and said in a note (clients send `seed` and `quality` to
    every model); a value is respelled to the schema's spelling where that is unambiguous.
    """
    props = schema.get("properties", {})
    mapped, notes = {}, []
    for name, value in flat.items():
        if value is None or name in ("style_strength", "motion_strength"):
            continue
        target = next((n for n in LEGACY_NAMES.get(name, (name,)) if n in props), None)
        if target is None:
            notes.append(f"{label} has no {name.replace('_', ' ')} setting: {name}={value!r} was left out.")
            continue
        mapped[target] = _respell(props[target], value)
    return mapped, notes


# --- Building the request body ---


def _with_defaults(schema: dict, body: dict) -> dict:
    """Required fields the body lacks, filled from their defaults (Veo's resolution, Soul character's strength)."""
    props = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in body and "default" in props.get(name, {}):
            body[name] = props[name]["default"]
    return body


def body_build(
    schema: dict,
    *,
    prompt: str,
    parameters: dict,
    image_url: str = "",
    style: dict | None = None,
    motions: list[dict] | None = None,
) -> tuple[dict, list[str]]:
    """The body Higgsfield gets for a model, and notes on how the style and motions were applied.

    `style` and each motion are {"id", "name", "description", "strength"?}. A model whose schema takes a
    style id (Soul reference/character) or motions (DoP, at most 2) gets them as such; any other model gets
    the look or the camera moves written into its prompt, so nothing is dropped silently.
    """
    props = schema.get("properties", {})
    body = {k: v for k, v in parameters.items() if k in props and k not in SYSTEM_FIELDS}
    notes = []
    if style:
        if "style_id" in props:
            body["style_id"] = str(style["id"])
            if style.get("strength") is not None and "style_strength" in props:
                body["style_strength"] = style["strength"]
            notes.append(f"Style “{style['name']}” sent to Higgsfield as the model's own style (style_id).")
        else:
            prompt = f"{prompt} Style: {style['name']}" + (
                f", {_sentence(style['description'])}" if style.get("description") else "."
            )
            notes.append(f"This model takes no style id: the style “{style['name']}” was written into the prompt.")
    for motion in motions or []:
        if "motions" in props:
            # Strength 1.0 unless asked, as Higgsfield's own SDK helper sends it.
            entry = {"id": str(motion["id"]), "strength": motion.get("strength", 1.0)}
            body.setdefault("motions", []).append(entry)
            notes.append(f"Camera move “{motion['name']}” sent to Higgsfield as a motion preset.")
        else:
            prompt = f"{prompt} Camera: {motion['name']}" + (
                f", {_sentence(motion['description'])}" if motion.get("description") else "."
            )
            notes.append(
                f"This model takes no motion presets: the camera move “{motion['name']}” was written into the prompt."
            )
    body["prompt"] = prompt
    if image_url:
        body = body_with_image(schema, body, image_url)
    return _with_defaults(schema, body), notes


def body_with_image(schema: dict, body: dict, image_url: str) -> dict:
    """The body with its image in the model's own field and shape (a URL, a list of URLs, or image objects)."""
    field = image_field(schema)
    if not field:
        return body
    if field == "input_images":
        value = [{"type": "image_url", "image_url": image_url}]
    elif field == "image_urls":
        value = [image_url]
    else:
        value = image_url
    return {**body, field: value}


# --- The URLs in a body ---


def _url_shape(name: str, prop: dict) -> str:
    """How a property carries URLs: "one" (a URL), "list" (URLs), "objects" (items with an image_url), or ""."""
    items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
    if prop.get("type") == "array" or items:
        if items.get("format") == "uri" or name.endswith("_urls"):
            return "list"
        if "image_url" in (items.get("properties") or {}):
            return "objects"
        return ""
    if prop.get("format") == "uri" or name.endswith("_url"):
        return "one"
    return ""


def body_urls(schema: dict, body: dict) -> list[tuple[str, str]]:
    """Every (field, URL) a body (or a person's parameters) carries, in the fields the schema says hold URLs:
    format uri, lists of them, image objects, and names ending in _url or _urls."""
    found = []
    props = schema.get("properties", {})
    for name, value in body.items():
        shape = _url_shape(name, props.get(name, {}))
        if shape == "one" and isinstance(value, str):
            found.append((name, value))
        elif shape == "list" and isinstance(value, list):
            found.extend((name, v) for v in value if isinstance(v, str))
        elif shape == "objects" and isinstance(value, list):
            found.extend((name, v["image_url"]) for v in value if isinstance(v, dict) and "image_url" in v)
    return found


def body_urls_map(schema: dict, body: dict, change: Callable[[str], str]) -> dict:
    """The body with every URL of body_urls passed through `change` (ours made fetchable, say)."""
    props = schema.get("properties", {})
    mapped = dict(body)
    for name, value in body.items():
        shape = _url_shape(name, props.get(name, {}))
        if shape == "one" and isinstance(value, str):
            mapped[name] = change(value)
        elif shape == "list" and isinstance(value, list):
            mapped[name] = [change(v) if isinstance(v, str) else v for v in value]
        elif shape == "objects" and isinstance(value, list):
            mapped[name] = [
                {**v, "image_url": change(v["image_url"])} if isinstance(v, dict) and "image_url" in v else v
                for v in value
            ]
    return mapped


def _sentence(text: str) -> str:
    text = " ".join(text.split()).rstrip(".")
    return (text[:1].lower() + text[1:] + ".") if text else ""


def body_check(schema: dict, body: dict) -> None:
    """Our last look before sending: a body the schema refuses is our fault, refused here rather than upstream."""
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise _error_message(errors[0], schema, "The model")
