"""The ``…/self/pic`` contract, against the file system and against S3 (moto)."""
import pytest
from django.core.files.storage import default_storage

from files.models import Image
from files.tests.conftest import BUCKET, basic, image_bytes, upload

URL = "/v1/user/self/pic"
DOWNLOAD = "/v1/user/self/pic/download"


def post_picture(api, content=None, name="me.png", **extra):
    content = image_bytes() if content is None else content
    return api.post(URL, {"image": upload(name, content)}, format="multipart", **extra)


@pytest.mark.parametrize("fmt, content_type", [
    ("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp"),
])
def test_upload_each_format_gives_the_image_object(backend, api, user, fmt, content_type,
                                                   django_capture_on_commit_callbacks):
    content = image_bytes(fmt)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_picture(api, content, name=f"avatar.{fmt.lower()}")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "file_name", "url", "upload_date", "user_id"}
    image = Image.objects.get(owner=user)
    key = f"{user.pk}/{image.pk}/avatar.{fmt.lower()}"
    assert body["id"] == str(image.pk) and body["user_id"] == str(user.pk)
    assert body["file_name"] == f"avatar.{fmt.lower()}"
    assert body["upload_date"].endswith("Z")
    prefix = BUCKET if backend.name == "s3" else "media"
    assert body["url"] == f"{prefix}/{key}"
    assert image.key == key and image.size == len(content) and image.content_type == content_type
    assert backend.keys() == [key]
    assert backend.body(key) == content
    if backend.s3:
        head = backend.s3.head(key)
        assert head["ContentType"] == content_type
        assert head["ServerSideEncryption"] == "aws:kms"
        assert backend.s3.kms_key in head["SSEKMSKeyId"]


def test_get_returns_the_current_picture_and_404_without_one(backend, api, user):
    response = api.get(URL)
    assert response.status_code == 404
    assert response.json()["detail"]
    created = post_picture(api).json()
    response = api.get(URL)
    assert response.status_code == 200
    assert response.json() == created


def test_content_type_comes_from_the_bytes_not_the_client(backend, api, user):
    content = image_bytes("JPEG")
    response = api.post(URL, {"image": upload("photo.png", content, "image/png")}, format="multipart")
    assert response.status_code == 201
    image = Image.objects.get(owner=user)
    assert image.content_type == "image/jpeg"
    if backend.s3:
        assert backend.s3.head(image.key)["ContentType"] == "image/jpeg"


@pytest.mark.parametrize("content, name", [
    (b"just some text, not a picture\n" * 10, "notes.png"),  # a renamed text file
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "vector.svg"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "broken.png"),  # PNG magic, no valid header
    (b"\xff\xd8\xff\xe0" + b"garbage" * 20, "broken.jpg"),
    (b"GIF89a" + b"\x00" * 3, "short.gif"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8, "broken.webp"),
    (image_bytes("BMP"), "bitmap.png"),  # a real image, but not an accepted format
    (image_bytes("TIFF"), "scan.jpg"),
])
def test_anything_but_a_png_jpeg_gif_or_webp_is_400(backend, api, user, content, name):
    response = post_picture(api, content, name=name)
    assert response.status_code == 400
    body = response.json()
    assert "image" in body["errors"] and body["detail"]
    assert not Image.objects.exists()
    assert backend.keys() == []


@pytest.mark.parametrize("data", [
    {},
    {"picture": upload("me.png", image_bytes())},  # wrong part name
    {"image": "not a file"},  # a plain field, not a file part
    {"image": upload("empty.png", b"")},
])
def test_missing_or_empty_image_part_is_400(backend, api, user, data):
    response = api.post(URL, data, format="multipart")
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not Image.objects.exists()
    assert backend.keys() == []


def test_a_second_file_part_is_400(media, api, user):
    response = api.post(URL, {"image": [upload("a.png", image_bytes()), upload("b.png", image_bytes())]},
                        format="multipart")
    assert response.status_code == 400
    assert not Image.objects.exists()


@pytest.mark.parametrize("body, content_type", [
    (b'{"image": "x"}', "application/json"),
    (b"image=x", "application/x-www-form-urlencoded"),
    (b"--x\r\nno headers at all", "multipart/form-data"),  # no boundary parameter
    (b"garbage", "multipart/form-data; boundary="),
    (b"--abc\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG",
     "multipart/form-data; boundary=abc"),  # truncated: no closing boundary
    (b"--abc\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\n!!!notbase64!!\r\n--abc--\r\n",
     "multipart/form-data; boundary=abc"),
    (b"\xff\xfe\x00garbage\r\n--zz--", "multipart/form-data; boundary=zz"),
])
def test_malformed_bodies_are_400_not_500(media, api, user, body, content_type):
    response = api.generic("POST", URL, body, content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["detail"]
    assert not Image.objects.exists()


def test_bad_content_length_is_400(media, api, user):
    response = api.generic("POST", URL, b"", content_type="multipart/form-data; boundary=x",
                           CONTENT_LENGTH="lots")
    assert response.status_code == 400


def test_replacing_removes_the_old_object(backend, api, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post_picture(api, image_bytes("PNG"), name="one.png").json()
    with django_capture_on_commit_callbacks(execute=True):
        second = post_picture(api, image_bytes("GIF"), name="two.gif").json()
    assert first["id"] != second["id"]
    assert Image.objects.filter(owner=user).count() == 1
    assert backend.keys() == [f"{user.pk}/{second['id']}/two.gif"]
    assert api.get(URL).json() == second


def test_old_object_survives_until_commit(backend, api, user, django_capture_on_commit_callbacks):
    post_picture(api, name="one.png")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_picture(api, name="two.png")
    assert len(backend.keys()) == 2  # nothing removed before the commit
    for callback in callbacks:
        callback()
    assert backend.keys() == [Image.objects.get().key]


def test_delete_removes_row_and_object(backend, api, user, django_capture_on_commit_callbacks):
    post_picture(api)
    assert len(backend.keys()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(URL)
    assert response.status_code == 204
    assert not Image.objects.exists()
    assert backend.keys() == []
    assert api.get(URL).status_code == 404
    assert api.delete(URL).status_code == 404


def test_deleting_the_user_removes_the_object(backend, api, user, django_capture_on_commit_callbacks):
    post_picture(api)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert backend.keys() == []


def test_pictures_are_per_user(media, api, user, make_user, django_capture_on_commit_callbacks):
    other = make_user("other@example.com")
    other_api = type(api)()
    other_api.credentials(HTTP_AUTHORIZATION=basic(other.username))
    mine = post_picture(api).json()
    assert other_api.get(URL).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert other_api.delete(URL).status_code == 404
    theirs = post_picture(other_api).json()
    assert api.get(URL).json() == mine and other_api.get(URL).json() == theirs
    assert theirs["user_id"] == str(other.pk)


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_authentication_and_verification_required(media, make_user, method):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    response = getattr(anonymous, method)(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION=basic("nobody@example.com", "nope-nope-nope"))
    assert getattr(wrong, method)(URL).status_code == 401
    unverified = make_user("new@example.com", verified=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(unverified.username))
    kwargs = {"data": {"image": upload("me.png", image_bytes())}, "format": "multipart"} \
        if method == "post" else {}
    response = getattr(client, method)(URL, **kwargs)
    assert response.status_code == 403
    assert response.json()["detail"]
    assert not Image.objects.exists()


def test_other_methods_are_405(media, api, user):
    assert api.put(URL).status_code == 405
    assert api.patch(URL).status_code == 405
    assert api.post(DOWNLOAD).status_code == 405


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.png", "_.._etc_passwd.png"),
    ("..\\..\\boot.ini.png", "_.._boot.ini.png"),
    ("café résumé 写真.png", "café résumé 写真.png"),
    ("tab\there\x7fnul.png", "tab here nul.png"),
    ("evil\u202egnp.exe", "evil gnp.exe"),
    ("...", "picture.png"),
])
def test_file_names_are_sanitised_into_safe_keys(backend, api, user, name, expected):
    # Django's parser already strips directories from a file name; what remains is sanitised.
    from files.naming import sanitise_file_name

    response = post_picture(api, name=name)
    assert response.status_code == 201
    image = Image.objects.get()
    assert image.file_name == response.json()["file_name"]
    assert image.file_name == sanitise_file_name(image.file_name, ".png")  # idempotent
    key = image.key
    assert key == f"{user.pk}/{image.pk}/{image.file_name}"
    assert ".." not in key.split("/") and "\\" not in key
    assert all(ch.isprintable() for ch in key)
    assert backend.keys() == [key]
    assert sanitise_file_name(name, ".png") == expected


def test_long_names_are_bounded_and_keep_their_extension(backend, api, user):
    response = post_picture(api, name="ä" * 240 + ".jpeg", content=image_bytes("JPEG"))
    assert response.status_code == 201
    name = response.json()["file_name"]
    assert name.endswith(".jpeg") and name.startswith("ää")
    assert len(name) <= 150 and len(name.encode()) <= 255
    assert backend.keys() == [Image.objects.get().key]


def test_download_streams_locally(media, api, user):
    content = image_bytes("PNG")
    post_picture(api, content, name="café.png")
    response = api.get(DOWNLOAD)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "caf%C3%A9.png" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]


def test_download_redirects_to_a_presigned_url_in_s3(s3, api, user, settings):
    import requests

    settings.FILES_DOWNLOAD_URL_TTL = 77
    content = image_bytes("WEBP")
    post_picture(api, content, name="w.webp")
    response = api.get(DOWNLOAD)
    assert response.status_code == 302
    location = response["Location"]
    assert f"/{Image.objects.get().key}" in location or BUCKET in location
    assert "X-Amz-Expires=77" in location and "X-Amz-Signature=" in location
    assert "no-store" in response["Cache-Control"]
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200 and fetched.content == content


def test_download_404_without_a_picture(backend, api, user):
    assert api.get(DOWNLOAD).status_code == 404


def test_download_of_a_missing_file_is_404_not_500(media, api, user):
    post_picture(api)
    default_storage.delete(Image.objects.get().key)
    assert api.get(DOWNLOAD).status_code == 404


def test_the_schema_documents_the_endpoints(media, api):
    schema = api.get("/v1/schema", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/v1/user/self/pic"]
    assert {"get", "post", "delete"} <= set(operations)
    assert "multipart/form-data" in operations["post"]["requestBody"]["content"]
    assert {"201", "400", "413"} <= set(operations["post"]["responses"])
    assert "/v1/user/self/pic/download" in schema["paths"]


def test_the_browsable_api_renders_the_picture_endpoint(media, api, user):
    post_picture(api)
    response = api.get(URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "text/html" in response["Content-Type"]
    assert Image.objects.get().file_name in response.content.decode()
