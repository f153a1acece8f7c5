"""`manage.py sync_catalog`: fetch the styles and motions from the Higgsfield API into the catalogue."""

from django.core.management.base import BaseCommand, CommandError

from generation.higgsfield import HiggsfieldClient, HiggsfieldError
from recommender.catalogue import CatalogueError, catalogue_import, catalogue_parse


class Command(BaseCommand):
    help = "Fetch image styles and motions from Higgsfield (needs HIGGSFIELD_KEY_ID and _SECRET) and import them."

    def handle(self, *args, **options):
        try:
            with HiggsfieldClient() as client:
                raw_styles, raw_motions = client.catalogue()
            styles = catalogue_parse(raw_styles, source="Higgsfield styles", with_start_end_frame=False)
            motions = catalogue_parse(raw_motions, source="Higgsfield motions", with_start_end_frame=True)
        except (HiggsfieldError, CatalogueError) as exc:
            raise CommandError(str(exc)) from exc
        report = catalogue_import(styles=styles, motions=motions)
        self.stdout.write(f"styles: {report.styles}")
        self.stdout.write(f"motions: {report.motions}")
