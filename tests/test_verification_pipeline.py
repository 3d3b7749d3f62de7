"""Integration: a sign-up's message travels app -> Redis -> Celery worker -> SNS (moto_server).

Real processes: a moto_server on loopback (AWS_ENDPOINT_URL), a Celery worker against this
machine's Redis. The sign-up itself goes through the Django test client.
"""
import time
import uuid

import boto3
import pytest

from accounts import aws, verification
from accounts.tests.aws_fixtures import drain, make_table, make_topic_with_queue
from accounts.tests.conftest import PASSWORD
from cloudsite.celery import app as celery_app
from tests.servers import FAKE_AWS, celery_worker, moto_server, redis_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def stack(monkeypatch):
    broker = redis_url()
    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        clients = {name: boto3.client(name, region_name="us-east-1", endpoint_url=endpoint)
                   for name in ("dynamodb", "sns", "sqs")}
        table = f"verification-{uuid.uuid4().hex[:8]}"
        make_table(clients["dynamodb"], table)
        topic, queue_url = make_topic_with_queue(clients["sns"], clients["sqs"])
        yield {"endpoint": endpoint, "broker": broker, "table": table, "topic": topic,
               "queue_url": queue_url, **clients}


def _reset_broker_pool():
    """Drop the producer pool so the next send connects to the broker configured now."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None


@pytest.fixture
def app_on_stack(stack, settings):
    queue = f"cloudsite-test-{uuid.uuid4().hex[:8]}"
    settings.VERIFICATION_TABLE = stack["table"]
    settings.VERIFICATION_TOPIC_ARN = stack["topic"]
    settings.VERIFICATION_TOKEN_STORE = "accounts.verification.dynamodb_store.DynamoDBTokenStore"
    settings.VERIFICATION_DISPATCHER = "accounts.verification.sns_dispatch.SNSDispatcher"
    aws.client.cache_clear()
    verification._load.cache_clear()
    saved = {key: celery_app.conf[key] for key in
             ("broker_url", "task_always_eager", "task_default_queue")}
    celery_app.conf.update(broker_url=stack["broker"], task_always_eager=False,
                           task_default_queue=queue)
    _reset_broker_pool()
    try:
        yield queue
    finally:
        celery_app.conf.update(saved)
        _reset_broker_pool()
        aws.client.cache_clear()
        verification._load.cache_clear()


def test_sign_up_message_reaches_the_topic_through_a_worker(client, stack, app_on_stack,
                                                             django_capture_on_commit_callbacks):
    worker_env = {**FAKE_AWS, "AWS_ENDPOINT_URL": stack["endpoint"],
                  "CELERY_BROKER_URL": stack["broker"], "CELERY_TASK_ALWAYS_EAGER": "false",
                  "CLOUDSITE_VERIFICATION_TOPIC_ARN": stack["topic"],
                  "CLOUDSITE_VERIFICATION_TABLE": stack["table"]}
    with celery_worker(worker_env, app_on_stack) as worker:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/v1/user", {"username": "Eve@Example.com",
                                                 "password": PASSWORD, "first_name": "Eve",
                                                 "last_name": "Ng"},
                                   content_type="application/json")
        assert response.status_code == 201
        messages = []
        deadline = time.monotonic() + 60
        while not messages and time.monotonic() < deadline and worker.poll() is None:
            messages = drain(stack["sqs"], stack["queue_url"], wait=1)
        if not messages:
            worker.terminate()
            pytest.fail("no message on the topic; worker output:\n" + worker.communicate()[0])
    assert len(messages) == 1
    assert messages[0]["email"] == "Eve@Example.com"
    assert f"token={messages[0]['token']}" in messages[0]["link"]
