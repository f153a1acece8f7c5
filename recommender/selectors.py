"""Reads of the style and motion catalogues, in the order the catalogue lists them."""

from django.db.models import QuerySet

from recommender.models import Motion, Style


def style_list(*, enabled_only: bool = True) -> QuerySet[Style]:
    styles = Style.objects.all()
    if enabled_only:
        styles = styles.filter(enabled=True)
    return styles.order_by("sort_order", "name")


def motion_list(*, enabled_only: bool = True) -> QuerySet[Motion]:
    motions = Motion.objects.all()
    if enabled_only:
        motions = motions.filter(enabled=True)
    return motions.order_by("sort_order", "name")
