#!/usr/bin/env python
"""Provisioning benchmark (not a test): AWS calls and wall time of a first apply, a re-run and a
teardown, per layer built so far, against a moto_server this script starts on loopback.

    .venv/bin/python bench/provision.py [--workers 4] [--latency 0.5] [--graph-workers 16]

The figures that matter: a re-run on an up-to-date stack makes 0 mutating calls; and with a fixed
latency added to every AWS call (a botocore hook that sleeps), the wall time of a whole-stack apply
(``provision_all``: every layer in one graph) against its critical path, the longest chain of
dependent calls times the latency. A ratio near 1 means the engine starts every resource as soon
as what it needs exists. Pauses between polls (``retry.SYSTEM_CLOCK``) are skipped: they pace real AWS.
"""
import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Never real AWS: fake credentials, and every client goes to the local emulator.
for name in list(os.environ):
    if name.startswith("AWS_"):
        del os.environ[name]
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="us-east-1")

from devkit.testing import FakeBuilder, moto_server, write_stack  # noqa: E402
from provisioning import context, layers, retry  # noqa: E402
from provisioning.calls import CallCounter, CallHook  # noqa: E402
from provisioning.config import load_file  # noqa: E402
from provisioning.context import Context  # noqa: E402
from provisioning.engine import Engine, current_resource  # noqa: E402
from provisioning.reporter import Reporter  # noqa: E402

# moto never runs the builder's user data: "the bake script" writes its completion signal (as the
# tests do); everything else is the command's own calls.
_builder = FakeBuilder("ok")
context.DEFAULT_BAKE_SIGNAL = _builder  # an emulator never runs the bake script


def measure(config, layer, verb, workers):
    counter = CallCounter()
    ctx = Context(config, reporter=Reporter(io.StringIO()), hooks=(counter,), max_workers=workers)
    engine = Engine(ctx, layers.resources(config, [layer]), known=layers.resources(config))
    started = time.perf_counter()
    getattr(engine, verb)()
    return counter, time.perf_counter() - started


class Latency(CallHook):
    """Sleeps before every AWS call, and counts each recipe's calls."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.calls: dict[str | None, int] = {}

    def before(self, service, operation, params):
        name = current_resource()
        self.calls[name] = self.calls.get(name, 0) + 1
        time.sleep(self.seconds)


def critical_path_calls(recipes, calls: dict) -> tuple[int, list[str]]:
    """The chain of dependent recipes with the most calls, and its call count."""
    by_name = {r.name: r for r in recipes}
    memo: dict[str, tuple[int, list[str]]] = {}

    def longest(name):
        if name not in memo:
            before = max((longest(d) for d in by_name[name].depends_on if d in by_name),
                         default=(0, []))
            memo[name] = (before[0] + calls.get(name, 0), before[1] + [name])
        return memo[name]

    return max(longest(name) for name in by_name)


def emulated_config(tmp: str):
    path = write_stack(Path(tmp), "bench")
    # moto answers 403 to object calls under a TLS-only bucket policy (docs/moto.md)
    path.write_text(path.read_text() + "\n[data]\ntls_only_bucket_policy = false\n")
    config = load_file(path)
    import boto3  # the stack's domain lives in a public zone found by name
    boto3.client("route53").create_hosted_zone(Name=config.domain, CallerReference="bench")
    return config


def latency_run(latency: float, workers: int) -> float:
    """provision_all's graph on a fresh emulator with ``latency`` added to every call."""
    with tempfile.TemporaryDirectory() as tmp, moto_server({"MOTO_ACM_VALIDATION_WAIT": "0"}) as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        config = emulated_config(tmp)
        hook = Latency(latency)
        ctx = Context(config, reporter=Reporter(io.StringIO()), hooks=(hook,), max_workers=workers)
        recipes = layers.resources(config)
        started = time.perf_counter()
        Engine(ctx, recipes, known=recipes).apply()
        wall = time.perf_counter() - started
    chain_calls, chain = critical_path_calls(recipes, hook.calls)
    outside = hook.calls.get(None, 0)  # calls made outside any recipe run serially too
    critical = (chain_calls + outside) * latency
    print(f"\nwhole stack in one graph, {latency * 1000:.0f} ms added to each of "
          f"{sum(hook.calls.values())} AWS calls, {workers} workers:")
    print(f"  critical path: {chain_calls + outside} dependent calls "
          f"({' -> '.join(chain)}) = {critical:.2f} s")
    print(f"  wall time {wall:.2f} s; wall / critical path = {wall / critical:.2f}")
    return wall / critical


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.5,
                        help="seconds added to each AWS call (default 0.5, as AWS control-plane calls "
                             "take; it also keeps moto_server's own CPU time, serialised on this "
                             "machine, small beside it)")
    parser.add_argument("--graph-workers", type=int, default=16,
                        help="workers for the latency run (the engine's bound)")
    args = parser.parse_args()
    retry.SYSTEM_CLOCK = retry.Clock(sleep=lambda seconds: None)
    with tempfile.TemporaryDirectory() as tmp, moto_server({"MOTO_ACM_VALIDATION_WAIT": "0"}) as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        config = emulated_config(tmp)
        names = layers.layer_names()
        rows = []
        for phase, verb, order in (("first apply", "apply", names), ("re-run", "apply", names),
                                   ("teardown", "teardown", list(reversed(names)))):
            for layer in order:
                counter, seconds = measure(config, layer, verb, args.workers)
                rows.append((layer, phase, counter.mutating, counter.reads, seconds, counter))
        print(f"provisioning against moto_server {endpoint}, {args.workers} workers, "
              f"layers: {', '.join(names)}")
        print(f"{'layer':<10} {'phase':<12} {'mutating':>8} {'read':>6} {'wall s':>8}")
        for layer, phase, mutating, reads, seconds, _ in rows:
            print(f"{layer:<10} {phase:<12} {mutating:>8} {reads:>6} {seconds:>8.2f}")
        for phase in ("first apply", "re-run", "teardown"):
            mine = [r for r in rows if r[1] == phase]
            print(f"{'stack':<10} {phase:<12} {sum(r[2] for r in mine):>8} {sum(r[3] for r in mine):>6} "
                  f"{sum(r[4] for r in mine):>8.2f}")
        rerun_mutating = sum(r[2] for r in rows if r[1] == "re-run")
        print(f"re-run on an up-to-date stack: {rerun_mutating} mutating calls")
        for layer, phase, mutating, *_ , counter in rows:
            if phase == "re-run" and mutating:
                print(f"  {layer}: {counter.mutating_calls()}")
    ratio = latency_run(args.latency, args.graph_workers)
    return 1 if rerun_mutating or ratio > 1.2 else 0


if __name__ == "__main__":
    sys.exit(main())
