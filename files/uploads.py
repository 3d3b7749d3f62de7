"""Multipart parsing for the picture: the size limit is enforced before and while reading.

* Before: a ``Content-Length`` larger than the limit (plus room for the multipart framing) is
  refused with 413 before a byte of the body is read (:func:`check_content_length`).
* While: :class:`PictureSizeLimit` sits in front of Django's upload handlers and stops the parser
  as soon as more than the limit has arrived, without reading the rest, so a body whose
  ``Content-Length`` understates nothing can still not push more than the limit to disk.
"""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions, status
from rest_framework.parsers import DataAndFiles, MultiPartParser

IMAGE_FIELD = "image"
# Room for the boundaries, part headers and a few small fields around the picture's bytes.
MULTIPART_OVERHEAD = 64 * 1024


class PictureTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, limit: int | None = None):
        limit = upload_limit() if limit is None else limit
        super().__init__(f"The picture is too large: at most {limit} bytes.")


class FieldsTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The form fields besides the picture are too large."


def upload_limit() -> int:
    return settings.FILES_UPLOAD_MAX_BYTES


def check_content_length(request) -> None:
    """413 when the declared body cannot hold a picture within the limit (nothing read yet)."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        raise exceptions.ParseError("Content-Length is not a number.")
    if length > upload_limit() + MULTIPART_OVERHEAD:
        raise PictureTooLarge()


class PictureSizeLimit(FileUploadHandler):
    """Pass chunks through to the next handlers, stopping the upload past the limit.

    Also stops at a file part that is not the one ``image`` part: nothing else is accepted, and
    skipping parts would let them consume disk without counting.
    """

    def __init__(self, request=None, limit: int = 0):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False
        self.unexpected_part = None
        self.seen_image = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.limit + MULTIPART_OVERHEAD:
            self.exceeded = True
            return {}, {}  # handled: parse nothing
        return None

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        if field_name != IMAGE_FIELD or self.seen_image:
            self.unexpected_part = field_name
            raise StopUpload(connection_reset=True)
        self.seen_image = True

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)  # do not read the rest of the body
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) returns the file


class PictureUploadParser(MultiPartParser):
    """DRF's multipart parser with the picture's size limit and JSON-friendly errors."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        limiter = PictureSizeLimit(request, limit=upload_limit())
        handlers = [limiter, *request.upload_handlers]
        try:
            data, files = DjangoMultiPartParser(meta, stream, handlers, encoding).parse()
        except MultiPartParserError as error:
            raise exceptions.ParseError(f"Malformed multipart body: {error}")
        except RequestDataTooBig:
            raise FieldsTooLarge()
        except (TooManyFieldsSent, TooManyFilesSent) as error:
            raise exceptions.ParseError(str(error))
        except UnicodeError:
            raise exceptions.ParseError("Malformed multipart body: undecodable header.")
        if limiter.exceeded:
            raise PictureTooLarge(limiter.limit)
        if limiter.unexpected_part is not None:
            raise exceptions.ValidationError(
                {limiter.unexpected_part: [f"Send exactly one file, in the part named {IMAGE_FIELD!r}."]}
            )
        return DataAndFiles(data, files)
