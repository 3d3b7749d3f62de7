"""provisioning/retry.py: already gone is done, busy is retried (for a bounded time on the run's
clock), anything else is raised."""
import pytest
from botocore.exceptions import ClientError

from provisioning.errors import StackError
from provisioning.retry import Clock, delete_once_free, retry_on, retry_role_propagation, wait_until

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


def test_retry_on_waits_on_the_given_clock_and_gives_up_at_the_timeout():
    now, slept = [0.0], []
    clock = Clock(sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)), monotonic=lambda: now[0])
    call, calls = failing(*["NotVisible"] * 50)
    with pytest.raises(ClientError, match="NotVisible"):
        retry_on(["NotVisible"], call, clock=clock, timeout=60, delay=5)
    assert sum(slept) <= 60 and slept[0] == 5 and slept[1] == 7.5  # backs off
    assert len(calls) == len(slept) + 1


def test_retry_on_with_a_message_retries_only_errors_that_say_it():
    call, calls = failing("InvalidParameterValue")
    with pytest.raises(ClientError):
        retry_on(["InvalidParameterValue"], call, clock=NO_WAIT, message="instance profile")
    assert len(calls) == 1


def test_role_propagation_is_retried_and_other_invalid_values_are_not():
    calls = []

    def call():
        calls.append(1)
        if len(calls) < 3:
            raise ClientError({"Error": {"Code": "InvalidParameterValueException",
                                         "Message": "The role defined for the function cannot be assumed"}}, "C")
        return "made"
    assert retry_role_propagation(call, clock=NO_WAIT) == "made" and len(calls) == 3
    bad, _ = failing("InvalidParameterValueException")
    with pytest.raises(ClientError):
        retry_role_propagation(bad, clock=NO_WAIT)


def test_wait_until_polls_at_once_then_says_what_it_waited_for():
    assert wait_until(lambda: True, what="x", clock=Clock(sleep=lambda s: 1 / 0)) is None
    now = [0.0]
    clock = Clock(sleep=lambda s: now.__setitem__(0, now[0] + s), monotonic=lambda: now[0])
    with pytest.raises(StackError, match="timed out after 30s waiting for the bake; run the command again"):
        wait_until(lambda: False, what="the bake", clock=clock, timeout=30)
