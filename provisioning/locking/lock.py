"""One writer per stack: the run that changes a stack holds its lock from before its first change
to its end, so two runs can never build two copies of anything.

* Taking it: a conditional write that succeeds only if nobody holds it. Held: wait up to
  ``timeout`` seconds (Terraform's ``-lock-timeout``; 0, the default, refuses at once), polling.
* A crashed holder does not block running the same command again: one on this host whose process
  is gone is taken over at once; one elsewhere once its lease has expired. Either takeover is
  itself conditional on the holder seen (and, for a lease, on it not having been renewed), so of
  two runs racing for it exactly one wins.
* The lease (60 s, ``CLOUDSITE_LOCK_LEASE_SECONDS``) is renewed by a heartbeat thread every third
  of it while the run works. A run that loses its lock (taken over by ``provision_unlock --force``,
  or unrenewed past its lease) makes no further change: the lock is a call hook on the stack's
  clients that refuses every mutating call from then on.
* Released at the end, on failure and on Ctrl-C too; a whole-stack teardown deletes the table
  itself, as its very last change.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import threading
from typing import Callable

from provisioning.calls import CallHook, is_mutating
from provisioning.config import ConfigError
from provisioning.errors import StackError
from provisioning.locking.holder import Holder, held_here, iso, now
from provisioning.locking.table import EXPIRED, FREE, STILL, LockTable

LEASE_SECONDS = 60.0
LEASE_ENV = "CLOUDSITE_LOCK_LEASE_SECONDS"
POLL_SECONDS = 5.0


def lease_seconds() -> float:
    text = os.environ.get(LEASE_ENV, "")
    if not text:
        return LEASE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{LEASE_ENV}={text!r}: expected a number of seconds above 0")
    return value


def unlock_hint(stack: str, lock_id: str) -> str:
    return f"manage.py provision_unlock --stack {stack} --lock-id {lock_id}"


class LockHeld(StackError):
    def __init__(self, stack: str, holder: Holder, waited: float):
        self.holder = holder
        waited_text = f"after waiting {waited:.0f}s, " if waited else ""
        super().__init__(
            f"stack {stack} is locked {waited_text}by {holder.describe()}: let that run finish "
            f"(--lock-timeout SECONDS waits for it), or if it is gone, {unlock_hint(stack, holder.lock_id)}")


class LockLost(StackError):
    """The run no longer holds its stack's lock: it must not change anything more."""


class StackLock(CallHook):
    # a guard on the stack's clients; the lock's own calls (its release) are never refused
    sees_lock_calls = False

    def __init__(self, ctx, command: str, *, timeout: float = 0.0, lease: float | None = None,
                 say: Callable[[str], None] | None = None, wall: Callable[[], float] = now):
        self.ctx, self.command, self.timeout = ctx, command, max(0.0, timeout)
        self.lease = lease or lease_seconds()
        self.say = say or ctx.reporter.note
        self.wall = wall
        self.table = LockTable(ctx)
        self.lock_id = secrets.token_hex(8)
        self.holder: Holder | None = None
        self.lost: str = ""
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def stack(self) -> str:
        return self.ctx.stack

    # --- taking it -------------------------------------------------------------------------------
    def acquire(self) -> "StackLock":
        # this process counts the id as live before the first write: a run of this process that
        # sees it must never judge it gone (a crash inside acquire forgets it again)
        held_here(self.lock_id, True)
        try:
            self._acquire()
        except BaseException:
            held_here(self.lock_id, False)
            raise
        self.ctx.add_hook(self)
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock-{self.stack}", daemon=True)
        self._beat.start()
        return self

    def _acquire(self) -> None:
        clock = self.ctx.clock
        caller = self.ctx.client("sts").get_caller_identity()["Arn"]
        deadline = clock.monotonic() + self.timeout
        announced = False
        while True:
            mine = Holder.for_this_process(self.lock_id, self.command, caller, now=self.wall(), lease=self.lease)
            if self._take(mine):
                break
            holder = self.table.read()
            if holder is None or holder.gone() or holder.expired(self.wall()):
                continue  # freed, dead or expired meanwhile: _take tries again
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise LockHeld(self.stack, holder, self.timeout)
            if not announced:
                self.say(f"waiting up to {self.timeout:.0f}s for the lock of stack {self.stack}: "
                         f"held by {holder.describe()}")
                announced = True
            clock.sleep(min(POLL_SECONDS, self.lease / 4, remaining))
        self.holder, self._valid_until = mine, mine.expires

    def _take(self, mine: Holder) -> bool:
        """Free: take it. Held by a run that is gone, or whose lease expired: take it over, on
        condition that it is still that holder's (and, for a lease, still unrenewed)."""
        if self.table.put(mine, FREE):
            return True
        holder = self.table.read()
        if holder is None:
            return False
        if holder.gone():
            if self.table.put(mine, STILL, {":seen": holder.lock_id}):
                self.say(f"took over the lock of stack {self.stack} from a run on this host that is "
                         f"gone: {holder.describe()}")
                return True
        elif holder.expired(mine.since):
            if self.table.put(mine, EXPIRED, {":seen": holder.lock_id, ":now": mine.since}):
                self.say(f"took over the lock of stack {self.stack}, whose lease expired at "
                         f"{iso(holder.expires)}: {holder.describe()}")
                return True
        return False

    # --- keeping it ------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            expires = self.wall() + self.lease
            try:
                renewed = self.table.renew(self.lock_id, expires)
            except Exception:  # noqa: BLE001 - a network blip: the next beat tries again within the lease
                continue
            if renewed:
                self._valid_until = expires
                continue
            current = self.table_holder_description()
            self.lost = f"the lock of stack {self.stack} was taken over by {current}"
            self.say(f"{self.lost}: this run makes no further change")
            return

    def table_holder_description(self) -> str:
        try:
            holder = self.table.read()
        except Exception:  # noqa: BLE001 - only for the message
            return "another run"
        return holder.describe() if holder else "nobody (it was removed)"

    def before(self, service, operation, params):
        """Refuses every change once the lock is lost, or unrenewed past its lease."""
        if self.holder is None or not is_mutating(operation):
            return
        reason = self.lost
        if not reason and self.wall() >= self._valid_until:
            renewed = iso(self._valid_until - self.lease)
            reason = f"the lock of stack {self.stack} could not be renewed since {renewed} and its lease has expired"
        if reason:
            raise LockLost(f"{reason}; {service}:{operation} was not sent. Run the same command again once "
                           "no other run holds the lock")

    # --- letting go ------------------------------------------------------------------------------
    def release(self, *, drop_table: bool = False) -> None:
        """Delete the lock's item (or, ``drop_table``, its whole table); never raises: a release
        that fails leaves a lease that expires on its own, and says how to break it now."""
        if self.holder is None:
            return
        holder, self.holder = self.holder, None
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join(timeout=10)
        held_here(self.lock_id, False)
        if self.lost:
            return
        try:
            if drop_table:
                self.table.drop()
            elif not self.table.remove(self.lock_id):
                self.say(f"the lock of stack {self.stack} was no longer this run's when it ended: "
                         f"{self.table_holder_description()} holds it")
        except Exception as error:  # noqa: BLE001 - the run's own outcome must not be masked
            from provisioning.engine import describe_error

            self.say(f"could not release the lock of stack {self.stack} ({describe_error(error)}): its lease "
                     f"ends by {iso(self._valid_until)}, or break it now: {unlock_hint(self.stack, holder.lock_id)}")


@contextlib.contextmanager
def held(ctx, command: str, **options):
    """``with held(ctx, "provision_network"):`` the stack's lock for the block."""
    lock = StackLock(ctx, command, **options).acquire()
    try:
        yield lock
    finally:
        lock.release()


def read(ctx) -> Holder | None:
    """Who holds the stack's lock now (None: nobody); a read only, for plans and status."""
    return LockTable(ctx).read()
