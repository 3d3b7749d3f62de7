from django.apps import AppConfig
from django.conf import settings


class CloudsiteConfig(AppConfig):
    name = "cloudsite"
    verbose_name = "cloudsite"

    def ready(self):
        from cloudsite.checks import check_startup

        check_startup()
        if not settings.STATSD_DISABLED:
            from cloudsite.metrics import install_aws_timers

            install_aws_timers()
