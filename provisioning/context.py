"""The Context: one boto3 session, its clients, the region, the standard tags, dry-run, a reporter.

boto3 sessions are not thread-safe, clients are: clients are made here (under a lock, from the one
session) and shared by the engine's worker threads.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import NoCredentialsError, NoRegionError

from provisioning import retry
from provisioning.calls import CallHook, ReadOnlyGuard
from provisioning.config import AUTO, StackConfig
from provisioning.naming import RESOURCE_TAG, STACK_TAG
from provisioning.reporter import Reporter
from provisioning.retry import Clock

# Who reads an image builder's signal when the Context is not given a reader: None, SSM (the
# builder's script writes it there). Tests set a stand-in for the runs they do not make the Context
# of (a command), since an emulator never runs the script.
DEFAULT_BAKE_SIGNAL = None
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10},
                       user_agent_extra="cloudsite-provisioning")
# The lock's calls are small and must not hang a release on Ctrl-C for minutes.
LOCK_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5,
                            read_timeout=10, user_agent_extra="cloudsite-provisioning-lock")


def build_session(config: StackConfig) -> boto3.Session:
    """A session from the profile (or the default chain), then the role to assume if any.

    An assumed role's credentials refresh themselves before they expire, so a long run (an RDS
    replica takes half an hour) never fails on an expired token.
    """
    base = boto3.Session(profile_name=config.profile, region_name=config.region)
    if base.region_name is None:
        raise NoRegionError()
    if base.get_credentials() is None:
        raise NoCredentialsError()
    if not config.role_arn:
        return base
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,
        source_credentials=base.get_credentials(),
        role_arn=config.role_arn,
        extra_args={"RoleSessionName": f"cloudsite-{config.name}-provisioning"},
    )
    assumed = botocore.session.get_session()
    assumed._credentials = DeferredRefreshableCredentials(
        method="assume-role", refresh_using=fetcher.fetch_credentials)
    return boto3.Session(botocore_session=assumed, region_name=base.region_name)


@dataclass(frozen=True)
class RunOptions:
    """What a command's flags ask of the recipes, for this run only."""
    allow_prod_data: bool = False  # teardown --allow-prod-data: deletion protection may be switched off
    rebake: bool = False           # provision_image --rebake: bake a new image even if nothing changed


class Context:
    """One run against one stack: the session and its clients (with their call hooks), the stack's
    tags and ARNs, the reporter, the clock every wait uses, and the command's options."""

    def __init__(self, config: StackConfig, *, session: boto3.Session | None = None,
                 dry_run: bool = False, reporter: Reporter | None = None, max_workers: int = 4,
                 hooks: tuple[CallHook, ...] = (), clock: Clock | None = None,
                 options: RunOptions = RunOptions(),
                 bake_signal: Callable[["Context", str], "str | None"] | None = None):
        """``bake_signal(ctx, instance_id)`` reads an image builder's signal (None: from SSM, where
        the builder's script writes it; an emulator never runs the script, so tests pass one)."""
        self.config = config
        self.clock = clock or retry.SYSTEM_CLOCK  # looked up now: a test may have set a clock that does not sleep
        self.options = options
        self.bake_signal = bake_signal or DEFAULT_BAKE_SIGNAL
        self.stack = config.name
        self.session = session or build_session(config)
        self.region = self.session.region_name
        if not self.region:
            raise NoRegionError()
        self.dry_run = dry_run
        self.reporter = reporter or Reporter()
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}
        self._lock_client = None
        self._hooks: list[CallHook] = []
        self._zones: tuple[str, ...] | None = None
        self._account: str | None = None
        for hook in hooks:
            self.add_hook(hook)
        if dry_run:
            self.add_hook(ReadOnlyGuard())

    # --- clients and hooks ---------------------------------------------------------------
    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                client = self.session.client(service, region_name=self.region, config=CLIENT_CONFIG)
                for hook in self._hooks:
                    hook.attach(client)
                self._clients[service] = client
            return self._clients[service]

    def lock_client(self):
        """The stack lock's own DynamoDB client (``provisioning/locking``). The hooks that see lock
        calls are attached to it; the command's call count is not: it counts the stack's changes."""
        with self._lock:
            if self._lock_client is None:
                self._lock_client = self.session.client("dynamodb", region_name=self.region,
                                                        config=LOCK_CLIENT_CONFIG)
                for hook in self._hooks:
                    if hook.sees_lock_calls:
                        hook.attach(self._lock_client)
            return self._lock_client

    def add_hook(self, hook: CallHook) -> None:
        with self._lock:
            self._hooks.append(hook)
            for client in self._clients.values():
                hook.attach(client)
            if self._lock_client is not None and hook.sees_lock_calls:
                hook.attach(self._lock_client)

    # --- tags ----------------------------------------------------------------------------
    def tags(self, resource: str) -> list[dict[str, str]]:
        return [{"Key": STACK_TAG, "Value": self.stack}, {"Key": RESOURCE_TAG, "Value": resource},
                {"Key": "Name", "Value": f"cloudsite-{self.stack}-{resource.split('.', 1)[-1]}"}]

    def tag_dict(self, resource: str) -> dict[str, str]:
        """The same tags as a mapping, for the APIs that take one (Logs, SQS, Lambda)."""
        return {t["Key"]: t["Value"] for t in self.tags(resource)}

    def tag_specifications(self, resource_type: str, resource: str) -> list[dict]:
        return [{"ResourceType": resource_type, "Tags": self.tags(resource)}]

    def tag_filters(self, resource: str) -> list[dict]:
        """EC2 ``Filters`` selecting what this stack tagged as ``resource``."""
        return [{"Name": f"tag:{STACK_TAG}", "Values": [self.stack]},
                {"Name": f"tag:{RESOURCE_TAG}", "Values": [resource]}]

    # --- account facts -------------------------------------------------------------------
    @property
    def account_id(self) -> str:
        """The AWS account the session acts in (STS GetCallerIdentity, asked once)."""
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.region)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<resource>`` for this stack's names."""
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account_id if account else ''}:{resource}")

    # --- region facts --------------------------------------------------------------------
    def availability_zones(self) -> tuple[str, ...]:
        """The configured zones, or the first three the region offers (no opt-in needed)."""
        with self._lock:
            if self._zones is not None:
                return self._zones
        configured = self.config.network.availability_zones
        if configured != AUTO:
            zones = tuple(configured)
        else:
            answer = self.client("ec2").describe_availability_zones(Filters=[
                {"Name": "state", "Values": ["available"]},
                {"Name": "zone-type", "Values": ["availability-zone"]},
                {"Name": "opt-in-status", "Values": ["opt-in-not-required"]},
            ])
            zones = tuple(sorted(z["ZoneName"] for z in answer["AvailabilityZones"]))[:3]
            if len(zones) < 3:
                raise RuntimeError(f"region {self.region} offers {len(zones)} availability zones; "
                                   "the stack needs three")
        with self._lock:
            self._zones = zones
        return zones
