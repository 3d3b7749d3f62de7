"""Test helpers every layer uses: stack files, contexts, and the crash-resume check.

The crash-resume check, for a layer: run a clean apply and count its mutating calls (N); then for
every k in 1..N, in a fresh emulator, apply with a hook that "crashes" the process after the k-th
mutating call has succeeded (every later call fails too, as in a dead process), apply again with a
fresh context (a new process), and compare with the clean run: the same inventory of what exists
(tags or not: no duplicate VPC, subnet, group or rule), every recipe found exactly once with no
drift, and a further apply making no mutating call.
"""
from __future__ import annotations

import functools
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.session

from devkit import inventory, live
from provisioning import layers, locking, naming
from provisioning.calls import CallCounter, CallHook, is_mutating
from provisioning.context import Context
from provisioning.engine import Engine, EngineFailed
from provisioning.errors import StackError
from provisioning.reporter import Reporter

STACK_TOML = """\
[stack]
name = "{name}"
region = "{region}"
domain = "{name}.example.com"

[network]
vpc_cidr = "{vpc_cidr}"
availability_zones = {zones}
app_port = {app_port}
"""


def write_stack(directory: Path, name: str = "dev", *, region: str = "us-east-1",
                vpc_cidr: str = "10.20.0.0/16", zones: str = '"auto"', app_port: int = 8000) -> Path:
    """A stack file for tests: no profile, no role (the fake environment credentials)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(STACK_TOML.format(name=name, region=region, vpc_cidr=vpc_cidr, zones=zones,
                                      app_port=app_port))
    return path


@functools.lru_cache(maxsize=1)
def _shared_botocore_session():
    # Loading service models is most of a client's cost; tests make many contexts, so they share
    # one botocore session (and its model cache). Products make one session per run.
    return botocore.session.get_session()


@functools.lru_cache(maxsize=None)
def _shared_session(region: str) -> boto3.Session:
    # One boto3 Session per botocore session: each boto3 Session registers its handlers on the
    # botocore session, and a second one makes S3 clients fail ("Cannot inject class attribute
    # upload_file"). Contexts make their clients under their own lock, one test at a time.
    return boto3.Session(botocore_session=_shared_botocore_session(), region_name=region)


def make_context(config, *, hooks=(), dry_run=False, max_workers=4, stream=None, **given) -> Context:
    """A Context on the shared in-process session; ``given``: Context's own keywords (``clock``,
    ``options``, ``bake_signal``)."""
    session = _shared_session(config.region or "us-east-1")
    return Context(config, session=session, dry_run=dry_run, max_workers=max_workers,
                   reporter=Reporter(stream if stream is not None else io.StringIO()), hooks=hooks, **given)


def engine_for(ctx, layer_names: list[str] | None = None) -> Engine:
    return Engine(ctx, layers.resources(ctx.config, layer_names), known=layers.resources(ctx.config))


# Longer than any test run: no heartbeat fires, so the k-th mutating call of a run is the same
# call in every run (a heartbeat in the clean run would add a k the crashed runs never reach). The
# heartbeat has tests of its own (provisioning/tests/test_locking.py).
TEST_LEASE = 24 * 3600.0


def apply_locked(ctx, layer_names: list[str] | None = None, command: str = "test-apply"):
    """Apply the layers holding the stack's lock, as the provision commands do."""
    with locking.held(ctx, command, lease=TEST_LEASE):
        return engine_for(ctx, layer_names).apply()


# What "tagged with the stack" means, per kind: (service, describe method, result key). moto keeps
# the tags of deleted EC2 resources in describe_tags, so each kind is listed by its own describe.
TAGGED_KINDS = [
    ("ec2", "describe_vpcs", "Vpcs"),
    ("ec2", "describe_subnets", "Subnets"),
    ("ec2", "describe_internet_gateways", "InternetGateways"),
    ("ec2", "describe_route_tables", "RouteTables"),
    ("ec2", "describe_security_groups", "SecurityGroups"),
]


def tagged_with_stack(ctx) -> dict[str, int]:
    """How many resources of each known kind carry ``cloudsite:stack=<stack>`` (non-zero only)."""
    found = {}
    for service, method, key in TAGGED_KINDS:
        pages = ctx.client(service).get_paginator(method).paginate(
            Filters=[{"Name": f"tag:{naming.STACK_TAG}", "Values": [ctx.stack]}])
        count = sum(len(page[key]) for page in pages)
        if count:
            found[f"{service}.{key}"] = count
    parameters = ctx.client("ssm").get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": f"tag:{naming.STACK_TAG}", "Values": [ctx.stack]}])
    count = sum(len(page["Parameters"]) for page in parameters)
    if count:
        found["ssm.Parameters"] = count
    return found


def command_env(endpoint: str, **extra) -> dict:
    """The environment of a command run as a process against ``endpoint`` (fake credentials)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", DJANGO_SECRET_KEY="moto-server-test", **extra)
    return env


def manage_command(*args: str, stacks_dir, prefix=()) -> list[str]:
    """The command line of ``manage.py`` with ``args`` (``prefix``: what runs it, e.g. unshare)."""
    import sys

    return [*prefix, sys.executable, "manage.py", *args, "--stacks-dir", str(stacks_dir)]


def manage(stacks_dir, env, *args) -> tuple[int, str, str]:
    """``manage.py`` with ``args`` as a process in the repository: (exit code, stdout, stderr)."""
    import subprocess

    done = subprocess.run(manage_command(*args, stacks_dir=stacks_dir), cwd=live.REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def moto_server(env: dict | None = None):
    """A ``moto_server`` process on loopback for the duration; yields its endpoint URL.

    Provisioning never needs moto's catalogue of default AMIs, which makes start-up slow.
    """
    return live.moto_server(env={"MOTO_EC2_LOAD_DEFAULT_AMIS": "false", **(env or {})})


class SimulatedCrash(RuntimeError):
    pass


class CrashAfter(CallHook):
    """Lets k mutating calls through, then the process is "dead": every later call raises."""

    def __init__(self, k: int):
        self.k = k
        self.mutating = 0
        self.crashed = False
        self._lock = threading.Lock()

    def before(self, service, operation, params):
        if self.crashed:
            raise SimulatedCrash(f"dead process: {service}:{operation} never sent")

    def after(self, service, operation):
        if not is_mutating(operation):
            return
        with self._lock:
            self.mutating += 1
            if self.mutating >= self.k:
                self.crashed = True
        if self.crashed:
            raise SimulatedCrash(f"crash after mutating call {self.k} ({service}:{operation})")


@dataclass
class RunOutcome:
    mutating_calls: int
    inventory: dict
    status: dict[str, str]
    rerun_mutating_calls: int
    crashed: bool = False
    problems: list[str] = field(default_factory=list)


def run_once(config, layer: str | tuple[str, ...], *, crash_after: int | None = None,
             prerequisites=(), max_workers: int = 1) -> RunOutcome:
    """One scenario in the current (fresh) emulator: prerequisites applied, then the layer (or
    several layers as one graph, as ``provision_all`` does) applied, crashing after
    ``crash_after`` mutating calls if given, and applied again."""
    chosen = [layer] if isinstance(layer, str) else list(layer)
    if prerequisites:
        engine_for(make_context(config), list(prerequisites)).apply()
    # k counts the lock's calls too: k=1 may crash right after the lock was written, the last k
    # right after it was released
    counter = CallCounter(lock_calls=True)
    crash = CrashAfter(crash_after) if crash_after is not None else None
    ctx = make_context(config, hooks=[counter] + ([crash] if crash else []), max_workers=max_workers)
    try:
        apply_locked(ctx, chosen)
    except EngineFailed as failed:
        if crash is None or not all(isinstance(r.error, SimulatedCrash) for r in failed.failures):
            raise
    except SimulatedCrash:  # in the lock's own calls, before the engine ran
        pass
    crashed = crash is not None and crash.crashed
    first_mutating = counter.mutating
    problems = []
    recheck = CallCounter()
    ctx = make_context(config, hooks=[recheck])
    try:
        if crashed:  # the operator runs the same command again, in a new process
            apply_locked(make_context(config, max_workers=4), chosen)
        apply_locked(ctx, chosen)
    except (EngineFailed, StackError) as failed:
        problems.append(f"the run after the crash failed: {failed}")
    status = {r.name: r.action for r in engine_for(ctx, chosen).status()}
    return RunOutcome(first_mutating, inventory.counts(ctx, [*prerequisites, *chosen]), status,
                      recheck.mutating, crashed, problems)


@dataclass
class CrashResumeReport:
    clean: RunOutcome
    ks: list[int]                   # the k that were run
    problems: dict[int, list[str]]  # per k, how the resumed stack differs from the clean one

    def describe(self) -> str:
        return "\n".join(f"k={k}: {'; '.join(found)}" for k, found in self.problems.items())


def check_crash_resume(config, layer: str | tuple[str, ...], *, prerequisites=(), ks=None, stride: int = 1,
                       max_workers: int = 1, mock=None) -> CrashResumeReport:
    """Run the scenario for every k in 1..N (or every ``stride``-th, or the given ks); returns
    the clean run and, per k, what differed from it (empty: every k resumed into the clean stack).
    ``max_workers=1`` makes the k-th call the same call in every run; more workers test crashes
    while recipes run concurrently."""
    from moto import mock_aws

    mock = mock or mock_aws
    with mock():
        clean = run_once(config, layer, prerequisites=prerequisites)
    problems: dict[int, list[str]] = {}
    if clean.problems:
        raise AssertionError(f"the clean run of {layer} failed: {clean.problems}")
    ks = list(ks if ks is not None else range(1, clean.mutating_calls + 1, stride))
    for k in ks:
        with mock():
            outcome = run_once(config, layer, crash_after=k, prerequisites=prerequisites,
                               max_workers=max_workers)
        found = list(outcome.problems)
        if not outcome.crashed:
            found.append("the run did not crash")
        if outcome.inventory != clean.inventory:
            diff = {key: (outcome.inventory.get(key), clean.inventory.get(key))
                    for key in set(outcome.inventory) | set(clean.inventory)
                    if outcome.inventory.get(key) != clean.inventory.get(key)}
            found.append(f"inventory (resumed, clean): {diff}")
        bad = {name: action for name, action in outcome.status.items() if action != "ok"}
        if bad:
            found.append(f"status: {bad}")
        if outcome.rerun_mutating_calls:
            found.append(f"a further run made {outcome.rerun_mutating_calls} mutating calls")
        if found:
            problems[k] = found
    return CrashResumeReport(clean, ks, problems)


class FakeBuilder:
    """Stands in for the builder instance's bake script on an emulator (which never runs user data):
    the first time the bake looks for the signal, "the script" writes ``value`` to it, through a
    client of its own (not the provisioning context's: its calls are not the command's).

        make_context(config, bake_signal=FakeBuilder("ok"))
    """

    def __init__(self, value: str | None = "ok"):
        self.value = value
        self.instances: list[str] = []

    def __call__(self, ctx, instance_id):
        from provisioning import naming
        from provisioning.layers.image import read_bake_signal

        if self.value is not None and instance_id not in self.instances:
            self.instances.append(instance_id)
            boto3.client("ssm", region_name=ctx.region).put_parameter(
                Name=naming.bake_signal(ctx.stack, instance_id), Value=self.value, Type="String", Overwrite=True)
        return read_bake_signal(ctx, instance_id)

    def install(self, monkeypatch):
        """For the runs a test does not make its Context for (a command): every Context made
        without a ``bake_signal`` reads this builder's."""
        from provisioning import context

        monkeypatch.setattr(context, "DEFAULT_BAKE_SIGNAL", self)
        return self


def emulator_with_zone(zone_name: str):
    """A ``mock`` for ``check_crash_resume``: a fresh emulator holding the public hosted zone the
    stack's domain lives in (the compute and pipeline layers write records there)."""
    import contextlib

    from moto import mock_aws

    @contextlib.contextmanager
    def mock():
        with mock_aws():
            boto3.client("route53", region_name="us-east-1").create_hosted_zone(Name=zone_name, CallerReference="test")
            yield
    return mock


def run(name, *args, stacks_dir=None, **stealth) -> tuple[int, str, str]:
    """A management command in this process: (exit code, stdout, stderr), the error's one line
    on stderr as the command line would show it; ``stealth``: the command's stealth options (a
    test's ``clock``)."""
    from django.core.management import CommandError, call_command

    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command(name, *args, *(["--stacks-dir", str(stacks_dir)] if stacks_dir else []),
                     stdout=out, stderr=err, **stealth)
    except CommandError as error:
        code = error.returncode
        err.write(str(error))
    return code, out.getvalue(), err.getvalue()


def teach_moto_ebs_default_key(monkeypatch):
    """moto 5.2.5 stores the default EBS key but implements neither reading nor resetting it
    (docs/moto.md): teach it both, answering as AWS does (alias/aws/ebs by default). The
    ``moto_ebs_default_key`` fixture's body, for set-ups with their own ``pytest.MonkeyPatch``."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def aws_managed(self):
        return f"arn:aws:kms:{self.region}:{self.current_account}:alias/aws/ebs"

    def get(self):
        return ActionResult({"KmsKeyId": getattr(self.ec2_backend, "default_kms_key_id", None) or aws_managed(self)})

    def reset(self):
        self.ec2_backend.default_kms_key_id = None
        return ActionResult({"KmsKeyId": aws_managed(self)})

    monkeypatch.setattr(EC2Response, "get_ebs_default_kms_key_id", get, raising=False)
    monkeypatch.setattr(EC2Response, "reset_ebs_default_kms_key_id", reset, raising=False)


# The emulator's MariaDB for tests (this machine's, on loopback), with the shared server's
# prefixes for what the db-admin stand-in makes: cs_db_* users, cloudsite_db_* databases.
EMULATOR_MYSQL = {"CLOUDSITE_EMULATOR_MYSQL": "mysql://root@127.0.0.1:3306",
                  "CLOUDSITE_EMULATOR_MYSQL_USER_PREFIX": "cs_db_",
                  "CLOUDSITE_EMULATOR_MYSQL_DATABASE_PREFIX": "cloudsite_db_"}


def require_reachable(mysql) -> None:
    """Skip the test when the emulator's MariaDB does not answer; in CI
    (``CLOUDSITE_REQUIRE_SERVICES=1``) fail it instead: nothing is silently skipped there."""
    import os

    import pymysql
    import pytest

    try:
        mysql.connect().close()
    except pymysql.err.MySQLError as error:
        message = f"the emulator's MariaDB at {mysql.host}:{mysql.port} does not answer ({error})"
        if os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1":
            pytest.fail(message + "; CI requires it", pytrace=False)
        pytest.skip(message)
