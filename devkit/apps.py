from django.apps import AppConfig


class DevkitConfig(AppConfig):
    """Development only (``manage.py local_cloud``); never shipped to instances."""

    name = "devkit"
    verbose_name = "devkit (development only)"
