"""`manage.py create_anonymous_api_user NAME`: the dedicated account API calls without credentials act as.

Only for a single person's local use (a frontend on your own machine that sends no credentials): with
API_ANONYMOUS_USER=NAME set, every caller without credentials is this one account and sees its chats.
"""

from django.core.management.base import BaseCommand, CommandError

from chats.errors import ServiceError
from chats.services import api_anonymous_user_create


class Command(BaseCommand):
    help = "Create the account that API calls without credentials act as when API_ANONYMOUS_USER names it."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user, created = api_anonymous_user_create(username=username)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        if not user.is_active:
            self.stdout.write(f"The anonymous API account {username!r} is deactivated; it stays so.")
        elif created:
            self.stdout.write(f"Made the anonymous API account {username!r}.")
