"""`manage.py sync_models`: refresh the model table from Higgsfield's published OpenAPI document."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.higgsfield import HiggsfieldClient, HiggsfieldError
from generation.model_catalogue import ModelCatalogueError, models_sync
from generation.models import CatalogueSync


class Command(BaseCommand):
    help = (
        "Read Higgsfield's models and input schemas from its OpenAPI document (HIGGSFIELD_OPENAPI_URL, or --file) "
        "and update the model table: new models are added switched off, models no longer published are removed, "
        "or disabled when jobs or options refer to them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", help="The OpenAPI document's URL (default: HIGGSFIELD_OPENAPI_URL).")
        parser.add_argument("--file", help="Read the OpenAPI document from a file instead.")

    def handle(self, *args, url=None, file=None, **options):
        try:
            if file:
                with open(file, encoding="utf-8") as handle:
                    spec = json.load(handle)
            else:
                with HiggsfieldClient() as client:
                    spec = client.openapi(url or settings.HIGGSFIELD_OPENAPI_URL)
            report = models_sync(spec=spec)
        except (OSError, ValueError, HiggsfieldError, ModelCatalogueError) as exc:
            raise CommandError(str(exc)) from exc
        lines = report.lines()
        CatalogueSync.objects.create(kind=CatalogueSync.Kind.MODELS, summary="\n".join(lines))
        for line in lines:
            self.stdout.write(line)
