"""What the provisioning commands share: options, building the Context, errors as one line.

Exit codes: 0 done, 1 failed (one line on stderr saying what and how to go on), 2 bad usage,
3 (provision_status) something is missing or drifted.
"""
from __future__ import annotations

import json
import logging
import os
import time

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from django.core.management.base import BaseCommand, CommandError

from provisioning import layers
from provisioning.calls import CallCounter
from provisioning.config import ConfigError, UnknownStack, load_stack
from provisioning.context import Context, RunOptions
from provisioning.engine import EngineFailed, Interrupted, Result, describe_error
from provisioning.errors import StackError
from provisioning.locking import StackLock
from provisioning.reporter import make_reporter

EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT, EXIT_INTERRUPTED = 1, 2, 3, 130


def explain(error: BaseException) -> str:
    """One line for the user; never a traceback, never a secret."""
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return ("no AWS credentials found: set a profile in the stack file or with --profile, or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment")
    if isinstance(error, NoRegionError):
        return "no AWS region: set region in the stack file, --region, or AWS_DEFAULT_REGION"
    if isinstance(error, ProfileNotFound):
        return f"{error} (configure it with 'aws configure --profile NAME', or pass --profile)"
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in (
            "ExpiredToken", "InvalidClientTokenId", "UnrecognizedClientException",
            "AuthFailure", "SignatureDoesNotMatch"):
        return f"AWS rejected the credentials ({describe_error(error)}); refresh them and run again"
    return describe_error(error)


class ProvisioningCommand(BaseCommand):
    requires_system_checks: list = []
    requires_migrations_checks = False
    # call_command(..., clock=..., bake_signal=...): a test's clock that does not sleep, and its
    # image builder's signal (an emulator never runs the bake script); never on the command line
    stealth_options = ("clock", "bake_signal")
    # "take": the command changes the stack and holds its lock while it does (README, "One writer
    # per stack"); its --plan takes none and says who holds it, as "report" commands do.
    lock_mode = "take"
    lock: StackLock | None = None
    lock_seen = None  # the holder a plan or status saw (None: free)

    def add_arguments(self, parser):
        parser.add_argument("--stack", required=True, help="stack name: deploy/stacks/<stack>.toml")
        parser.add_argument("--stacks-dir", help="directory of the stack files (default: deploy/stacks)")
        parser.add_argument("--region", help="override the stack file's region")
        parser.add_argument("--profile", help="override the stack file's AWS profile ('' = default chain)")
        parser.add_argument("--role-arn", help="override the role to assume ('' = none)")
        parser.add_argument("--workers", type=int, default=4, help="resources worked on at once (default 4)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
        if self.lock_mode == "take":
            parser.add_argument("--lock-timeout", type=float, default=0, metavar="SECONDS",
                                help="wait up to SECONDS for another run's lock on the stack "
                                     "(default 0: refuse at once, naming the holder)")

    # --- plumbing ------------------------------------------------------------------------
    def handle(self, *args, **options):
        # botocore's INFO lines ("Found credentials in ...") are noise next to the progress lines
        for name in ("botocore", "boto3", "urllib3"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.options = options
        self.started = time.monotonic()
        self.counter = CallCounter()
        try:
            self.run(options)
        except UnknownStack as error:
            raise CommandError(str(error), returncode=EXIT_USAGE) from None
        except Interrupted as error:
            self.emit(error.results, ok=False)
            raise CommandError(f"interrupted by Ctrl-C before the end. {self.resume_hint()}",
                               returncode=EXIT_INTERRUPTED) from None
        except KeyboardInterrupt:  # the second Ctrl-C: quit without waiting for running steps
            self.release_lock()
            self.stdout.flush()
            self.stderr.write(f"CommandError: stopped at once by Ctrl-C. {self.resume_hint()}")
            self.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        except EngineFailed as error:
            self.emit(error.results, ok=False)
            failure = error.failures[0]
            raise CommandError(f"{failure.name}: {explain(failure.error)}. {self.resume_hint()}",
                               returncode=EXIT_FAILED) from None
        except (ConfigError, StackError) as error:
            raise CommandError(str(error), returncode=EXIT_FAILED) from None
        except (ClientError, BotoCoreError) as error:
            raise CommandError(explain(error), returncode=EXIT_FAILED) from None
        finally:  # on success, failure and the first Ctrl-C (the second one releases above)
            self.release_lock()

    def run(self, options) -> None:
        raise NotImplementedError

    @property
    def command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def say(self, line: str) -> None:
        """A progress line: on stdout, or on stderr when stdout carries the JSON result."""
        (self.stderr if self.options["json"] else self.stdout).write(line)

    def release_lock(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def resume_hint(self) -> str:
        return "Fix that, then run the same command again: it carries on where it stopped."

    def run_options(self) -> RunOptions:
        """What this command's flags ask of the recipes (``--allow-prod-data``, ``--rebake``)."""
        return RunOptions()

    def context(self, *, dry_run: bool = False) -> Context:
        options = self.options
        config = load_stack(options["stack"], options["stacks_dir"]).with_overrides(
            region=options["region"], profile=options["profile"], role_arn=options["role_arn"])
        stream = self.stderr._out if options["json"] else self.stdout._out
        extra = {key: options[key] for key in self.stealth_options if options.get(key) is not None}
        ctx = Context(config, dry_run=dry_run, reporter=make_reporter(stream), hooks=(self.counter,),
                      max_workers=max(1, options["workers"]), options=self.run_options(), **extra)
        if self.lock_mode == "take" and not dry_run:
            self.lock = StackLock(ctx, self.command_name, timeout=options["lock_timeout"], say=self.say).acquire()
        elif self.lock_mode in ("take", "report"):
            self.report_lock(ctx)
        return ctx

    def report_lock(self, ctx) -> None:
        """A plan or status takes no lock; it says when a run holds it (what it shows may change)."""
        from provisioning import locking

        self.lock_seen = locking.read(ctx)
        if self.lock_seen is not None:
            self.say(f"note: stack {ctx.stack} is locked by {self.lock_seen.describe()}; that run may be "
                     "changing what this shows")

    def lock_payload(self) -> dict | None:
        if self.lock is not None:
            return {"id": self.lock.lock_id, "holder": "this run"}
        return self.lock_seen.as_dict() if self.lock_seen is not None else None

    def emit(self, results: list[Result], *, ok: bool, summary: str = "", **extra) -> None:
        elapsed = time.monotonic() - self.started
        if self.options["json"]:
            payload = {"stack": self.options["stack"], "ok": ok, **extra, "lock": self.lock_payload(),
                       "resources": [r.as_dict() for r in results],
                       "calls": self.counter.as_dict(), "elapsed": round(elapsed, 3)}
            self.stdout.write(json.dumps(payload, indent=2, default=str))
        elif summary:
            calls = self.counter.as_dict()
            self.stdout.write(f"{summary} in {elapsed:.1f}s "
                              f"({calls['mutating']} mutating AWS calls, {calls['read']} reads)")


class LayerCommand(ProvisioningCommand):
    """``provision_<layer>``: apply (or plan) one layer's recipes."""

    layer = ""

    @property
    def help(self):
        return f"Create or update the {self.layer} layer of a stack; --plan shows what would change."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--plan", action="store_true",
                            help="show create / update / no-op per resource and change nothing")

    def recipes(self, config):
        return layers.resources(config, [self.layer])

    def run(self, options):
        from provisioning.engine import Engine

        plan = options["plan"]
        ctx = self.context(dry_run=plan)
        config = ctx.config
        engine = Engine(ctx, self.recipes(config), known=layers.resources(config))
        with ctx.reporter:
            results = engine.apply()
        counts = {a: sum(r.action == a for r in results) for a in ("create", "update", "no-op")}
        if plan:
            summary = (f"plan for {self.layer} of stack {config.name} in {ctx.region}: "
                       f"{counts['create']} to create, {counts['update']} to update, "
                       f"{counts['no-op']} unchanged; nothing was changed")
        else:
            summary = (f"{self.layer} of stack {config.name} in {ctx.region} is up to date: "
                       f"{counts['create']} created, {counts['update']} updated, {counts['no-op']} unchanged")
        self.emit(results, ok=True, summary=summary, layer=self.layer, region=ctx.region, plan=plan)
