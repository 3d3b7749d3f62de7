"""The local mode's mailbox: Django's console e-mail backend, on stderr.

Printing the verification e-mail is how local mode delivers its link (README, "Security"): the
message is written whole by the e-mail backend, never through ``logging``, and on stderr, so the
log stream (stdout's JSON lines, ``LOG_FILE``) never carries a link.
"""
import sys

from django.core.mail.backends import console


class ConsoleEmailBackend(console.EmailBackend):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("stream", sys.stderr)
        super().__init__(*args, **kwargs)
