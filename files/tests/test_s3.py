"""S3-specific behaviour against in-process moto: encryption, no ACLs, multipart, retries."""
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.core.files.storage import default_storage
from django.db import IntegrityError

from files import services
from files.models import Image
from files.tests.conftest import upload
from files.tests.test_limits import padded_png
from files.validation import KINDS

URL = "/v1/user/self/pic"


def s3_client():
    return default_storage.connection.meta.client


def record_calls(operation):
    calls = []

    def hook(params, **kwargs):
        calls.append(params)

    s3_client().meta.events.register(f"before-call.s3.{operation}", hook)
    return calls


def fail_first(operation, times, error=None):
    """Make the storage's S3 client fail ``operation`` ``times`` times; return the attempt log."""
    attempts = []

    def hook(**kwargs):
        attempts.append(operation)
        if len(attempts) <= times:
            raise error or EndpointConnectionError(endpoint_url="https://s3.example.invalid")

    s3_client().meta.events.register(f"before-call.s3.{operation}", hook)
    return attempts


def test_storage_is_configured_like_production(s3):
    storage = default_storage
    assert storage.bucket_name == s3.bucket
    assert storage.default_acl is None
    assert storage.object_parameters == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": s3.kms_key}
    assert storage.file_overwrite is False
    client = s3_client()
    assert client.meta.config.signature_version == "s3v4"
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.retries["mode"] == "standard"


def test_aws_endpoint_url_redirects_the_storage(s3, monkeypatch):
    from files.storage import PictureS3Storage

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    storage = PictureS3Storage(bucket_name="b", region_name="us-east-1")
    assert storage.connection.meta.client.meta.endpoint_url == "http://127.0.0.1:9"


def test_no_acl_is_ever_sent(s3, api, user):
    puts = record_calls("PutObject")
    assert api.post(URL, {"image": upload("a.png", padded_png(1000))}, format="multipart").status_code == 201
    assert len(puts) == 1
    headers = {name.lower(): value for name, value in puts[0]["headers"].items()}
    assert "x-amz-acl" not in headers
    assert headers["x-amz-server-side-encryption"] == "aws:kms"
    assert headers["x-amz-server-side-encryption-aws-kms-key-id"] == s3.kms_key


def test_large_pictures_stream_from_the_temporary_file_as_a_multipart_upload(s3, api, user, settings):
    settings.FILES_UPLOAD_MAX_BYTES = 32 * 1024 * 1024
    parts = record_calls("UploadPart")
    created = record_calls("CreateMultipartUpload")
    content = padded_png(9 * 1024 * 1024)  # over the 8 MiB multipart threshold
    response = api.post(URL, {"image": upload("big.png", content)}, format="multipart")
    assert response.status_code == 201
    key = Image.objects.get().key
    assert len(created) == 1 and len(parts) == 2
    head = s3.head(key)
    assert head["ETag"].endswith('-2"')  # a two-part multipart object
    assert head["ContentLength"] == len(content)
    assert head["ContentType"] == "image/png"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert s3.body(key) == content


def test_the_temporary_file_is_handed_over_by_path(s3, monkeypatch, tmp_path, settings):
    """A TemporaryUploadedFile goes to ``upload_file`` (parts read from disk, not buffered)."""
    from django.core.files.uploadedfile import TemporaryUploadedFile
    from s3transfer.manager import TransferManager

    used = []
    original = TransferManager.upload

    def spy(self, fileobj, *args, **kwargs):
        used.append(fileobj)
        return original(self, fileobj, *args, **kwargs)

    monkeypatch.setattr(TransferManager, "upload", spy)
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    content = padded_png(100_000)
    temporary = TemporaryUploadedFile("t.png", "image/png", len(content), None)
    temporary.write(content)
    temporary.seek(0)
    name = default_storage.save("u/i/t.png", temporary)
    assert used == [temporary.temporary_file_path()]
    assert s3.body(name) == content


def test_injected_s3_failures_on_delete_are_retried_until_the_object_is_gone(
        s3, api, user, django_capture_on_commit_callbacks):
    api.post(URL, {"image": upload("a.png", padded_png(2000))}, format="multipart")
    assert s3.keys() == [Image.objects.get().key]
    attempts = fail_first("DeleteObject", times=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(URL)
    assert response.status_code == 204
    assert len(attempts) == 4  # three failures, then success
    assert not Image.objects.exists()
    assert s3.keys() == []


def test_injected_s3_failures_on_replace_are_retried_until_the_old_object_is_gone(
        s3, api, user, django_capture_on_commit_callbacks):
    api.post(URL, {"image": upload("old.png", padded_png(2000))}, format="multipart")
    attempts = fail_first("DeleteObject", times=2, error=ClientError(
        {"Error": {"Code": "SlowDown", "Message": "Reduce your request rate."},
         "ResponseMetadata": {"HTTPStatusCode": 503}}, "DeleteObject"))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, {"image": upload("new.png", padded_png(3000))}, format="multipart")
    assert response.status_code == 201
    assert len(attempts) == 3
    assert s3.keys() == [Image.objects.get().key]


def test_an_s3_failure_while_storing_is_503_and_changes_nothing(
        s3, api, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(URL, {"image": upload("keep.png", padded_png(2000))}, format="multipart").json()
    fail_first("PutObject", times=100)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, {"image": upload("lost.png", padded_png(2000))}, format="multipart")
    assert response.status_code == 503
    assert response.json()["detail"]
    assert api.get(URL).json() == first
    assert s3.keys() == [f"{user.pk}/{first['id']}/keep.png"]


def test_a_database_failure_after_storing_removes_the_new_object(s3, user, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise IntegrityError("simulated")

    monkeypatch.setattr(Image, "save", broken_save)
    with pytest.raises(IntegrityError):
        services.replace_picture(user, upload("a.png", padded_png(2000)), KINDS["PNG"])
    assert s3.keys() == []


def test_deleting_from_the_admin_removes_the_object(s3, api, user, make_user, client,
                                                    django_capture_on_commit_callbacks):
    api.post(URL, {"image": upload("admin.png", padded_png(2000))}, format="multipart")
    image = Image.objects.get()
    admin = make_user("admin@example.com", is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/files/image/")
    assert listing.status_code == 200
    assert "admin.png" in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/files/image/{image.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Image.objects.exists() and s3.keys() == []
