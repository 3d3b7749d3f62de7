"""The app as a real gunicorn process against a ``moto_server`` process, through AWS_ENDPOINT_URL."""
import socket
import urllib.request

import pytest

from devkit import live
from files.tests.conftest import image_bytes

USERNAME, PASSWORD = "live@example.com", "live-test-password-42"
BUCKET = "cloudsite-live-media"
URL = "/v1/user/self/pic"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("live")
    with live.moto_server(workdir / "moto.log") as endpoint:
        s3, kms = live.s3_and_kms(endpoint)
        s3.create_bucket(Bucket=BUCKET)
        kms_key = kms.create_key()["KeyMetadata"]["KeyId"]
        env = live.app_environment(workdir, endpoint, BUCKET, kms_key,
                                   CLOUDSITE_UPLOAD_MAX_BYTES=str(12 * 1024 * 1024))
        live.manage(env, "migrate", "--noinput", "-v0")
        live.create_verified_user(env, USERNAME, PASSWORD)
        with live.gunicorn(env, workdir / "gunicorn.log") as (port, _):
            yield {"port": port, "s3": s3, "kms_key": kms_key, "workdir": workdir,
                   "auth": live.basic(USERNAME, PASSWORD)}


def keys(s3):
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_upload_download_replace_delete_through_real_processes(stack):
    port, s3, auth = stack["port"], stack["s3"], stack["auth"]
    small = image_bytes("PNG")
    status, _, body = live.post_multipart(port, URL, auth, "first.png", small, len(small))
    assert status == 201, body
    first = live.json_body(body)
    first_key = f"{first['user_id']}/{first['id']}/first.png"
    assert first["url"] == f"{BUCKET}/{first_key}"
    assert keys(s3) == [first_key]
    head = s3.head_object(Bucket=BUCKET, Key=first_key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert stack["kms_key"] in head["SSEKMSKeyId"]
    assert head["ContentType"] == "image/png"

    # Over Django's memory threshold and the 8 MiB multipart threshold: temp file, multipart upload.
    big = image_bytes("JPEG")
    big += b"\0" * (9 * 1024 * 1024 - len(big))
    status, _, body = live.post_multipart(port, URL, auth, "second.jpg", big, len(big), "image/jpeg")
    assert status == 201, body
    second = live.json_body(body)
    second_key = f"{second['user_id']}/{second['id']}/second.jpg"
    assert keys(s3) == [second_key]  # the old object went after the commit
    head = s3.head_object(Bucket=BUCKET, Key=second_key)
    assert head["ETag"].endswith('-2"') and head["ContentLength"] == len(big)
    assert head["ContentType"] == "image/jpeg"

    status, headers, _ = live.request(port, "GET", URL + "/download", auth)
    assert status == 302
    location = headers["Location"]
    assert location.startswith(s3.meta.endpoint_url)  # presigned against AWS_ENDPOINT_URL
    with urllib.request.urlopen(location, timeout=60) as fetched:
        assert fetched.read() == big

    status, _, body = live.post_multipart(port, URL, auth, "notes.png", b"hello\n" * 50, 300)
    assert status == 400 and "image" in live.json_body(body)["errors"]

    status, _, _ = live.request(port, "DELETE", URL, auth)
    assert status == 204
    assert keys(s3) == []
    assert live.request(port, "GET", URL, auth)[0] == 404
    leftovers = [p.name for p in stack["workdir"].iterdir() if p.name.endswith(".upload.jpg")]
    assert leftovers == []  # Django's temporary upload file is gone


def test_oversized_content_length_is_refused_before_the_body_is_sent(stack):
    """Only the headers go out; the server answers 413 without waiting for the body."""
    with socket.create_connection(("127.0.0.1", stack["port"]), timeout=20) as sock:
        sock.sendall((
            f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {stack['auth']}\r\n"
            "Content-Type: multipart/form-data; boundary=zzz\r\n"
            f"Content-Length: {50 * 1024 * 1024 * 1024}\r\n\r\n"
        ).encode())
        received = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            received += chunk
        reply = received.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply
    assert '"detail"' in reply
    assert keys(stack["s3"]) == []
