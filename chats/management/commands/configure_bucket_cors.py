"""`manage.py configure_bucket_cors`: let browsers on CORS_ALLOWED_ORIGINS PUT presigned uploads to the S3 bucket."""

from django.core.management.base import BaseCommand, CommandError

from chats.uploads import UploadError, bucket_cors_configure


class Command(BaseCommand):
    help = "Set the S3 bucket's CORS rule so that browsers on CORS_ALLOWED_ORIGINS can PUT uploads and read files."

    def handle(self, *args, **options):
        try:
            rules = bucket_cors_configure()
        except UploadError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Bucket CORS set: PUT, GET, HEAD from {', '.join(rules[0]['AllowedOrigins']) or 'no origin'}."
        )
