"""The Celery application. Configuration comes from Django settings (``CELERY_*``)."""
import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsite.settings")

app = Celery("cloudsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _start_task_unpinned(**kwargs):
    """Each task is its own unit of work for the primary/replica router."""
    from cloudsite.db_router import unpin

    unpin()
