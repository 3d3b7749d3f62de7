"""Verification on AWS (moto in-process): the DynamoDB store, the SNS task, the whole sign-up."""
import time
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from accounts import aws
from accounts.models import User
from accounts.tasks import publish_verification
from accounts.tests.aws_fixtures import TABLE, drain
from accounts.tests.conftest import PASSWORD
from accounts.verification import token_store
from accounts.verification.dynamodb_store import DynamoDBTokenStore
from accounts.verification.tokens import TokenState, token_digest

pytestmark = pytest.mark.django_db


def test_store_round_trip(aws_verification):
    store = token_store()
    assert isinstance(store, DynamoDBTokenStore)
    token = store.issue("Cy@Example.com")
    item = aws_verification["dynamodb"].get_item(
        TableName=TABLE, Key={"token": {"S": token_digest(token)}})["Item"]
    assert item["email"] == {"S": "cy@example.com"}
    assert 295 <= int(item["ttl"]["N"]) - time.time() <= 300
    assert store.check("cy@example.com", token) is TokenState.VALID
    assert store.check("other@example.com", token) is TokenState.INVALID
    assert store.check("cy@example.com", "forged") is TokenState.INVALID
    assert store.consume("CY@example.com", token) is True
    assert store.check("cy@example.com", token) is TokenState.USED
    assert store.consume("cy@example.com", token) is False


def test_store_keeps_no_plain_token(aws_verification):
    token = token_store().issue("cy@example.com")
    items = aws_verification["dynamodb"].scan(TableName=TABLE)["Items"]
    assert len(items) == 2  # the token item and the address's "latest" pointer
    assert token not in repr(items)


def test_expiry_is_honoured_before_dynamodb_deletes(aws_verification):
    store = token_store()
    token = store.issue("cy@example.com")
    later = time.time() + 301
    with mock.patch("accounts.verification.dynamodb_store.time.time", return_value=later):
        assert store.check("cy@example.com", token) is TokenState.INVALID
        assert store.consume("cy@example.com", token) is False
    # The item is still there (DynamoDB deletes lazily): only our own check refused it.
    assert aws_verification["dynamodb"].get_item(
        TableName=TABLE, Key={"token": {"S": token_digest(token)}}).get("Item")


def test_new_token_supersedes_older(aws_verification):
    store = token_store()
    first = store.issue("cy@example.com")
    second = store.issue("cy@example.com")
    assert store.check("cy@example.com", first) is TokenState.INVALID
    assert store.consume("cy@example.com", first) is False
    assert store.consume("cy@example.com", second) is True


def test_sign_up_publishes_and_link_verifies(client, aws_verification,
                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/v1/user", {"username": "Cy@Example.com", "password": PASSWORD,
                                             "first_name": "Cy", "last_name": "Do"}, format="json")
    assert response.status_code == 201
    messages = drain(aws_verification["sqs"], aws_verification["queue_url"])
    assert len(messages) == 1
    message = messages[0]
    assert message["email"] == "Cy@Example.com"
    query = parse_qs(urlsplit(message["link"]).query)
    assert query == {"email": ["Cy@Example.com"], "token": [message["token"]]}
    response = client.get("/v1/user/verify", {"email": "Cy@Example.com", "token": message["token"]})
    assert response.status_code == 200
    assert User.objects.get(username_key="cy@example.com").verified
    again = client.get("/v1/user/verify", {"email": "Cy@Example.com", "token": message["token"]})
    assert again.status_code == 200


def _fail_first(count, error):
    calls = []

    def hook(**kwargs):
        calls.append(1)
        if len(calls) <= count:
            raise error

    return hook, calls


@pytest.mark.parametrize("error", [
    ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish"),
    EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com"),
    ClientError({"Error": {"Code": "InternalError", "Message": "oops"},
                 "ResponseMetadata": {"HTTPStatusCode": 500}}, "Publish"),
])
def test_task_retries_transient_failures(aws_verification, make_user, error):
    user = make_user("cy@example.com", verified=False)
    hook, calls = _fail_first(2, error)
    aws.client("sns").meta.events.register("before-call.sns.Publish", hook)
    publish_verification.delay(str(user.pk))
    assert len(calls) == 3
    (message,) = drain(aws_verification["sqs"], aws_verification["queue_url"])
    # each try issued a fresh token: the one published is the one that works
    assert token_store().check("cy@example.com", message["token"]) is TokenState.VALID


def test_task_does_not_retry_permanent_errors(aws_verification, make_user, settings):
    user = make_user("cy@example.com", verified=False)
    settings.VERIFICATION_TOPIC_ARN = aws_verification["topic"] + "-missing"
    result = publish_verification.apply(args=(str(user.pk),))
    assert result.failed()
    assert isinstance(result.result, ClientError)
    assert drain(aws_verification["sqs"], aws_verification["queue_url"]) == []


def test_sign_up_survives_a_dispatch_failure(client, aws_verification, caplog,
                                             django_capture_on_commit_callbacks):
    with mock.patch("accounts.verification.sns_dispatch.SNSDispatcher.dispatch",
                    side_effect=ConnectionRefusedError("broker down")):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/v1/user", {"username": "dee@example.com",
                                                 "password": PASSWORD, "first_name": "D",
                                                 "last_name": "E"}, format="json")
    assert response.status_code == 201
    assert User.objects.filter(username_key="dee@example.com").exists()
    assert "Could not queue the verification link" in caplog.text
