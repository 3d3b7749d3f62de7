"""WSGI entry point (gunicorn cloudsite.wsgi)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsite.settings")

application = get_wsgi_application()
