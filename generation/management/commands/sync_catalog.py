"""`manage.py sync_catalog`: fetch the styles and motions from the Higgsfield API into the catalogue."""

from django.core.management.base import BaseCommand, CommandError

from generation.catalogue import CatalogueError, catalogue_sync_from_higgsfield


class Command(BaseCommand):
    help = "Fetch image styles and motions from Higgsfield (needs HIGGSFIELD_KEY_ID and _SECRET) and import them."

    def handle(self, *args, **options):
        try:
            report = catalogue_sync_from_higgsfield()
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"styles: {report.styles}")
        self.stdout.write(f"motions: {report.motions}")
