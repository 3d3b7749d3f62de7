"""Helpers of the lock's tests: another run's holder, a clock whose sleeps pass at once."""
import time

from devkit.testing import make_context
from provisioning.locking import holder as holders
from provisioning.locking.table import FREE, LockTable


class SteppingClock:
    """A clock whose sleeps pass at once and advance its monotonic time; ``on_sleep(n)`` runs at
    the n-th sleep (another run releasing, say)."""

    def __init__(self, on_sleep=None):
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep

    def sleep(self, seconds):
        self.sleeps += 1
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(self.sleeps)

    def monotonic(self):
        return self.now


def a_holder(**given) -> holders.Holder:
    """A holder written by "another run": on another host with a live lease, unless given."""
    now = time.time()
    fields = dict(lock_id="0123456789abcdef", command="provision_data", caller="arn:aws:iam::123456789012:user/ci",
                  host="ci-runner-7", boot="another-boot", pid=4242, pid_started=None, since=now - 5,
                  expires=now + 55)
    fields.update(given)
    return holders.Holder(**fields)


def write_holder(config, holder):
    assert LockTable(make_context(config)).put(holder, FREE)
