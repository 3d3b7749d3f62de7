from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = "Files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from files import signals  # noqa: F401  (connects the receivers)
