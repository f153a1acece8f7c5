"""The models we offer, as data: loading our snapshot of Higgsfield's catalogue, refreshing it from Higgsfield's
published OpenAPI document (sync_models), and reading it (which model a name means, which are offered).

Higgsfield owns the facts (paths, input schemas); we own the offer (names, labels, prices, order, enabled).
A sync changes only the facts, adds what is new switched off for staff to review, and never deletes a model
that a job or an option refers to: it retires and disables it instead.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from .model_schema import kind_of, schema_from_openapi
from .models import Generation, GenerationModel, ModelAlias

SNAPSHOT = Path(__file__).resolve().parent / "catalog" / "models.json"
# Paths of the spec that are not models (status, cancel, uploads, the v1 catalogue lists).
_NOT_MODELS = ("/requests/", "/files/", "/v1/")
_FACTS = ("path", "mode", "input_schema")


class ModelCatalogueError(Exception):
    """A snapshot or spec we cannot read; the message says what is wrong with it."""


# --- Reading ---


@dataclass(frozen=True)
class Resolved:
    """A name a client sent, and the model it means; `note` says so when a stand-in was used."""

    model: GenerationModel
    note: str = ""


def model_resolve(*, name: str, enabled_only: bool = True) -> Resolved | None:
    """The model a client's name means: a model of that name, or the stand-in of an alias."""
    models = GenerationModel.objects.filter(enabled=True) if enabled_only else GenerationModel.objects.all()
    model = models.filter(name=name).first()
    if model is not None:
        return Resolved(model)
    alias = ModelAlias.objects.select_related("model").filter(name=name).first()
    if alias is not None and (alias.model.enabled or not enabled_only):
        return Resolved(alias.model, alias.note)
    return None


def model_get(name: str) -> GenerationModel | None:
    """The model of this name, enabled or not (jobs keep the name of the model they ran on)."""
    return GenerationModel.objects.filter(name=name).first()


def model_list(*, kind: str | None = None, enabled_only: bool = True) -> list[GenerationModel]:
    models = GenerationModel.objects.all()
    if enabled_only:
        models = models.filter(enabled=True)
    if kind:
        models = models.filter(mode=kind)
    return list(models.order_by("sort_order", "name"))


def model_names(*, enabled_only: bool = True) -> list[str]:
    models = GenerationModel.objects.filter(enabled=True) if enabled_only else GenerationModel.objects.all()
    return list(models.order_by("sort_order", "name").values_list("name", flat=True))


# --- The snapshot we ship ---


def snapshot_read(path: Path = SNAPSHOT) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelCatalogueError(f"{path}: cannot read the model snapshot: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ModelCatalogueError(f"{path}: expected an object with a list of models")
    return data


@transaction.atomic
def models_load_snapshot(*, path: Path = SNAPSHOT, if_empty: bool = True) -> int:
    """Fill the model table from our snapshot; with if_empty, only a table that has no models yet.

    Returns how many models were written. Rows already there keep what staff set (offer, price, order).
    """
    if if_empty and GenerationModel.objects.exists():
        return 0
    data = snapshot_read(path)
    existing = {m.name: m for m in GenerationModel.objects.all()}
    written = 0
    for entry in data["models"]:
        if entry["name"] in existing:
            continue
        GenerationModel.objects.create(
            name=entry["name"],
            label=entry["label"],
            summary=entry.get("summary", ""),
            mode=entry["mode"],
            enabled=entry.get("enabled", False),
            credits=entry.get("credits", 1),
            sort_order=entry.get("sort_order", 0),
            provider_id=entry["provider_id"],
            path=entry["path"],
            family=entry.get("family", ""),
            input=entry.get("input", ""),
            with_image=entry.get("with_image", ""),
            input_schema=entry["schema"],
        )
        written += 1
    for alias in data.get("aliases", []):
        model = GenerationModel.objects.filter(name=alias["model"]).first()
        if model is not None:
            ModelAlias.objects.get_or_create(name=alias["name"], defaults={"model": model, "note": alias["note"]})
    return written


# --- Refreshing from Higgsfield's published spec ---


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)  # kept (disabled): jobs or options refer to them
    removed: list[str] = field(default_factory=list)  # deleted: nothing referred to them
    unchanged: int = 0

    def lines(self) -> list[str]:
        def names(items):
            return ", ".join(items) if items else "none"

        return [
            f"added (switched off until staff enable them): {names(self.added)}",
            f"changed: {names(self.changed)}",
            f"retired and disabled (still referred to): {names(self.retired)}",
            f"removed: {names(self.removed)}",
            f"unchanged: {self.unchanged}",
        ]


def spec_models(spec) -> list[dict]:
    """The models of an OpenAPI document: {provider_id, path, mode, schema} for each POST model path."""
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        raise ModelCatalogueError("The document is not an OpenAPI spec: it has no paths.")
    found = []
    for path, operations in spec["paths"].items():
        if not isinstance(path, str) or path.startswith(_NOT_MODELS) or "{" in path:
            continue
        post = operations.get("post") if isinstance(operations, dict) else None
        if not isinstance(post, dict):
            continue
        try:
            raw = post["requestBody"]["content"]["application/json"]["schema"]
            schema = schema_from_openapi(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCatalogueError(f"{path}: its request body cannot be read ({exc}).") from None
        provider_id = path.strip("/").removeprefix("higgsfield-ai/")
        found.append(
            {"provider_id": provider_id, "path": path, "mode": kind_of(path=path, schema=schema), "schema": schema}
        )
    if not found:
        raise ModelCatalogueError("The spec lists no models.")
    return found


def _referred(model: GenerationModel) -> bool:
    from chats.models import Option

    names = [model.name, *model.aliases.values_list("name", flat=True)]
    return (
        Generation.objects.filter(model_key__in=names).exists() or Option.objects.filter(model_key__in=names).exists()
    )


def _derived_name(provider_id: str) -> str:
    return provider_id.replace("/", "-").replace(".", "-")[:64]


@transaction.atomic
def models_sync(*, spec) -> SyncReport:
    """Make the table's facts match a published spec; see the module docstring for what is kept."""
    report = SyncReport()
    wanted = {entry["provider_id"]: entry for entry in spec_models(spec)}
    existing = {m.provider_id: m for m in GenerationModel.objects.select_for_update()}
    for provider_id, entry in wanted.items():
        model = existing.pop(provider_id, None)
        if model is None:
            name = _derived_name(provider_id)
            while GenerationModel.objects.filter(name=name).exists():
                name = f"{name[:60]}-{len(report.added) + 1}"
            GenerationModel.objects.create(
                name=name,
                label=provider_id,
                mode=entry["mode"],
                enabled=False,
                credits=1 if entry["mode"] == GenerationModel.Mode.TEXT_TO_IMAGE else 5,
                sort_order=10_000,
                provider_id=provider_id,
                path=entry["path"],
                input_schema=entry["schema"],
            )
            report.added.append(name)
            continue
        facts = {"path": entry["path"], "input_schema": entry["schema"], "retired": False}
        # The spec does not say image or video; a model we know keeps the mode we gave it.
        if any(getattr(model, k) != v for k, v in facts.items()):
            for k, v in facts.items():
                setattr(model, k, v)
            model.save()
            report.changed.append(model.name)
        else:
            report.unchanged += 1
    for model in existing.values():
        if _referred(model):
            if not model.retired or model.enabled:
                model.retired, model.enabled = True, False
                model.save(update_fields=["retired", "enabled", "updated_at"])
            report.retired.append(model.name)
        else:
            report.removed.append(model.name)
            model.delete()
    return report


_labels: dict = {"at": 0.0, "labels": {}}
LABELS_SECONDS = 30.0


def model_labels() -> dict[str, str]:
    """Every model's label by name (aliases too), for showing options and jobs.

    Pages show many labels: they are read once per LABELS_SECONDS per process, and at once again after a
    change made in this process (see GenerationConfig.ready).
    """
    now = time.monotonic()
    if now - _labels["at"] > LABELS_SECONDS:
        labels = dict(GenerationModel.objects.values_list("name", "label"))
        aliases = ModelAlias.objects.values_list("name", "model__name")
        labels |= {alias: labels.get(target, target) for alias, target in aliases}
        _labels.update(at=now, labels=labels)
    return _labels["labels"]


def model_labels_forget(**kwargs) -> None:
    _labels["at"] = 0.0
