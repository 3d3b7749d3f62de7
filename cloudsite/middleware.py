"""Reject oversized request bodies before anything reads them."""
from django.conf import settings

from cloudsite.errors import json_error


class RequestBodyLimitMiddleware:
    """413 for a JSON (non-multipart) body larger than ``JSON_BODY_MAX_BYTES``.

    DRF parses JSON from the raw stream, which Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not
    guard, so the limit is enforced here from ``Content-Length``. Multipart uploads have their
    own limit in the files app.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        content_type = request.META.get("CONTENT_TYPE", "")
        if not content_type.startswith("multipart/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return json_error("Content-Length is not a number.", 400)
            limit = settings.JSON_BODY_MAX_BYTES
            if length > limit:
                return json_error(f"Request body too large: at most {limit} bytes.", 413)
        return self.get_response(request)
