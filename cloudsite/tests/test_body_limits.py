"""Every multipart body has a cap: the picture endpoint its own, every other route the site's."""
import io

import pytest

from files.tests.conftest import basic, image_bytes

pytestmark = pytest.mark.django_db

CAP = 20_000
BOUNDARY = "CaPbOuNdArY"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture(autouse=True)
def cap(settings, tmp_path):
    settings.MULTIPART_BODY_MAX_BYTES = CAP
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}


class CountingInput(io.BytesIO):
    """A wsgi.input that records how many bytes the application read."""

    read_bytes = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size=-1):
        chunk = super().readline(size)
        self.read_bytes += len(chunk)
        return chunk


def multipart(fields: dict, file_name="image", file_content: bytes = b"") -> bytes:
    parts = [f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
             for name, value in fields.items()]
    if file_content:
        parts.append(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{file_name}\"; "
                     f"filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n".encode() + file_content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post(client, path, body, **extra):
    stream = CountingInput(body)
    response = client.generic("POST", path, body, content_type=CONTENT_TYPE,
                              **{"wsgi.input": stream, **extra})
    return response, stream


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/accounts/user/add/", "/v1/user",
                                  "/v1/user/self"])
def test_an_over_cap_multipart_body_is_413_unread(client, path):
    body = multipart({"username": "a@example.com"}, file_content=b"\0" * (CAP * 5))
    response, stream = post(client, path, body)
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body too large: at most {CAP} bytes."}
    assert stream.read_bytes == 0


def test_the_admin_form_under_the_cap_is_parsed_as_before(client, django_user_model):
    django_user_model.objects.create_superuser("root@example.com", "admin-secret-99-x",
                                               first_name="R", last_name="T")
    client.get("/admin/login/")  # the CSRF cookie
    token = client.cookies["csrftoken"].value
    body = multipart({"csrfmiddlewaretoken": token, "username": "root@example.com",
                      "password": "admin-secret-99-x", "next": "/admin/"})
    response, stream = post(client, "/admin/login/", body)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert stream.read_bytes == len(body)


def test_the_picture_endpoint_keeps_its_own_limit(client, django_user_model, settings):
    user = django_user_model.objects.create_user("pic@example.com", "correct-horse-battery-9",
                                                 first_name="P", last_name="P", verified=True)
    settings.FILES_UPLOAD_MAX_BYTES = CAP * 4
    picture = image_bytes("PNG")
    picture += b"\0" * (CAP * 3 - len(picture))  # over the site's cap, within the picture's
    response, _ = post(client, "/v1/user/self/pic", multipart({}, file_content=picture),
                       HTTP_AUTHORIZATION=basic(user.username))
    assert response.status_code == 201, response.content
    response, stream = post(client, "/v1/user/self/pic",
                            multipart({}, file_content=b"\0" * (CAP * 4 + 100_000)),
                            HTTP_AUTHORIZATION=basic(user.username))
    assert response.status_code == 413
    assert response.json() == {"detail": f"The picture is too large: at most {CAP * 4} bytes."}
    assert stream.read_bytes == 0


def test_a_malformed_content_length_is_400(client):
    body = multipart({"username": "a@example.com"})
    response, _ = post(client, "/admin/login/", body, CONTENT_LENGTH="lots")
    assert response.status_code == 400
    assert response.json() == {"detail": "Content-Length is not a number."}


def test_an_over_cap_urlencoded_body_is_413_unread(client, settings):
    settings.JSON_BODY_MAX_BYTES = 1000
    body = b"username=" + b"a" * 5000
    stream = CountingInput(body)
    response = client.generic("POST", "/admin/login/", body,
                              content_type="application/x-www-form-urlencoded", **{"wsgi.input": stream})
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: at most 1000 bytes."}
    assert stream.read_bytes == 0
