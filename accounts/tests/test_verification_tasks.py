"""The verification tasks get the user's id only: the token and link never reach Celery (its
trace log lines, eager mode included), and the local mailbox prints on stderr, not in the logs."""
import logging
import re
from unittest import mock

import pytest
from django.core import mail

from accounts.tasks import send_verification_email
from accounts.tests.conftest import PASSWORD
from cloudsite.mail import ConsoleEmailBackend

pytestmark = pytest.mark.django_db
LINK = re.compile(r"http://\S+/v1/user/verify\?\S+")


def test_sign_up_queues_only_the_user_id(client, django_capture_on_commit_callbacks):
    with mock.patch("accounts.tasks.send_verification_email.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        response = client.post("/v1/user", {"username": "Flo@Example.com", "password": PASSWORD,
                                            "first_name": "Flo", "last_name": "Ri"}, format="json")
    assert response.status_code == 201
    delay.assert_called_once_with(response.json()["id"])


def test_the_eager_task_trace_carries_no_link(make_user, caplog):
    user = make_user("flo@example.com", verified=False)
    with caplog.at_level(logging.INFO, logger="celery.app.trace"):
        send_verification_email.delay(str(user.pk))
    (trace,) = [r for r in caplog.records if r.name == "celery.app.trace"]
    assert "succeeded" in trace.getMessage()
    assert trace.data["args"] == repr([str(user.pk)])  # what the JSON formatter writes as "data"
    (link,) = LINK.findall(mail.outbox[-1].body)  # the task itself built the link and sent it
    assert "email=flo%40example.com&token=" in link


def test_a_verified_or_removed_account_gets_no_mail(make_user):
    verified = make_user("vera@example.com", verified=True)
    send_verification_email.delay(str(verified.pk))
    gone = make_user("gone@example.com", verified=False)
    gone_id = str(gone.pk)
    gone.delete()
    send_verification_email.delay(gone_id)
    assert mail.outbox == []


def test_the_local_mailbox_is_stderr(capsys):
    message = mail.EmailMessage("Verify", "http://127.0.0.1:8000/v1/user/verify?email=a&token=t",
                                to=["a@example.com"])
    assert ConsoleEmailBackend().send_messages([message]) == 1
    printed = capsys.readouterr()
    assert "token=t" in printed.err and printed.out == ""
