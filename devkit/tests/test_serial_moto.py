"""moto handles one request at a time, in-process and behind its server (devkit.serial_moto):
its backends are not thread-safe and the provisioning engine calls AWS from several threads."""
import threading
import time

import boto3
import pytest
from moto import mock_aws
from moto.ssm.models import SimpleSystemManagerBackend

from devkit import live


class Overlap:
    """Wraps a moto backend method: records how many of its calls ran at once (it sleeps, which
    lets the GIL go, so unserialised calls would overlap)."""

    def __init__(self, method):
        self.method, self.active, self.most = method, 0, 0
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            time.sleep(0.02)
            return self.method(*args, **kwargs)
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def overlap(monkeypatch):
    recorder = Overlap(SimpleSystemManagerBackend.put_parameter)
    monkeypatch.setattr(SimpleSystemManagerBackend, "put_parameter",
                        lambda self, *a, **kw: recorder(self, *a, **kw))
    return recorder


def put_from_threads(make_client, threads=4, each=5):
    errors = []

    def work(n):
        ssm = make_client()
        try:
            for i in range(each):
                ssm.put_parameter(Name=f"/serial/{n}/{i}", Value="x", Type="String")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    pages = make_client().get_paginator("get_parameters_by_path").paginate(Path="/serial", Recursive=True)
    return {p["Name"] for page in pages for p in page["Parameters"]}


def test_in_process_requests_take_turns(overlap):
    with mock_aws():
        stored = put_from_threads(lambda: boto3.client("ssm", region_name="us-east-1"))
    assert overlap.most == 1
    assert len(stored) == 20


def test_server_requests_take_turns(overlap):
    from moto.server import ThreadedMotoServer

    port = live.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        stored = put_from_threads(lambda: boto3.client(
            "ssm", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing", aws_secret_access_key="testing"))
    finally:
        server.stop()
    assert overlap.most == 1
    assert len(stored) == 20


def test_moto_answers_every_image_bases_public_parameter():
    """moto publishes Amazon Linux's parameters only; install() adds Debian's and Canonical's."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from devkit import serial_moto
    from provisioning.naming import BASE_IMAGES

    serial_moto.install()
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        values = {base: ssm.get_parameter(Name=name)["Parameter"]["Value"] for base, name in BASE_IMAGES.items()}
        assert all(value.startswith("ami-") for value in values.values()) and len(set(values.values())) == 3
        try:  # still refused to users, as AWS does
            ssm.put_parameter(Name="/aws/service/debian/release/13/latest/amd64", Value="ami-1", Type="String",
                              Overwrite=True)
            raise AssertionError("put_parameter under /aws was accepted")
        except ClientError as error:
            assert error.response["Error"]["Code"] in ("AccessDeniedException", "ValidationException")
