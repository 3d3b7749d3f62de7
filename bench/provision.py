#!/usr/bin/env python
"""Provisioning benchmark (not a test): AWS calls and wall time of a first apply, a re-run and a
teardown, per layer built so far, against a moto_server this script starts on loopback.

    .venv/bin/python bench/provision.py [--workers 4] [--runs 1]

The figure that matters: a re-run on an up-to-date stack makes 0 mutating calls.
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

from provisioning import layers  # noqa: E402
from provisioning.calls import CallCounter  # noqa: E402
from provisioning.config import load_file  # noqa: E402
from provisioning.context import Context  # noqa: E402
from provisioning.engine import Engine  # noqa: E402
from provisioning.reporter import Reporter  # noqa: E402
from provisioning.layers import image  # noqa: E402
from provisioning.testing import FakeBuilder, moto_server, write_stack  # noqa: E402

# moto never runs the builder's user data: "the bake script" writes its completion signal (as the
# tests do); everything else is the command's own calls.
_builder = FakeBuilder("ok")
image.Ami.read_signal = lambda recipe, ctx, instance_id: _builder.read_signal(recipe, ctx, instance_id)


def measure(config, layer, verb, workers):
    counter = CallCounter()
    ctx = Context(config, reporter=Reporter(io.StringIO()), hooks=(counter,), max_workers=workers)
    engine = Engine(ctx, layers.resources(config, [layer]), known=layers.resources(config))
    started = time.perf_counter()
    getattr(engine, verb)()
    return counter, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, moto_server({"MOTO_ACM_VALIDATION_WAIT": "0"}) as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        path = write_stack(Path(tmp), "bench")
        # moto answers 403 to object calls under a TLS-only bucket policy (MOTO.md)
        path.write_text(path.read_text() + "\n[data]\ntls_only_bucket_policy = false\n")
        config = load_file(path)
        import boto3  # the stack's domain lives in a public zone found by name
        boto3.client("route53").create_hosted_zone(Name=config.domain, CallerReference="bench")
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
        rerun_mutating = sum(r[2] for r in rows if r[1] == "re-run")
        print(f"re-run on an up-to-date stack: {rerun_mutating} mutating calls")
        for layer, phase, mutating, *_ , counter in rows:
            if phase == "re-run" and mutating:
                print(f"  {layer}: {counter.mutating_calls()}")
        return 1 if rerun_mutating else 0


if __name__ == "__main__":
    sys.exit(main())
