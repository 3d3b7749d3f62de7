"""The pipeline layer against moto in-process: create, re-run, drift, plan, teardown."""
import json

import pytest

from provisioning.calls import CallCounter
from provisioning.layers import pipeline
from provisioning.testing import engine_for, make_context
from provisioning.tests.pipeline_fixtures import make_prerequisites


def apply(config, **kwargs):
    counter = CallCounter()
    ctx = make_context(config, hooks=[counter], **kwargs)
    results = {r.name: r for r in engine_for(ctx, ["pipeline"]).apply()}
    return results, counter


@pytest.fixture
def prereqs(aws):
    return make_prerequisites()


@pytest.fixture
def built(config, prereqs):
    results, _ = apply(config)
    return results


def test_first_apply_creates_everything_and_rerun_changes_nothing(built, config):
    assert {r.action for r in built.values()} == {"create"}, {n: r.action for n, r in built.items()}
    results, counter = apply(config)
    assert {r.action for r in results.values()} == {"no-op"}, {n: r.changes for n, r in results.items() if r.changes}
    assert counter.mutating == 0, counter.mutating_calls()
