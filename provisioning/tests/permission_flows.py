"""The runtime actors' offline flows, run against the stack provisioned in moto, their calls recorded.

Each flow runs the product's own code paths as its actor (``Recorder.acting``): the app (web and
Celery, eager) through the API, ``deploy/render_env.py`` as on an instance, the verification Lambda's
handler from its zip with an SNS event, ``manage.py deploy`` and ``deploy_lambda`` as the CI role,
``provision_image --rebake`` as the image role with the builder's signal written as the builder.
Actors are role purposes (``naming.role(stack, actor)``).
"""
from __future__ import annotations

import base64
import io
import json
import os
import time

import boto3
from django.core.management import CommandError, call_command

from provisioning import naming
from provisioning.permissions.recorder import Call
from provisioning.permissions.requests import Request

STACK, REGION, ACCOUNT = "dev", "us-east-1", "123456789012"
PASSWORD = "permission-proof-harbour-42"
EMAIL = "proof@example.com"
SENDER = f"no-reply@{STACK}.example.com"

# actor -> the role it acts as; flows name the actor, the proof reads the role's policies back
ROLES = {actor: naming.role(STACK, actor) for actor in ("instance", "lambda", "ci", "image", "image-builder")}


def outputs(layer: str) -> dict[str, str]:
    ssm = boto3.client("ssm", region_name=REGION)
    path = f"/cloudsite/{STACK}/{layer}/"
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=path)
    return {p["Name"][len(path):]: p["Value"] for page in pages for p in page["Parameters"]}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- the app (instance role): sign-up, verify, pictures -------------------------------------
def app_settings():
    from django.conf import settings
    from django.test import override_settings

    from files.conf import s3_storage

    data, pipeline = outputs("data"), outputs("pipeline")
    return override_settings(
        AWS_REGION=REGION, VERIFICATION_TABLE=data["token-table"], VERIFICATION_TOPIC_ARN=pipeline["topic-arn"],
        VERIFICATION_TOKEN_STORE="accounts.verification.dynamodb_store.DynamoDBTokenStore",
        VERIFICATION_DISPATCHER="accounts.verification.sns_dispatch.SNSDispatcher",
        FILES_S3_BUCKET=data["app-bucket"], FILES_UPLOAD_MAX_BYTES=32 * 1024 * 1024,
        STORAGES={**settings.STORAGES, "default": s3_storage(data["app-bucket"], REGION, data["s3-key-arn"],
                                                             url_ttl=120)})


def reset_app_clients():
    from accounts import aws, verification

    aws.client.cache_clear()
    verification._load.cache_clear()


def app_flows(recorder) -> dict:
    """Sign-up (DynamoDB token store, SNS dispatcher through the eager Celery task), verify
    (BatchGetItem, UpdateItem), picture upload (single put and multipart), download (presigned
    URL), replace and delete, all as the instance role."""
    from rest_framework.test import APIClient

    from accounts.models import User
    from files.tests.conftest import upload
    from files.tests.test_limits import padded_png

    api = APIClient()
    with app_settings():
        reset_app_clients()
        with recorder.acting("instance", "app: sign-up"):
            response = api.post("/v1/user", {"username": EMAIL, "password": PASSWORD, "first_name": "Pro",
                                              "last_name": "Of"}, format="json")
        assert response.status_code == 201, response.content
        (publish,) = [c for c in recorder.calls if (c.service, c.operation) == ("sns", "Publish")]
        message = json.loads(publish.params["Message"])
        with recorder.acting("instance", "app: verify"):
            response = api.get("/v1/user/verify", {"email": EMAIL, "token": message["token"]})
        assert response.status_code == 200, response.content
        api.credentials(HTTP_AUTHORIZATION=basic(EMAIL, PASSWORD))
        with recorder.acting("instance", "app: pictures"):
            small = api.post("/v1/user/self/pic", {"image": upload("a.png", padded_png(1000))}, format="multipart")
            big = api.post("/v1/user/self/pic", {"image": upload("b.png", padded_png(9 * 1024 * 1024))},
                           format="multipart")  # over the multipart threshold; replaces the first
            download = api.get("/v1/user/self/pic/download")
            removed = api.delete("/v1/user/self/pic")
        assert (small.status_code, big.status_code, download.status_code, removed.status_code) == (201, 201, 302, 204)
        reset_app_clients()
    User.objects.filter(username_key=EMAIL).delete()
    return message


def broker_flow(recorder, queue_url: str) -> None:
    """Celery's SQS transport (kombu) as the worker and the web process use it: publish, then
    consume and acknowledge one message, through kombu's own boto3 client."""
    from kombu import Connection

    options = {"region": REGION, "predefined_queues": {"celery": {"url": queue_url}}, "wait_time_seconds": 0,
               "polling_interval": 0}
    with recorder.acting("instance", "worker: Celery SQS broker"):
        with Connection("sqs://", transport_options=options) as connection:
            queue = connection.SimpleQueue("celery")
            queue.put({"task": "proof"})
            received = queue.get(block=True, timeout=5)
            received.ack()
            queue.close()


# --- render_env on an instance (instance role) ----------------------------------------------
def render_env_flow(recorder) -> dict:
    from deploy import render_env

    with recorder.acting("instance", "deploy hook: render_env"):
        return render_env.environment(STACK, session=boto3.Session(region_name=REGION))


def database_credentials_flow(recorder, secret_arn: str) -> dict:
    """What the app's database backend reads at connect time (``cloudsite.db_backends``): the app
    secret's AWSCURRENT, and AWSPENDING after a refused login while a rotation runs."""
    from cloudsite.db_backends.secret import SecretCredentials

    credentials = SecretCredentials(secret_arn, ttl=0)
    with recorder.acting("instance", "app: database credentials at connect time"):
        current = credentials.refresh()
        pending = credentials.pending()
    return {"username": current.username, "pending": pending is not None}


# --- the verification Lambda (its role) -----------------------------------------------------
def lambda_flow(recorder, message: dict, tmp) -> dict:
    from deploy.tests.loader import handler_from_zip
    from deploy.tests.sns_events import sns_record

    environment = {"TABLE_NAME": naming.token_table(STACK), "SENDER": SENDER, "AWS_DEFAULT_REGION": REGION,
                   "TOKEN_TTL_SECONDS": "300"}
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update(environment)
    try:
        with handler_from_zip(tmp) as handler, recorder.acting("lambda", "lambda: SNS event"):
            answer = handler.lambda_handler({"Records": [sns_record(json.dumps(message))]}, None)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    recorder.calls.append(lambda_runtime_call())
    return answer


def lambda_runtime_call() -> Call:
    """What Lambda itself does as the function's execution role around an invocation: its logs
    (Lambda Developer Guide, "Sending Lambda function logs to CloudWatch Logs") and, for an
    asynchronous event that failed every retry, the send to the on-failure destination read back
    from the function's event invoke config ("Adding a destination")."""
    name = naming.lambda_function(STACK)
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}"
    stream = f"{group}:log-stream:2026/12/01/[$LATEST]0123456789abcdef"
    config = boto3.client("lambda", region_name=REGION).get_function_event_invoke_config(FunctionName=name)
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    requests = [Request("logs:CreateLogStream", stream, implied_by="the Lambda runtime"),
                Request("logs:PutLogEvents", stream, implied_by="the Lambda runtime"),
                Request("sqs:SendMessage", destination, implied_by="a failed asynchronous invocation")]
    return Call("lambda", "(lambda runtime)", "Invoke", {}, "lambda: runtime", requests)


# --- CI (deploy, deploy_lambda) --------------------------------------------------------------
def run_command(name: str, stacks_dir, *args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(name, "--stack", STACK, "--stacks-dir", str(stacks_dir), *args, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return error.returncode, f"{out.getvalue()}\n{error}"
    return 0, out.getvalue()


def ci_flows(recorder, stacks_dir, monkeypatch) -> dict:
    """``deploy`` (moto's deployments never leave Created: the bounded wait ends it with exit 1)
    and ``deploy_lambda`` with changed sources (the code is updated)."""
    from provisioning import deployments, locking
    from provisioning.management.commands import deploy_lambda

    # an operator's run holds the stack: the deploy is refused, naming it (it reads the holder)
    with locking.held(admin_context(stacks_dir), "provision_compute"):
        with recorder.acting("ci", "ci: deploy, stack locked"):
            refused = run_command("deploy", stacks_dir)
    with recorder.acting("ci", "ci: deploy"):
        deployed = run_command("deploy", stacks_dir, "--timeout", "0", "--poll", "1")
    # a deployment that succeeds (moto's never do: the wait is the stubbed part, see
    # deploy/tests/test_deploy_command.py): deploy then switches the group to ELB health checks.
    # It lasts until the lock's heartbeat has renewed the lease once (a short lease, here).
    lock_table = naming.lock_table(STACK)

    def until_the_lease_is_renewed(*args, **kwargs):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                c.operation == "UpdateItem" and c.params.get("TableName") == lock_table for c in recorder.calls):
            time.sleep(0.05)
    with monkeypatch.context() as scoped, recorder.acting("ci", "ci: deploy, succeeded"):
        scoped.setattr(deployments, "wait", until_the_lease_is_renewed)
        scoped.setenv(locking.LEASE_ENV, "3")
        succeeded = run_command("deploy", stacks_dir)
    data, hexdigest, sha256 = deploy_lambda.lambda_code()
    changed = data + b"\0"
    import hashlib

    digest = hashlib.sha256(changed)
    monkeypatch.setattr(deploy_lambda, "lambda_code", lambda: (changed, digest.hexdigest(),
                                                               base64.b64encode(digest.digest()).decode()))
    with recorder.acting("ci", "ci: deploy_lambda"):
        updated = run_command("deploy_lambda", stacks_dir)
    return {"deploy_refused": refused, "deploy": deployed, "deploy_succeeded": succeeded, "deploy_lambda": updated}


def admin_context(stacks_dir):
    """A Context as the administrator (calls made outside ``acting`` are not recorded)."""
    from devkit.testing import make_context
    from provisioning.config import load_file

    return make_context(load_file(stacks_dir / f"{STACK}.toml"))


# --- the image bake (image role; the builder's signal as the builder role) ------------------
def image_flow(recorder, stacks_dir, monkeypatch) -> list[tuple[int, str]]:
    """Two re-bakes (the weekly workflow): with ``[image] retention = 2`` the second one
    deregisters the oldest image and deletes its snapshots."""
    from provisioning.layers import image

    def read_signal(ctx, instance_id):
        with recorder.acting("image-builder", "builder instance: bake signal"):
            boto3.client("ssm", region_name=REGION).put_parameter(
                Name=naming.bake_signal(STACK, instance_id), Value="ok", Type="String", Overwrite=True)
        return image.read_bake_signal(ctx, instance_id)
    # provision_image runs as a command: every Context it makes reads this builder's signal
    from provisioning import context
    monkeypatch.setattr(context, "DEFAULT_BAKE_SIGNAL", read_signal)
    with recorder.acting("image", "image workflow: provision_image --rebake"):
        return [run_command("provision_image", stacks_dir, "--rebake") for _ in range(2)]
