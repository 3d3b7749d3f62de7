from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from files.models import Image


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    """Pictures are uploaded through the API; operators can look and delete (object included)."""

    list_display = ("file_name", "owner", "human_size", "content_type", "upload_date")
    list_filter = ("content_type",)
    search_fields = ("file_name", "owner__username", "=id")
    list_select_related = ("owner",)
    ordering = ("-upload_date",)
    readonly_fields = ("id", "owner", "file_name", "key", "size", "content_type", "upload_date")
    fields = readonly_fields

    @admin.display(description="size", ordering="size")
    def human_size(self, image):
        return filesizeformat(image.size)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
