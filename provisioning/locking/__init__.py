"""The stack's lock (README, "One writer per stack"): ``held``, ``StackLock``, ``read``."""
from provisioning.locking.holder import Holder
from provisioning.locking.lock import LEASE_ENV, LockHeld, LockLost, StackLock, held, lease_seconds, read, unlock_hint
from provisioning.locking.table import LockTable

__all__ = ["LEASE_ENV", "Holder", "LockHeld", "LockLost", "LockTable", "StackLock", "held", "lease_seconds",
           "read", "unlock_hint"]
