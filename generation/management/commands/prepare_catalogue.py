"""`manage.py prepare_catalogue`: what `make run` does before serving, so a fresh clone has a catalogue.

With Higgsfield keys and a catalogue never synced, the styles and motions come from Higgsfield; otherwise (or
when Higgsfield cannot be reached) an empty catalogue gets the styles and motions of our snapshot in
generation/catalog/. The models come from our snapshot at migrate time.
"""

from django.core.management.base import BaseCommand

from generation.catalogue import (
    SNAPSHOT_DIR,
    CatalogueError,
    catalogue_import,
    catalogue_read_dir,
    catalogue_sync_from_higgsfield,
)
from generation.models import CatalogueSync
from generation.providers import HIGGSFIELD, provider_name
from generation.selectors import motion_list, style_list


class Command(BaseCommand):
    help = "Sync the style and motion catalogue from Higgsfield on first run with keys, else load our snapshot."

    def handle(self, *args, **options):
        synced = CatalogueSync.objects.filter(kind=CatalogueSync.Kind.STYLES_AND_MOTIONS).exists()
        if provider_name() == HIGGSFIELD and not synced:
            try:
                report = catalogue_sync_from_higgsfield()
            except CatalogueError as exc:
                self.stderr.write(f"The catalogue could not be synced from Higgsfield: {exc}")
            else:
                self.stdout.write(
                    f"Catalogue synced from Higgsfield: styles {report.styles}; motions {report.motions}."
                )
                return
        if style_list(enabled_only=False).exists() or motion_list(enabled_only=False).exists():
            return
        styles, motions = catalogue_read_dir(SNAPSHOT_DIR)
        report = catalogue_import(styles=styles, motions=motions)
        self.stdout.write(f"Catalogue snapshot loaded: styles {report.styles}; motions {report.motions}.")
