"""The Resource base class: the contract every recipe keeps.

A recipe is a short class with four verbs, each given the Context and ``deps`` (the observed state
of the resources it depends on, by name; a value is None when that resource does not exist yet,
which happens in plan mode and status):

* ``find_all`` — what exists, found by the stack's tags (or a deterministic name); a list of state
  dicts, each with at least ``id``. More than one means duplicates, which the engine reports.
* ``create`` — make it, tagged at creation (``TagSpecifications``) so that a crash can never leave
  an untagged orphan, wait until usable, return its state. Settings that cannot be given at
  creation are left to ``reconcile``: the engine always checks drift right after a create.
* ``drift`` / ``reconcile`` — compare the observed state with the config; bring it back.
* ``delete`` — delete and wait until gone.

The mechanics recipes share live in their own modules: ``errors`` (what AWS's errors mean),
``retry`` (eventual consistency), ``policy`` (IAM documents), ``route53``, and the recipes more
than one layer builds in ``recipes/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

Deps = Mapping[str, "dict | None"]


@dataclass(frozen=True)
class Drift:
    setting: str
    have: Any
    want: Any
    fixable: bool = True

    def __str__(self) -> str:
        text = f"{self.setting}: {self._show(self.have)} -> {self._show(self.want)}"
        if not self.fixable:
            text += " (cannot be changed in place: tear down and re-create)"
        return text

    @staticmethod
    def _show(value) -> str:
        if isinstance(value, (set, frozenset, list, tuple)):
            return "[" + ", ".join(sorted(map(str, value))) + "]"
        return "-" if value is None else str(value)


class Resource:
    name: str = ""                     # logical name, unique across layers: "network.vpc"
    depends_on: tuple[str, ...] = ()   # logical names, possibly in other layers
    service: str = ""                  # the boto3 client it uses, made up front
    kind: str = ""                     # for people: "VPC", "subnet"

    def find_all(self, ctx, deps: Deps) -> list[dict]:
        raise NotImplementedError

    def create(self, ctx, deps: Deps) -> dict:
        raise NotImplementedError

    def drift(self, ctx, state: dict, deps: Deps) -> list[Drift]:
        return []

    def reconcile(self, ctx, state: dict, drift: list[Drift], deps: Deps) -> dict | None:
        """Fix the drift; return the new state when it changed (None keeps the old one)."""
        return None

    def delete(self, ctx, state: dict) -> None:
        raise NotImplementedError

    def outputs(self, state: dict) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def planned(name: str) -> str:
    """What a recipe shows for a dependency that does not exist yet (plan mode, status)."""
    return f"{name} (to be created)"


def dep_id(deps: Deps, name: str) -> str | None:
    """The ``id`` of a dependency's observed state, or None while it does not exist."""
    state = deps.get(name)
    return state["id"] if state else None
