"""gunicorn's logging settings; the unit's command line (scripts/systemd/cloudsite-app.service)
names this file, and gunicorn reads it by default from its working directory (devkit.live, bench).

The access log's format has no query string (a verification link carries its token there), no
Basic username (``%(u)s``) and no referer (a page opened from a link sends the link as referer):
client address, time, method, path, protocol, status, bytes, milliseconds, user agent and the
request id the app's own JSON line has. gunicorn's error log can quote a request line or URI (a
malformed request, an exception escaping the app): its query strings are redacted.
"""
from gunicorn import glogging

from cloudsite.request_log import QueryStringFilter

access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'

_redact = QueryStringFilter()


class Logger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(_redact)  # the same filter object: setup() again (on HUP) adds nothing


logger_class = Logger
