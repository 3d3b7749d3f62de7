"""The engine: walks a set of recipes in dependency order, independent ones concurrently.

* ``apply``: find, create when missing, reconcile drift. With ``ctx.dry_run`` it is the plan:
  create / update / no-op per resource and not a single mutating call (the Context also installs
  a guard that refuses any).
* ``status``: find and drift, nothing changed.
* ``teardown``: reverse order; a resource goes once everything that depends on it has gone.

Dependencies are by logical name and may cross layers. A dependency outside the selected
recipes is looked up (read only) and must exist. On the first failure no new work starts, running
work finishes, and ``EngineFailed`` carries every result; running the same command again finishes
an interrupted run.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Iterable

from provisioning.errors import StackError
from provisioning.resource import Drift, Resource

ACTIONS = ("create", "update", "no-op", "delete", "absent", "ok", "drifted", "missing", "found",
           "failed", "skipped")


@dataclass
class Result:
    name: str
    action: str
    id: str | None = None
    changes: list[str] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    elapsed: float = 0.0
    error: BaseException | None = None
    state: dict | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.action not in ("failed", "skipped")

    def as_dict(self) -> dict:
        data = {"name": self.name, "action": self.action, "id": self.id, "changes": self.changes,
                "outputs": self.outputs, "elapsed": round(self.elapsed, 3)}
        if self.error is not None:
            data["error"] = describe_error(self.error)
        return data


_current = threading.local()


def current_resource() -> str | None:
    """The recipe the calling thread works on (for call hooks that attribute calls)."""
    return getattr(_current, "name", None)


class Interrupted(Exception):
    """Ctrl-C: no new work was started and the running steps were let finish."""

    def __init__(self, results: list[Result]):
        self.results = results
        super().__init__("interrupted")


class EngineFailed(Exception):
    def __init__(self, results: list[Result]):
        self.results = results
        self.failures = [r for r in results if r.action == "failed"]
        first = self.failures[0] if self.failures else None
        super().__init__(f"{first.name}: {describe_error(first.error)}" if first else "failed")


def describe_error(error: BaseException | None) -> str:
    if error is None:
        return ""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}".strip()
    return str(error) or type(error).__name__


class Engine:
    def __init__(self, ctx, resources: Iterable[Resource], known: Iterable[Resource] = ()):
        self.ctx = ctx
        self.selected = {r.name: r for r in resources}
        self.all = {r.name: r for r in known}
        self.all.update(self.selected)
        for resource in self.all.values():
            for dep in resource.depends_on:
                if dep not in self.all:
                    raise StackError(f"{resource.name} depends on unknown resource {dep}")
        self.external = {d for r in self.selected.values() for d in self._closure(r.name)} - set(self.selected)
        self._check_acyclic()

    # --- graph -------------------------------------------------------------------------------
    def _closure(self, name: str) -> set[str]:
        seen, todo = set(), list(self.all[name].depends_on)
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(self.all[dep].depends_on)
        return seen

    def _check_acyclic(self) -> None:
        for name in self.all:
            if name in self._closure(name):
                raise StackError(f"dependency cycle through {name}")

    def order(self) -> list[str]:
        """A deterministic topological order of the selected recipes (for display and tests)."""
        done: list[str] = []
        pending = sorted(self.selected)
        while pending:
            for name in pending:
                if all(d in done or d not in self.selected for d in self.selected[name].depends_on):
                    done.append(name)
                    pending.remove(name)
                    break
        return done

    def _walk(self, names: set[str], prereqs: dict[str, set[str]],
              work: Callable[[str, dict], Result]) -> dict[str, Result]:
        results: dict[str, Result] = {}
        pending, running = set(names), {}
        stop = interrupted = False
        workers = max(1, self.ctx.max_workers)
        # clients are made here, on this thread, from the one session
        for name in names:
            if self.all[name].service:
                self.ctx.client(self.all[name].service)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provision") as pool:
            while pending or running:
                if not stop:
                    for name in sorted(pending):
                        if len(running) >= workers:
                            break
                        if not prereqs[name] <= results.keys():
                            continue
                        pending.discard(name)
                        if not all(results[p].ok for p in prereqs[name]):
                            results[name] = Result(name, "skipped", changes=["a dependency failed"])
                            continue
                        deps = {p: results[p].state for p in self.all[name].depends_on if p in results}
                        running[pool.submit(self._timed, work, name, deps)] = name
                if not running:
                    break
                try:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    if interrupted:  # a second Ctrl-C: the command quits at once
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise
                    stop = interrupted = True
                    self.ctx.reporter.note(
                        f"interrupted: letting {len(running)} running step(s) finish, starting no "
                        "more (Ctrl-C again to quit now); run the same command again to go on")
                    continue
                for future in finished:
                    name = running.pop(future)
                    results[name] = future.result()
                    if not results[name].ok:
                        stop = True
        for name in pending:
            results[name] = Result(name, "skipped", changes=[
                "not started after " + ("Ctrl-C" if interrupted else "a failure")])
        if interrupted:
            raise Interrupted(list(results.values()))
        return results

    def _timed(self, work, name: str, deps: dict) -> Result:
        _current.name = name
        try:
            return self._run_reported(work, name, deps)
        finally:
            _current.name = None

    def _run_reported(self, work, name: str, deps: dict) -> Result:
        reporter = self.ctx.reporter
        started = time.monotonic()
        try:
            result = work(name, deps)
        except Exception as error:  # reported per resource; EngineFailed carries it
            result = Result(name, "failed", error=error)
            result.elapsed = reporter.finish(name, "failed", describe_error(error), failed=True)
            return result
        result.elapsed = time.monotonic() - started
        if name in self.selected:
            detail = " ".join(filter(None, [result.id or "", "; ".join(result.changes)]))
            result.elapsed = reporter.finish(name, result.action, detail)
        return result

    def _finish(self, results: dict[str, Result], names: Iterable[str]) -> list[Result]:
        ordered = [results[n] for n in names if n in results]
        if any(not r.ok for r in results.values()):
            raise EngineFailed(ordered + [r for n, r in results.items() if n not in self.selected and not r.ok])
        return ordered

    def _forward(self, work) -> list[Result]:
        names = set(self.selected) | self.external
        prereqs = {n: set(self.all[n].depends_on) for n in names}
        results = self._walk(names, prereqs, work)
        return self._finish(results, self.order())

    # --- the three walks -----------------------------------------------------------------
    def apply(self) -> list[Result]:
        return self._forward(self._apply_one)

    def status(self) -> list[Result]:
        return self._forward(self._status_one)

    def teardown(self) -> list[Result]:
        names = set(self.selected)
        dependents = {n: {m for m in names if n in self.all[m].depends_on} for n in names}
        results = self._walk(names, dependents, self._teardown_one)
        return self._finish(results, reversed(self.order()))

    # --- per resource --------------------------------------------------------------------
    def _find_one(self, resource: Resource, deps: dict) -> dict | None:
        states = resource.find_all(self.ctx, deps)
        if len(states) > 1:
            ids = ", ".join(str(s.get("id")) for s in states)
            raise StackError(f"{len(states)} copies tagged as {resource.name} ({ids}); delete the extra "
                             "ones, then run the command again")
        return states[0] if states else None

    def _lookup(self, name: str, deps: dict) -> Result:
        """A dependency outside the selection: it must exist already."""
        state = self._find_one(self.all[name], deps)
        if state is None:
            layer = name.split(".", 1)[0]
            raise StackError(f"missing; run provision_{layer} first")
        return Result(name, "found", id=state.get("id"), state=state)

    def _apply_one(self, name: str, deps: dict) -> Result:
        if name not in self.selected:
            return self._lookup(name, deps)
        ctx, resource = self.ctx, self.selected[name]
        ctx.reporter.start(name, "checking")
        state = self._find_one(resource, deps)
        action = None
        if state is None:
            if ctx.dry_run:
                return Result(name, "create", changes=[f"create {resource.kind or name}"])
            ctx.reporter.start(name, "creating")
            state = resource.create(ctx, deps)
            action = "create"
        drift = resource.drift(ctx, state, deps)
        blocking = [d for d in drift if not d.fixable]
        if blocking:
            raise StackError("; ".join(map(str, blocking)))
        if drift:
            if ctx.dry_run:
                return Result(name, "update", id=state.get("id"), changes=[str(d) for d in drift],
                              state=state, outputs=resource.outputs(state))
            if action is None:
                ctx.reporter.start(name, "updating")
            state = resource.reconcile(ctx, state, drift, deps) or state
            action = action or "update"
        changes = [] if action == "create" else [str(d) for d in drift]
        return Result(name, action or "no-op", id=state.get("id"), changes=changes, state=state,
                      outputs=resource.outputs(state))

    def _status_one(self, name: str, deps: dict) -> Result:
        resource = self.all[name]
        if name in self.selected:
            self.ctx.reporter.start(name, "checking")
        states = resource.find_all(self.ctx, deps)
        if not states:
            return Result(name, "missing")
        state = states[0]
        if len(states) > 1:
            drift = [Drift("copies", len(states), 1, fixable=False)]
        else:
            missing = [d for d in resource.depends_on if deps.get(d) is None]
            drift = ([Drift("depends on", "missing " + ", ".join(missing), "present")] if missing
                     else resource.drift(self.ctx, state, deps))
        return Result(name, "drifted" if drift else "ok", id=state.get("id"),
                      changes=[str(d) for d in drift], outputs=resource.outputs(state), state=state)

    def _teardown_one(self, name: str, deps: dict) -> Result:
        ctx, resource = self.ctx, self.selected[name]
        ctx.reporter.start(name, "checking")
        states = resource.find_all(ctx, {})
        if not states:
            return Result(name, "absent")
        ctx.reporter.start(name, "deleting")
        for state in states:
            resource.delete(ctx, state)
        return Result(name, "delete", id=", ".join(str(s.get("id")) for s in states))
