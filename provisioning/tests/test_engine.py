"""The engine with in-memory recipes: order, concurrency, plan, failures, teardown order."""
import threading

import pytest

from devkit.testing import make_context
from provisioning.engine import Engine, EngineFailed
from provisioning.errors import StackError
from provisioning.resource import Drift, Resource


class Fake(Resource):
    def __init__(self, name, depends_on=(), store=None, log=None, barrier=None, fail=False):
        self.name, self.depends_on = name, tuple(depends_on)
        self.store, self.log, self.barrier, self.fail = store, log, barrier, fail

    def find_all(self, ctx, deps):
        return [self.store[self.name]] if self.name in self.store else []

    def create(self, ctx, deps):
        if self.barrier:  # only passes when the other independent recipe runs at the same time
            self.barrier.wait(timeout=10)
        if self.fail:
            raise RuntimeError("boom")
        missing = [d for d in self.depends_on if not deps.get(d)]
        assert not missing, f"{self.name} created before {missing}"
        self.log.append(("create", self.name))
        self.store[self.name] = {"id": self.name, "setting": "good"}
        return self.store[self.name]

    def drift(self, ctx, state, deps):
        return [] if state["setting"] == "good" else [Drift("setting", state["setting"], "good")]

    def reconcile(self, ctx, state, drift, deps):
        self.log.append(("reconcile", self.name))
        state["setting"] = "good"

    def delete(self, ctx, state):
        self.log.append(("delete", self.name))
        del self.store[self.name]


@pytest.fixture
def fake(config):
    store, log = {}, []

    def build(specs, **extra):
        return [Fake(name, deps, store, log, **extra.get(name, {})) for name, deps in specs]
    return store, log, build


GRAPH = [("a.one", []), ("a.two", ["a.one"]), ("a.three", ["a.one"]), ("b.four", ["a.two", "a.three"])]


def test_apply_in_dependency_order_then_teardown_in_reverse(config, fake):
    store, log, build = fake
    ctx = make_context(config)
    results = Engine(ctx, build(GRAPH)).apply()
    assert {r.name: r.action for r in results} == dict.fromkeys(store, "create")
    created = [name for verb, name in log]
    assert created.index("a.one") < created.index("a.two") < created.index("b.four")
    assert created.index("a.three") < created.index("b.four")
    log.clear()
    assert {r.action for r in Engine(ctx, build(GRAPH)).apply()} == {"no-op"}
    assert log == []
    Engine(ctx, build(GRAPH)).teardown()
    deleted = [name for verb, name in log]
    assert deleted[0] == "b.four" and deleted[-1] == "a.one" and store == {}
    assert {r.action for r in Engine(ctx, build(GRAPH)).teardown()} == {"absent"}


def test_independent_recipes_run_concurrently(config, fake):
    store, log, build = fake
    barrier = threading.Barrier(2)
    ctx = make_context(config, max_workers=2)
    resources = build([("a.x", []), ("a.y", [])], **{"a.x": {"barrier": barrier}, "a.y": {"barrier": barrier}})
    Engine(ctx, resources).apply()  # a serial walk would break the barrier
    assert set(store) == {"a.x", "a.y"}


def test_plan_reports_create_update_noop_and_changes_nothing(config, fake):
    store, log, build = fake
    ctx = make_context(config)
    Engine(ctx, build(GRAPH[:2])).apply()
    store["a.two"]["setting"] = "bad"
    log.clear()
    results = Engine(make_context(config, dry_run=True), build(GRAPH)).apply()
    assert {r.name: r.action for r in results} == {"a.one": "no-op", "a.two": "update",
                                                   "a.three": "create", "b.four": "create"}
    assert results[[r.name for r in results].index("a.two")].changes == ["setting: bad -> good"]
    assert log == [] and store["a.two"]["setting"] == "bad" and "a.three" not in store


def test_a_failure_stops_new_work_and_names_the_resource(config, fake):
    store, log, build = fake
    ctx = make_context(config, max_workers=1)
    with pytest.raises(EngineFailed) as failed:
        Engine(ctx, build(GRAPH, **{"a.two": {"fail": True}})).apply()
    actions = {r.name: r.action for r in failed.value.results}
    assert actions["a.two"] == "failed" and actions["b.four"] == "skipped"
    assert "b.four" not in store and str(failed.value) == "a.two: boom"


def test_duplicates_are_reported_not_guessed(config, fake):
    store, log, build = fake
    resource = build([("a.one", [])])[0]
    resource.find_all = lambda ctx, deps: [{"id": "x-1"}, {"id": "x-2"}]
    with pytest.raises(EngineFailed, match="2 copies tagged as a.one"):
        Engine(make_context(config), [resource]).apply()
    assert Engine(make_context(config), [resource]).status()[0].action == "drifted"


def test_cross_layer_dependency_must_exist(config, fake):
    store, log, build = fake
    everything = build(GRAPH)
    layer_b = [r for r in everything if r.name.startswith("b.")]
    with pytest.raises(EngineFailed, match="^a.one: missing; run provision_a first$"):
        Engine(make_context(config), layer_b, known=everything).apply()
    assert "b.four" not in store
    Engine(make_context(config), everything[:3]).apply()
    results = Engine(make_context(config), layer_b, known=everything).apply()
    assert [(r.name, r.action) for r in results] == [("b.four", "create")]


def test_graph_errors(config, fake):
    store, log, build = fake
    with pytest.raises(StackError, match="depends on unknown resource a.zero"):
        Engine(make_context(config), build([("a.one", ["a.zero"])]))
    with pytest.raises(StackError, match="dependency cycle"):
        Engine(make_context(config), build([("a.one", ["a.two"]), ("a.two", ["a.one"])]))


def test_ctrl_c_lets_running_steps_finish_starts_nothing_new_and_a_rerun_finishes(
        config, fake, monkeypatch):
    from provisioning import engine as engine_module
    from provisioning.engine import Interrupted

    store, log, build = fake
    real_wait, calls = engine_module.wait, []

    def wait_then_ctrl_c(futures, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # Ctrl-C arrives while a.one is being created
            real_wait(futures, **kwargs)
            raise KeyboardInterrupt
        return real_wait(futures, **kwargs)

    monkeypatch.setattr(engine_module, "wait", wait_then_ctrl_c)
    ctx = make_context(config)
    with pytest.raises(Interrupted) as caught:
        Engine(ctx, build(GRAPH)).apply()
    actions = {r.name: r.action for r in caught.value.results}
    assert actions["a.one"] == "create"  # the running step finished
    assert {actions[n] for n in ("a.two", "a.three", "b.four")} == {"skipped"}
    assert set(store) == {"a.one"}
    monkeypatch.setattr(engine_module, "wait", real_wait)
    results = Engine(ctx, build(GRAPH)).apply()
    assert {r.name: r.action for r in results} == {"a.one": "no-op", "a.two": "create",
                                                  "a.three": "create", "b.four": "create"}
