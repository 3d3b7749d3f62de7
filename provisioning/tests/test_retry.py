"""provisioning/retry.py: already gone is done, busy is retried (for a bounded time on the run's
clock), anything else is raised."""
import pytest
from botocore.exceptions import ClientError

from provisioning.retry import Clock, delete_once_free

NO_WAIT = Clock(sleep=lambda seconds: None)


def failing(*codes):
    """A delete call that fails with each of ``codes`` in turn, then succeeds; counts its calls."""
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= len(codes):
            raise ClientError({"Error": {"Code": codes[len(calls) - 1], "Message": "m"}}, "Delete")
    return call, calls


def test_already_gone_counts_as_deleted():
    call, calls = failing("NotFound")
    delete_once_free(call, gone="NotFound", busy=["InUse"], clock=NO_WAIT)
    assert len(calls) == 1


def test_busy_is_retried_until_the_delete_goes_through():
    call, calls = failing("InUse", "InUse")
    delete_once_free(call, gone="NotFound", busy=["InUse"], clock=NO_WAIT)
    assert len(calls) == 3


def test_gone_while_retrying_counts_as_deleted():
    call, calls = failing("InUse", "NotFound")
    delete_once_free(call, gone="NotFound", busy=["InUse"], clock=NO_WAIT)
    assert len(calls) == 2


def test_other_errors_and_a_busy_past_the_timeout_are_raised():
    call, _ = failing("AccessDenied")
    with pytest.raises(ClientError, match="AccessDenied"):
        delete_once_free(call, gone="NotFound", busy=["InUse"], clock=NO_WAIT)
    call, calls = failing(*["InUse"] * 5)
    with pytest.raises(ClientError, match="InUse"):
        delete_once_free(call, gone="NotFound", busy=["InUse"], clock=NO_WAIT, timeout=0)
    assert len(calls) == 1
