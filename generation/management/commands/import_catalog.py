"""`manage.py import_catalog`: load a style and motion catalogue directory, or the snapshot the project ships."""

from django.core.management.base import BaseCommand, CommandError

from generation.catalogue import SNAPSHOT_DIR, CatalogueError, catalogue_import, catalogue_read_dir
from generation.selectors import motion_list, style_list


class Command(BaseCommand):
    help = (
        "Import image_styles.json and motions.json from DIR (or our snapshot, generation/catalog/, with --starter): "
        "upsert by id, and disable entries that are no longer listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", nargs="?", help="A directory holding image_styles.json and motions.json.")
        parser.add_argument("--starter", action="store_true", help="Import the catalogue snapshot shipped with us.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when any style or motion already exists."
        )

    def handle(self, *args, dir=None, starter=False, if_empty=False, **options):
        if starter == bool(dir):
            raise CommandError("Give either a directory or --starter.")
        if if_empty and (style_list(enabled_only=False).exists() or motion_list(enabled_only=False).exists()):
            self.stdout.write("The catalogue is not empty; nothing imported.")
            return

        try:
            styles, motions = catalogue_read_dir(SNAPSHOT_DIR if starter else dir)
        except CatalogueError as e:
            raise CommandError(str(e)) from e
        report = catalogue_import(styles=styles, motions=motions)

        self.stdout.write(f"styles: {report.styles}")
        self.stdout.write(f"motions: {report.motions}")
