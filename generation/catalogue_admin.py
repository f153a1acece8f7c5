"""Admin for what Higgsfield offers: styles and motions (browse, search, switch on and off, reorder), the
models we offer (price, label, order, on and off) and the record of syncs."""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets, model_ngettext
from django.utils.html import format_html

from .catalogue import catalogue_set_enabled
from .models import CatalogueSync, GenerationModel, ModelAlias, Motion, Style


class CatalogueEntryAddForm(forms.ModelForm):
    # The model's id is not editable (it is Higgsfield's), so the add form declares it itself.
    id = forms.UUIDField(label="Higgsfield id", help_text="The id the Higgsfield platform gives this entry.")

    def clean_id(self):
        value = self.cleaned_data["id"]
        model = self._meta.model
        # Without this check, saving an existing id would silently overwrite that entry.
        if model.objects.filter(pk=value).exists():
            raise forms.ValidationError(f"A {model._meta.verbose_name} with this id already exists.")
        return value

    def clean(self):
        cleaned_data = super().clean()
        if "id" in cleaned_data:
            self.instance.id = cleaned_data["id"]
        return cleaned_data


class CatalogueEntryAdmin(admin.ModelAdmin):
    entry_fields = ["name", "description", "preview_url", "enabled", "sort_order"]
    list_display = ["preview", "name", "enabled", "sort_order"]
    list_display_links = ["name"]
    list_editable = ["enabled", "sort_order"]
    list_filter = ["enabled"]
    search_fields = ["name", "description", "id"]
    ordering = ["sort_order", "name"]
    actions = ["enable_selected", "disable_selected"]

    def get_fields(self, request, obj=None):
        return ["id", *self.entry_fields]

    def get_readonly_fields(self, request, obj=None):
        return ["id"] if obj else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CatalogueEntryAddForm
        # A model form refuses a non-editable field by name; on add the id comes from the form's own field.
        fields = kwargs.get("fields") or flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [field for field in fields if field != "id"]
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        # An add must insert; never let a new id fall through to an UPDATE of another row.
        obj.save(force_insert=not change)

    @admin.display(description="Preview")
    def preview(self, obj):
        if not obj.preview_url:
            return "—"
        return format_html('<img src="{}" alt="" height="48" style="height: 48px;" loading="lazy">', obj.preview_url)

    @admin.action(description="Enable selected")
    def enable_selected(self, request, queryset):
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(description="Disable selected")
    def disable_selected(self, request, queryset):
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(self, request, queryset, *, enabled):
        selected = queryset.count()
        changed = catalogue_set_enabled(entries=queryset, enabled=enabled)
        verb = "Enabled" if enabled else "Disabled"
        message = f"{verb} {changed} {model_ngettext(self.opts, changed)}."
        if changed < selected:
            message += f" {selected - changed} already {verb.lower()}."
        self.message_user(request, message)


@admin.register(Style)
class StyleAdmin(CatalogueEntryAdmin):
    pass


@admin.register(Motion)
class MotionAdmin(CatalogueEntryAdmin):
    entry_fields = [*CatalogueEntryAdmin.entry_fields, "start_end_frame"]
    list_display = [*CatalogueEntryAdmin.list_display, "start_end_frame"]
    list_filter = ["enabled", "start_end_frame"]


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 0


@admin.register(GenerationModel)
class GenerationModelAdmin(admin.ModelAdmin):
    """What we offer of Higgsfield's models: staff switch them on and off, name, word, price and order them.

    The provider's facts (path, input schema) come from the snapshot and `manage.py sync_models` only.
    """

    list_display = ["label", "name", "mode", "enabled", "credits", "sort_order", "provider_id", "retired"]
    list_editable = ["enabled", "credits", "sort_order"]
    list_filter = ["enabled", "mode", "retired", "family"]
    search_fields = ["name", "label", "provider_id"]
    ordering = ["sort_order", "name"]
    fields = [
        "name",
        "label",
        "summary",
        "mode",
        "enabled",
        "credits",
        "sort_order",
        "with_image",
        "provider_id",
        "path",
        "family",
        "input",
        "retired",
        "input_schema",
    ]
    readonly_fields = ["provider_id", "path", "family", "input", "retired", "input_schema"]
    inlines = [ModelAliasInline]

    def has_add_permission(self, request):
        return False  # models come from Higgsfield's spec (sync_models), not from a form


@admin.register(CatalogueSync)
class CatalogueSyncAdmin(admin.ModelAdmin):
    list_display = ["kind", "created_at"]
    readonly_fields = ["kind", "summary", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
