"""The size limit: 413 from Content-Length before reading, and at the limit while streaming."""
import io

import pytest
from django.test import RequestFactory

from files import uploads
from files.models import Image
from files.tests.conftest import basic, image_bytes, upload
from files.views import PictureView

URL = "/v1/user/self/pic"


def multipart(content: bytes, name="big.png", boundary="XyZbOuNdArY") -> tuple[bytes, str]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


class CountingInput(io.RawIOBase):
    """A wsgi.input that records how many bytes the application read."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self):
        return True

    def read(self, size=-1):
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size=-1):
        chunk = self._data.readline(size)
        self.read_bytes += len(chunk)
        return chunk


def padded_png(size: int) -> bytes:
    content = image_bytes("PNG")
    return content + b"\0" * (size - len(content))


def call_view(user, body, content_type, content_length=None):
    stream = CountingInput(body)
    request = RequestFactory().generic(
        "POST", URL, body, content_type=content_type,
        HTTP_AUTHORIZATION=basic(user.username), **{"wsgi.input": stream},
    )
    if content_length is not None:
        request.META["CONTENT_LENGTH"] = str(content_length)
    response = PictureView.as_view()(request)
    response.render()
    return response, stream


def test_pictures_at_the_limit_are_accepted(media, api, user, settings):
    settings.FILES_UPLOAD_MAX_BYTES = 50_000
    response = api.post(URL, {"image": upload("exact.png", padded_png(50_000))}, format="multipart")
    assert response.status_code == 201
    assert Image.objects.get().size == 50_000


def test_content_length_over_the_limit_is_413_before_reading(media, user, settings):
    settings.FILES_UPLOAD_MAX_BYTES = 100_000
    body, content_type = multipart(padded_png(300_000))
    response, stream = call_view(user, body, content_type)
    assert response.status_code == 413
    assert "100000 bytes" in response.data["detail"]
    assert stream.read_bytes == 0
    assert not Image.objects.exists()


def test_a_lying_content_length_is_413_before_reading(media, user, settings):
    settings.FILES_UPLOAD_MAX_BYTES = 100_000
    body, content_type = multipart(image_bytes())
    response, stream = call_view(user, body, content_type, content_length=10**12)
    assert response.status_code == 413 and stream.read_bytes == 0


def test_streaming_stops_at_the_limit(media, user, settings, monkeypatch, tmp_path):
    """With the header check out of the way, the parser itself cuts the body at the limit."""
    settings.FILES_UPLOAD_MAX_BYTES = 100_000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    monkeypatch.setattr(uploads, "MULTIPART_OVERHEAD", 10**9)
    body, content_type = multipart(padded_png(3_000_000))
    response, stream = call_view(user, body, content_type)
    assert response.status_code == 413
    assert response.data["detail"] == "The picture is too large: at most 100000 bytes."
    # At most the limit plus one parser chunk (64 KiB) and the part's headers were read.
    assert stream.read_bytes <= 100_000 + 2 * 64 * 1024
    assert not Image.objects.exists()
    assert list(tmp_path.iterdir()) == []  # the partial temporary file is gone


def test_the_limit_holds_when_the_body_is_just_within_the_framing_allowance(media, api, user, settings):
    settings.FILES_UPLOAD_MAX_BYTES = 20_000
    response = api.post(URL, {"image": upload("big.png", padded_png(30_000))}, format="multipart")
    assert response.status_code == 413
    assert response.json() == {"detail": "The picture is too large: at most 20000 bytes."}


def test_large_form_fields_are_413(media, api, user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(URL, {"image": upload("a.png", image_bytes()), "note": "x" * 5000},
                        format="multipart")
    assert response.status_code == 413


@pytest.mark.parametrize("size", [3 * 1024 * 1024])
def test_large_uploads_go_through_a_temporary_file(media, api, user, settings, size, monkeypatch):
    from django.core.files.uploadedfile import TemporaryUploadedFile

    from files import services

    seen = []
    original = services.replace_picture

    def spy(user, upload, kind):
        seen.append(type(upload))
        return original(user, upload, kind)

    monkeypatch.setattr(services, "replace_picture", spy)
    response = api.post(URL, {"image": upload("big.png", padded_png(size))}, format="multipart")
    assert response.status_code == 201
    assert seen == [TemporaryUploadedFile]
    assert (media / Image.objects.get().key).stat().st_size == size


