"""The Higgsfield catalogue: image styles and video motions, as the recommender offers them."""

from django.db import models


class CatalogueEntry(models.Model):
    # The Higgsfield id, so that options and generations refer to what the platform knows.
    id = models.UUIDField(primary_key=True, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    preview_url = models.URLField(max_length=1000, blank=True)
    enabled = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name


class Style(CatalogueEntry):
    class Meta(CatalogueEntry.Meta):
        indexes = [models.Index(fields=["enabled", "sort_order"], name="style_enabled_order_idx")]


class Motion(CatalogueEntry):
    start_end_frame = models.BooleanField(
        default=False, help_text="The motion can take an end frame as well as a start frame."
    )

    class Meta(CatalogueEntry.Meta):
        indexes = [models.Index(fields=["enabled", "sort_order"], name="motion_enabled_order_idx")]
