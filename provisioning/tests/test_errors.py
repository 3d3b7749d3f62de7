"""provisioning/errors.py: "missing means absent" and "the endpoint lacks this call", once."""
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from provisioning.errors import absent_on, emulator_lacks, tolerate


def error(code, message="m", status=400):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Describe")


def raising(exc):
    def call():
        raise exc
    return call


def test_absent_on_answers_the_call_or_none_for_the_named_codes_only():
    assert absent_on(lambda: {"Table": 1}, "ResourceNotFoundException") == {"Table": 1}
    assert absent_on(raising(error("ResourceNotFoundException")), "ResourceNotFoundException") is None
    assert absent_on(raising(error("NoSuchEntity")), "ResourceNotFoundException", "NoSuchEntity") is None
    with pytest.raises(ClientError, match="AccessDenied"):
        absent_on(raising(error("AccessDenied")), "ResourceNotFoundException")


def test_tolerate_swallows_only_the_named_codes():
    with tolerate("InvalidPermission.Duplicate"):
        raise error("InvalidPermission.Duplicate")
    with pytest.raises(ClientError), tolerate("InvalidPermission.Duplicate"):
        raise error("Throttling")


class Client:
    class meta:
        endpoint_url = "http://127.0.0.1:5000"


class AwsClient:
    class meta:
        endpoint_url = "https://codedeploy.us-east-1.amazonaws.com"


def test_an_emulator_lacking_a_call_is_told_apart_from_aws_refusing_it():
    assert emulator_lacks(NotImplementedError("The delete_application action has not been implemented"))
    assert emulator_lacks(ResponseParserError("not XML"))
    assert emulator_lacks(error("InvalidAction"))
    assert emulator_lacks(error("X", "This action has not been implemented yet"))
    assert emulator_lacks(error("InternalError", status=500), Client())
    assert not emulator_lacks(error("InternalError", status=500), AwsClient())  # AWS's 500 is AWS's
    assert not emulator_lacks(error("AccessDenied"), Client())
    assert not emulator_lacks(ValueError("x"))
