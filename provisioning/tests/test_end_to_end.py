"""The whole stack, offline, as real processes against one moto_server on loopback:
provision_all, provision_status, provision_all again (0 mutating calls), deploy (as far as moto's
CodeDeploy goes), teardown, and then nothing tagged with the stack is left but what AWS itself
keeps listing after a deletion and what the emulator cannot delete (named below, with why)."""
import json
import os
import subprocess
import sys

import boto3
import pytest

from devkit import live
from devkit.emulator import BakeScriptStandIn
from devkit.testing import moto_server

STACK, REGION = "local", "us-east-1"
# moto implements no CodeDeploy delete (docs/moto.md): teardown calls the real APIs and says
# "NOT DELETED"; the exact delete requests are checked with botocore's Stubber in
# test_pipeline_stubbed.py::test_delete_calls_the_real_apis_and_tolerates_what_is_already_gone.
EMULATOR_CANNOT_DELETE = {
    f"arn:aws:codedeploy:{REGION}:123456789012:application:cloudsite-{STACK}",
    f"arn:aws:codedeploy:{REGION}:123456789012:deploymentgroup:cloudsite-{STACK}/cloudsite-{STACK}-app",
}


@pytest.fixture(scope="module")
def emulator():
    with moto_server() as endpoint:
        env = {**os.environ, **live.FAKE_AWS, "AWS_ENDPOINT_URL": endpoint}
        env.pop("DJANGO_SETTINGS_MODULE", None)

        def manage(*args):
            return subprocess.run([sys.executable, "manage.py", *args, "--stack", STACK],
                                  cwd=live.REPO, env=env, capture_output=True, text=True, timeout=600)

        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name=REGION)
        yield endpoint, manage, lambda service: session.client(service, endpoint_url=endpoint)


def test_provision_status_rerun_deploy_teardown(emulator):
    endpoint, manage, client = emulator

    with BakeScriptStandIn(endpoint, STACK, REGION):  # moto runs no builder's bake script
        first = manage("provision_all")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "is up to date" in first.stdout and "compute/url" in first.stdout
    assert "Traceback" not in first.stderr

    status = manage("provision_status")
    assert status.returncode == 0, status.stdout[-3000:]

    again = manage("provision_all", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout)
    assert report["calls"]["mutating"] == 0
    assert {r["action"] for r in report["resources"]} == {"no-op"}

    # deploy: the bundle goes up and the deployment is created; moto's deployments then stay
    # "Created" for ever, so the bounded wait ends with exit 1 and how to watch it.
    deploy = manage("deploy", "--timeout", "3", "--poll", "1")
    assert deploy.returncode == 1
    assert "still Created after 3s" in deploy.stderr and "Traceback" not in deploy.stderr
    bucket = f"cloudsite-{STACK}-deploy-123456789012-{REGION}"
    bundles = client("s3").list_objects_v2(Bucket=bucket, Prefix="bundles/").get("Contents", [])
    assert len(bundles) == 1
    codedeploy = client("codedeploy")
    [deployment_id] = codedeploy.list_deployments(
        applicationName=f"cloudsite-{STACK}", deploymentGroupName=f"cloudsite-{STACK}-app")["deployments"]
    revision = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["revision"]
    assert revision["s3Location"]["key"] == bundles[0]["Key"]

    teardown = manage("teardown", "--yes", "--json")
    assert teardown.returncode == 0, teardown.stderr[-3000:]
    result = json.loads(teardown.stdout)
    left_behind = {item["id"] for item in result["leftovers"] if not item["lingering"]}
    assert left_behind == EMULATOR_CANNOT_DELETE
    lingering = {item["id"].split(":")[2] for item in result["leftovers"] if item["lingering"]}
    assert lingering <= {"kms", "secretsmanager", "ec2"}  # scheduled deletions, terminated instances
    assert "NOT DELETED: CodeDeploy application" in teardown.stderr


@pytest.mark.parametrize("endpoint", ["http://10.0.0.1:5000", "https://ec2.us-east-1.amazonaws.com"])
def test_the_stand_ins_refuse_anything_but_loopback(endpoint, tmp_path):
    from devkit.emulator import LambdaStandIn

    with pytest.raises(ValueError, match="loopback"):
        BakeScriptStandIn(endpoint, STACK, REGION)
    with pytest.raises(ValueError, match="loopback"):
        LambdaStandIn(endpoint, STACK, REGION, "arn:aws:sns:us-east-1:123456789012:t", tmp_path,
                      "table", "sender@example.com")
