"""provisioning/db_rotation.py and rotate_db_credentials: the four steps against MariaDB (in-process,
DirectExecutor) and moto's Secrets Manager; resuming interrupted rotations; the Lambda executor's
requests and errors (botocore Stubber: moto's Lambda does not run code without Docker)."""
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from devkit.testing import run, write_stack
from provisioning import db_rotation
from provisioning.db_rotation import Database, DirectExecutor, LambdaExecutor, Rotation, RotationError
from tests.rotation_fixtures import can_login, make_stack, secret_password


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1"), boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def stack(mariadb, aws):
    sm, ssm = aws
    made = make_stack(mariadb, sm, ssm)
    return {**made, "sm": sm, "ssm": ssm, "mariadb": mariadb}


class Recording:
    """A DirectExecutor against the test server that records the actions it runs."""

    def __init__(self, mariadb):
        self.inner = DirectExecutor(mariadb.server.host, mariadb.server.port, tls=False)
        self.actions = []

    def __call__(self, payload):
        self.actions.append(payload["action"])
        return self.inner(payload)


def rotation(stack, execute=None, **kwargs):
    database = Database("db.cloudsite.invalid", 3306, stack["database"], stack["admin"])
    return Rotation(stack["sm"], stack["app_arn"], database, execute or Recording(stack["mariadb"]), **kwargs)


def stages(stack):
    return stack["sm"].describe_secret(SecretId=stack["app_arn"])["VersionIdsToStages"]


def test_a_rotation_moves_the_password_and_the_labels(stack):
    said = []
    execute = Recording(stack["mariadb"])
    version = rotation(stack, execute, say=said.append).run()
    new = secret_password(stack["sm"], stack["app_arn"])
    assert new != stack["password"] and len(new) >= 40
    assert can_login(stack["mariadb"], stack["user"], new, stack["database"])
    assert not can_login(stack["mariadb"], stack["user"], stack["password"])
    labels = stages(stack)
    assert labels[version] == ["AWSCURRENT"]  # AWSPENDING taken off: no rotation in progress
    assert [v for v, s in labels.items() if "AWSPREVIOUS" in s] != [version]
    assert execute.actions == ["test_login", "set_password", "test_login", "discard_old_password"]
    assert said[-1] == f"finishSecret: AWSCURRENT is version {version}"
    # other keys of the secret are kept
    kept = json.loads(stack["sm"].get_secret_value(SecretId=stack["app_arn"])["SecretString"])
    assert kept["engine"] == "mysql" and kept["username"] == stack["user"]
    assert not [line for line in said if new in line or stack["password"] in line]


def test_twice_in_a_row_is_two_rotations(stack):
    first = rotation(stack).run()
    middle = secret_password(stack["sm"], stack["app_arn"])
    second = rotation(stack).run()
    assert first != second and secret_password(stack["sm"], stack["app_arn"]) != middle
    assert not can_login(stack["mariadb"], stack["user"], middle)


def test_interrupted_after_create_the_pending_version_is_reused(stack):
    pending = rotation(stack).create_secret()
    assert can_login(stack["mariadb"], stack["user"], stack["password"])  # nothing set yet
    puts = []
    stack["sm"].meta.events.register("before-call.secrets-manager.PutSecretValue", lambda **_: puts.append(1))
    assert rotation(stack).run() == pending.version_id and puts == []
    assert secret_password(stack["sm"], stack["app_arn"]) == pending.document["password"]


def test_interrupted_after_set_a_working_pending_password_is_not_set_again(stack):
    steps = rotation(stack)
    pending = steps.create_secret()
    steps.set_secret(pending)
    # the app's current secret no longer logs in (no dual passwords here); AWSPENDING does
    assert not can_login(stack["mariadb"], stack["user"], stack["password"])
    execute = Recording(stack["mariadb"])
    assert rotation(stack, execute).run() == pending.version_id
    assert "set_password" not in execute.actions
    assert secret_password(stack["sm"], stack["app_arn"]) == pending.document["password"]


def test_interrupted_between_the_two_label_moves_is_finished(stack):
    steps = rotation(stack)
    pending = steps.create_secret()
    steps.set_secret(pending)
    current = steps.version_with("AWSCURRENT")
    stack["sm"].update_secret_version_stage(SecretId=stack["app_arn"], VersionStage="AWSCURRENT",
                                            MoveToVersionId=pending.version_id, RemoveFromVersionId=current)
    steps.finish_secret(pending)
    assert stages(stack)[pending.version_id] == ["AWSCURRENT"]


def test_a_failing_step_is_one_line_and_changes_no_label(stack):
    server = stack["mariadb"].server
    database = Database("db", 3306, stack["database"], {**stack["admin"], "password": "wrong-admin-pw"})
    steps = Rotation(stack["sm"], stack["app_arn"], database, DirectExecutor(server.host, server.port, tls=False))
    before = secret_password(stack["sm"], stack["app_arn"])
    with pytest.raises(RotationError) as caught:
        steps.run()
    message = str(caught.value)
    assert message.startswith("db-admin set_password: MySQL 1045: Access denied") and "\n" not in message
    assert "wrong-admin-pw" not in message
    assert secret_password(stack["sm"], stack["app_arn"]) == before  # AWSCURRENT not moved
    assert can_login(stack["mariadb"], stack["user"], before)


def test_dual_passwords_keep_the_old_one_until_discarded(stack):
    """A MySQL 8.4 server, as the db-admin handler answers it (MariaDB has no dual passwords)."""
    answers = []

    def mysql84(payload):
        answers.append((payload["action"], payload.get("retain_current")))
        if payload["action"] == "test_login":
            return {"ok": len(answers) > 1, "action": "test_login", "error": "MySQL 1045: Access denied"}
        return {"ok": True, "action": payload["action"], "retained": True, "discarded": True}

    said = []
    rotation(stack, lambda p: db_rotation.checked(mysql84(p), p), say=said.append).run()
    assert answers == [("test_login", None), ("set_password", True), ("test_login", None),
                       ("discard_old_password", None)]
    assert "the old one kept as the secondary password" in said[1] and said[-1] == "the old password is discarded"


# --- the Lambda executor ----------------------------------------------------------------------
def invoke_response(body, function_error=None):
    data = json.dumps(body).encode()
    response = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(data), len(data))}
    if function_error:
        response["FunctionError"] = function_error
    return response


PAYLOAD = {"action": "set_password", "host": "db", "port": 3306, "database": "cloudsite",
           "admin": {"username": "cloudsite_master", "password": "master-pw-1"},
           "user": {"username": "cloudsite_app", "password": "app-pw-2"}, "retain_current": True}


def test_the_lambda_is_invoked_synchronously_with_the_payload():
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("invoke", invoke_response({"ok": True, "action": "set_password", "retained": True}),
                          {"FunctionName": "cloudsite-dev-db-admin", "InvocationType": "RequestResponse",
                           "Payload": json.dumps(PAYLOAD).encode()})
        assert LambdaExecutor(client, "cloudsite-dev-db-admin")(PAYLOAD)["retained"] is True
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("body, function_error, expected", [
    ({"ok": False, "action": "set_password", "error": "MySQL 1045: Access denied for user 'cloudsite_master'"},
     None, "db-admin set_password: MySQL 1045: Access denied for user 'cloudsite_master'"),
    ({"errorType": "Runtime.ImportModuleError", "errorMessage": "No module named 'pymysql'\nmore",
      "stackTrace": ["line 1"]}, "Unhandled",
     "db-admin function cloudsite-dev-db-admin failed on set_password: Runtime.ImportModuleError: "
     "No module named 'pymysql' more"),
    ({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out; app-pw-2"}, "Unhandled",
     "db-admin function cloudsite-dev-db-admin failed on set_password: Sandbox.Timedout: Task timed out; ***"),
])
def test_function_errors_and_refusals_are_one_line(body, function_error, expected):
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("invoke", invoke_response(body, function_error))
        with pytest.raises(RotationError) as caught:
            LambdaExecutor(client, "cloudsite-dev-db-admin")(PAYLOAD)
    assert str(caught.value) == expected and "master-pw-1" not in str(caught.value)


# --- the command --------------------------------------------------------------------------------
def test_the_command_rotates_through_a_direct_connection(stack, tmp_path):
    stacks = tmp_path / "stacks"
    write_stack(stacks, "dev")
    server = stack["mariadb"].server
    code, out, err = run("rotate_db_credentials", "--stack", "dev", "--plan", stacks_dir=stacks)
    assert code == 0 and "plan: createSecret: put a new password" in out and "nothing was changed" in out
    assert secret_password(stack["sm"], stack["app_arn"]) == stack["password"]

    code, out, err = run("rotate_db_credentials", "--stack", "dev", "--direct", f"{server.host}:{server.port}",
                         "--no-tls", stacks_dir=stacks)
    new = secret_password(stack["sm"], stack["app_arn"])
    assert code == 0 and "rotated the app's database password for stack dev" in out, err
    assert new not in out + err and stack["password"] not in out + err
    assert can_login(stack["mariadb"], stack["user"], new, stack["database"])

    code, out, err = run("rotate_db_credentials", "--stack", "dev", "--direct", f"{server.host}:{server.port}",
                         "--no-tls", "--json", stacks_dir=stacks)
    answer = json.loads(out)
    assert code == 0 and answer == {"stack": "dev", "ok": True, "plan": False, "version": answer["version"]}
    assert "finishSecret" in err and secret_password(stack["sm"], stack["app_arn"]) != new


def test_the_command_without_outputs_or_with_bad_usage_says_so(aws, tmp_path):
    stacks = tmp_path / "stacks"
    write_stack(stacks, "dev")
    code, out, err = run("rotate_db_credentials", "--stack", "dev", stacks_dir=stacks)
    assert code == 1 and "/cloudsite/dev/data/db-endpoint is missing: run provision_data --stack dev" in err
    code, out, err = run("rotate_db_credentials", "--stack", "dev", "--direct", "nohostport", stacks_dir=stacks)
    assert code == 2 and "expected HOST:PORT" in err


def test_the_command_reports_a_failed_step_in_one_line(stack, tmp_path):
    stacks = tmp_path / "stacks"
    write_stack(stacks, "dev")
    code, out, err = run("rotate_db_credentials", "--stack", "dev", "--direct", "127.0.0.1:1", "--no-tls",
                         stacks_dir=stacks)
    assert code == 1 and "db-admin set_password: MySQL 2003: Can't connect" in err
    assert "run the same command again" in err and "Traceback" not in err
