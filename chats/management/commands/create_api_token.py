from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chats.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USER and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to recognise the token by.")
        parser.add_argument("--create-user", action="store_true", help="Create the user if it does not exist.")

    def handle(self, *args, username, name, create_user, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user named {username!r}. Pass --create-user to create one.")
            user = User(username=username)
            user.set_unusable_password()
            user.save()
        token, raw = api_token_create(user=user, name=name)
        self.stderr.write(f"Token {token.prefix}… created for {username}. It is shown once; keep it safe:")
        self.stdout.write(raw)
