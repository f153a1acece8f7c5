"""The recommender reads the catalogue of styles, motions and models that generation owns (generation.models);
its one table of its own is when each person last reset what it learned of their taste (recommender.taste)."""

from django.conf import settings
from django.db import models


class TasteReset(models.Model):
    """A person's taste is learned from their choices after this moment: a reset moves it to now."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="taste_reset"
    )
    reset_at = models.DateTimeField()

    def __str__(self):
        return f"taste of {self.owner_id} since {self.reset_at:%Y-%m-%d %H:%M}"
