"""cloudsite: a Django monolith that also provisions its own AWS stack."""
from .celery import app as celery_app

__all__ = ("celery_app",)
