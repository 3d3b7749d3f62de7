"""The verification Lambda, loaded from the zip the pipeline uploads, against moto's SES."""
import io
import json
import subprocess
import sys
import zipfile

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from accounts.tests.aws_fixtures import TABLE, make_table
from accounts.verification.tokens import token_digest
from deploy import lambda_zip
from deploy.tests.loader import handler_from_zip
from deploy.tests.sns_events import SENDER, sns_record


def message(n):
    token = f"token-{n}"
    return {"email": f"user{n}@example.com", "token": token,
            "link": f"https://dev.example.com/v1/user/verify?email=user{n}%40example.com&token={token}"}


@pytest.fixture
def unpacked(tmp_path):
    with handler_from_zip(tmp_path) as module:
        yield module, tmp_path


@pytest.fixture
def handler(unpacked, monkeypatch):
    module, _path = unpacked
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("SENDER", SENDER)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        module._clients.clear()
        make_table(boto3.client("dynamodb", region_name="us-east-1"))
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
        yield module
        module._clients.clear()


def sent_messages():
    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_one_record_sends_one_email(handler):
    result = handler.lambda_handler({"Records": [sns_record(message(1))]}, None)
    assert result == {"sent": 1, "duplicates": 0, "dropped": 0}
    [mail] = sent_messages()
    assert mail.source == SENDER and mail.destinations["ToAddresses"] == ["user1@example.com"]
    assert "token=token-1" in mail.body and mail.subject == "Verify your cloudsite account"


def test_the_email_is_the_one_the_app_composes(handler):
    from accounts.verification.emails import compose

    handler.lambda_handler({"Records": [sns_record(message(7))]}, None)
    expected = compose(message(7)["link"], 300)
    [mail] = sent_messages()
    assert expected["html"] in mail.body or expected["text"] in mail.body


def test_several_records_and_duplicate_deliveries_send_once_each(handler):
    event = {"Records": [sns_record(message(n), message_id=f"m{n}") for n in range(3)]}
    assert handler.lambda_handler(event, None)["sent"] == 3
    # SNS delivers at least once: the same event again, and a record repeated inside one event.
    assert handler.lambda_handler(event, None) == {"sent": 0, "duplicates": 3, "dropped": 0}
    twice = {"Records": [sns_record(message(9)), sns_record(message(9))]}
    assert handler.lambda_handler(twice, None) == {"sent": 1, "duplicates": 1, "dropped": 0}
    recipients = sorted(m.destinations["ToAddresses"][0] for m in sent_messages())
    assert recipients == ["user0@example.com", "user1@example.com", "user2@example.com",
                          "user9@example.com"]
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=TABLE, Key={"token": {"S": token_digest("token-9")}})["Item"]
    assert "sent_at" in item and "ttl" in item


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", json.dumps({"email": "a@b.c"}),
                                 json.dumps({"email": 5, "token": "t", "link": "l"})])
def test_malformed_messages_are_dropped(handler, bad):
    event = {"Records": [sns_record(bad), sns_record(message(2))]}
    assert handler.lambda_handler(event, None) == {"sent": 1, "duplicates": 0, "dropped": 1}
    assert len(sent_messages()) == 1


@pytest.mark.parametrize("event", [{}, {"Records": "x"}, [], {"Records": [{"no": "sns"}]}])
def test_malformed_events_are_dropped(handler, event):
    result = handler.lambda_handler(event, None)
    assert result["sent"] == 0 and result["dropped"] == 1
    assert sent_messages() == []


def test_ses_failure_releases_claim_and_raises_for_sns_retry(handler, monkeypatch):
    def refuse(**kwargs):
        raise handler.ClientError({"Error": {"Code": "MessageRejected", "Message": "no"}},
                                  "SendEmail")

    ses = handler._client("sesv2")
    ses.meta.events.register("before-call.sesv2.SendEmail", refuse)
    with pytest.raises(handler.ClientError):
        handler.lambda_handler({"Records": [sns_record(message(3))]}, None)
    ses.meta.events.unregister("before-call.sesv2.SendEmail", refuse)
    assert handler.lambda_handler({"Records": [sns_record(message(3))]}, None)["sent"] == 1
    assert len(sent_messages()) == 1


def test_handler_runs_without_django(unpacked):
    _module, path = unpacked
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import handler; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'accounts')))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_zip_is_reproducible_and_follows_its_sources(tmp_path, monkeypatch):
    first, second = lambda_zip.build_lambda_zip(), lambda_zip.build_lambda_zip()
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["handler.py", "verification_emails.py", "verification_tokens.py"]
    changed = tmp_path / "handler.py"
    changed.write_text(lambda_zip.SOURCES["handler.py"].read_text() + "\n# changed\n")
    monkeypatch.setitem(lambda_zip.SOURCES, "handler.py", changed)
    assert lambda_zip.build_lambda_zip() != first
