"""What moto's CodeDeploy does not do (update and delete; the group's auto scaling groups read back
as [{}]), checked as the exact requests with botocore's Stubber."""
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from devkit.testing import make_context, write_stack
from provisioning import naming
from provisioning.config import load_file
from provisioning.errors import emulator_lacks
from provisioning.layers import pipeline

ACCOUNT = "123456789012"


@pytest.fixture
def prod_config(tmp_path):
    path = write_stack(tmp_path, "prod")
    path.write_text(path.read_text() + '\n[pipeline]\ndeployment_config = "OneAtATime"\n')
    return load_file(path)


@pytest.fixture
def stubbed(prod_config):
    ctx = make_context(prod_config)
    ctx._account = ACCOUNT
    client = ctx.client("codedeploy")
    with Stubber(client) as stubber:
        yield ctx, stubber
        stubber.assert_no_pending_responses()


def group_info(**changes):
    info = {
        "applicationName": "cloudsite-prod", "deploymentGroupName": "cloudsite-prod-app",
        "deploymentConfigName": "CodeDeployDefault.OneAtATime",
        "serviceRoleArn": f"arn:aws:iam::{ACCOUNT}:role/cloudsite-prod-codedeploy",
        "autoScalingGroups": [{"name": "cloudsite-prod-app", "hook": "CodeDeploy-managed-hook"}],
        "deploymentStyle": {"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "loadBalancerInfo": {"targetGroupInfoList": [{"name": "cloudsite-prod-app"}]},
        "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
    }
    info.update(changes)
    return info


WANTED = {
    "deploymentConfigName": "CodeDeployDefault.OneAtATime",
    "serviceRoleArn": f"arn:aws:iam::{ACCOUNT}:role/cloudsite-prod-codedeploy",
    "autoScalingGroups": ["cloudsite-prod-app"],
    "deploymentStyle": {"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    "loadBalancerInfo": {"targetGroupInfoList": [{"name": "cloudsite-prod-app"}]},
    "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
}


def test_prod_creates_a_one_at_a_time_group_retrying_while_the_role_propagates(stubbed):
    ctx, stubber = stubbed
    request = {"applicationName": "cloudsite-prod", "deploymentGroupName": "cloudsite-prod-app",
               "tags": ctx.tags(pipeline.GROUP), **WANTED}
    stubber.add_client_error("create_deployment_group", "InvalidRoleException",
                             "Cannot assume role provided.", expected_params=request)
    stubber.add_response("create_deployment_group", {"deploymentGroupId": "d-1"}, request)
    state = pipeline.DeploymentGroup().create(ctx, {})
    assert state["deploymentConfigName"] == "CodeDeployDefault.OneAtATime"


def test_a_real_group_reads_back_without_drift_and_drift_is_updated_in_place(stubbed):
    ctx, stubber = stubbed
    recipe = pipeline.DeploymentGroup()
    key = {"applicationName": "cloudsite-prod", "deploymentGroupName": "cloudsite-prod-app"}
    stubber.add_response("get_deployment_group", {"deploymentGroupInfo": group_info()}, key)
    (state,) = recipe.find_all(ctx, {})
    assert recipe.drift(ctx, state, {}) == []

    stubber.add_response("get_deployment_group", {"deploymentGroupInfo": group_info(
        deploymentConfigName="CodeDeployDefault.AllAtOnce",
        autoRollbackConfiguration={"enabled": False, "events": []})}, key)
    (state,) = recipe.find_all(ctx, {})
    drift = recipe.drift(ctx, state, {})
    assert [d.setting for d in drift] == ["deploymentConfigName", "autoRollbackConfiguration"]
    stubber.add_response("update_deployment_group", {}, {
        "applicationName": "cloudsite-prod", "currentDeploymentGroupName": "cloudsite-prod-app", **WANTED})
    recipe.reconcile(ctx, state, drift, {})


def test_the_emulators_nameless_auto_scaling_group_is_not_drift(stubbed):
    ctx, stubber = stubbed
    recipe = pipeline.DeploymentGroup()
    stubber.add_response("get_deployment_group", {"deploymentGroupInfo": group_info(autoScalingGroups=[{}])})
    (state,) = recipe.find_all(ctx, {})
    assert recipe.drift(ctx, state, {}) == []
    stubber.add_response("get_deployment_group", {"deploymentGroupInfo": group_info(
        autoScalingGroups=[{"name": "someone-elses"}])})
    (state,) = recipe.find_all(ctx, {})
    assert [d.setting for d in recipe.drift(ctx, state, {})] == ["autoScalingGroups"]


def test_delete_calls_the_real_apis_and_tolerates_what_is_already_gone(stubbed):
    ctx, stubber = stubbed
    stubber.add_response("delete_deployment_group", {"hooksNotCleanedUp": []},
                         {"applicationName": "cloudsite-prod", "deploymentGroupName": "cloudsite-prod-app"})
    pipeline.DeploymentGroup().delete(ctx, {"id": "cloudsite-prod-app"})
    stubber.add_response("delete_application", {}, {"applicationName": "cloudsite-prod"})
    pipeline.Application().delete(ctx, {"id": "cloudsite-prod"})
    stubber.add_client_error("delete_application", "ApplicationDoesNotExistException", "gone")
    pipeline.Application().delete(ctx, {"id": "cloudsite-prod"})
    stubber.add_client_error("delete_application", "AccessDeniedException", "no")
    with pytest.raises(ClientError):  # a real error is not mistaken for the emulator's gap
        pipeline.Application().delete(ctx, {"id": "cloudsite-prod"})


def test_the_emulators_not_implemented_is_recognised_in_both_modes():
    assert emulator_lacks(NotImplementedError("The delete_application action has not been implemented"))
    server = ClientError({"Error": {"Code": "500",
                                    "Message": "The delete_application action has not been implemented"}},
                         "DeleteApplication")
    assert emulator_lacks(server)
    assert not emulator_lacks(ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "X"))
    import boto3

    bare = ClientError({"Error": {"Code": "500", "Message": "<html>"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                       "DeleteApplication")
    emulator = boto3.client("codedeploy", region_name="us-east-1", endpoint_url="http://127.0.0.1:5000")
    aws = boto3.client("codedeploy", region_name="us-east-1")
    assert emulator_lacks(bare, emulator) and not emulator_lacks(bare, aws)


def test_lambda_retries_while_its_new_role_cannot_be_assumed(config, monkeypatch):
    from provisioning import retry

    ctx = make_context(config)
    ctx._account = ACCOUNT
    client = ctx.client("lambda")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ClientError({"Error": {"Code": "InvalidParameterValueException",
                                         "Message": "The role defined for the function cannot be assumed by Lambda."}},
                              "CreateFunction")
        return "made"

    no_wait = retry.Clock(sleep=lambda seconds: None)
    assert retry.retry_role_propagation(flaky, clock=no_wait) == "made" and len(calls) == 3
    clock = iter(range(0, 10_000, 50))
    ticking = retry.Clock(sleep=lambda seconds: None, monotonic=lambda: next(clock))
    calls.clear()
    with pytest.raises(ClientError):  # bounded
        retry.retry_role_propagation(lambda: flaky() if False else (_ for _ in ()).throw(ClientError(
            {"Error": {"Code": "InvalidParameterValueException", "Message": "The role defined for the function "
                       "cannot be assumed by Lambda."}}, "CreateFunction")), clock=ticking)
    other = ClientError({"Error": {"Code": "InvalidParameterValueException", "Message": "Runtime bad"}}, "C")
    with pytest.raises(ClientError):  # other invalid values are not retried
        retry.retry_role_propagation(lambda: (_ for _ in ()).throw(other), clock=no_wait)
    assert client is not None and naming.lambda_function("dev")


# --- the Lambda's on-failure destination (PutFunctionEventInvokeConfig) -----------------------
# moto implements the event invoke config calls, but its put appends a second config and its get
# answers the first, where AWS's put overwrites (Lambda API reference,
# PutFunctionEventInvokeConfig): a reconcile is checked as the exact request here.
FUNCTION = "cloudsite-prod-verification-mail"
FAILURES = f"arn:aws:sqs:us-east-1:{ACCOUNT}:cloudsite-prod-verification-mail-failures"
PUT = {"FunctionName": FUNCTION, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600,
       "DestinationConfig": {"OnFailure": {"Destination": FAILURES}}}


@pytest.fixture
def stubbed_lambda(prod_config):
    ctx = make_context(prod_config)
    ctx._account = ACCOUNT
    with Stubber(ctx.client("lambda")) as stubber:
        yield ctx, stubber
        stubber.assert_no_pending_responses()


def test_failure_destination_puts_retries_age_and_queue_retrying_while_the_role_propagates(stubbed_lambda):
    ctx, stubber = stubbed_lambda
    stubber.add_client_error("put_function_event_invoke_config", "InvalidParameterValueException",
                             "The function's execution role does not have permissions to call SendMessage on "
                             f"{FAILURES}", expected_params=PUT)
    stubber.add_response("put_function_event_invoke_config", {}, PUT)
    state = pipeline.FailureDestination().create(ctx, {})
    assert state == {"id": FUNCTION, "retries": 2, "max_age": 3600, "on_failure": FAILURES}


def test_failure_destination_drift_is_put_whole(stubbed_lambda):
    ctx, stubber = stubbed_lambda
    recipe = pipeline.FailureDestination()
    stubber.add_response("get_function_event_invoke_config", {
        "FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}", "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 21600, "DestinationConfig": {"OnFailure": {}}}, {"FunctionName": FUNCTION})
    (state,) = recipe.find_all(ctx, {})
    drift = recipe.drift(ctx, state, {})
    assert {d.setting for d in drift} == {"retries", "max_age", "on_failure"}
    stubber.add_response("put_function_event_invoke_config", {}, PUT)
    assert recipe.reconcile(ctx, state, drift, {})["on_failure"] == FAILURES


def test_failure_destination_absent_is_found_as_nothing_and_delete_tolerates_gone(stubbed_lambda):
    ctx, stubber = stubbed_lambda
    recipe = pipeline.FailureDestination()
    stubber.add_client_error("get_function_event_invoke_config", "ResourceNotFoundException",
                             expected_params={"FunctionName": FUNCTION})
    assert recipe.find_all(ctx, {}) == []
    stubber.add_client_error("delete_function_event_invoke_config", "ResourceNotFoundException",
                             expected_params={"FunctionName": FUNCTION})
    recipe.delete(ctx, {"id": FUNCTION})
