"""Stack configuration: ``deploy/stacks/<env>.toml``, loaded with tomllib and validated.

Every error names the file, the key and the expected form, e.g.::

    deploy/stacks/dev.toml: [network] vpc_cidr: expected an IPv4 CIDR between /16 and /24
    such as "10.20.0.0/16", got "10.20.0.0/8"
"""
from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

DEFAULT_STACKS_DIR = Path(__file__).resolve().parent.parent / "deploy" / "stacks"
AUTO = "auto"


class ConfigError(Exception):
    """A stack file is missing, unreadable or invalid; the message is one line for the user."""


class UnknownStack(ConfigError):
    """--stack names no file (bad usage rather than a broken file)."""


@dataclass(frozen=True)
class NetworkConfig:
    vpc_cidr: str
    # Either three zone names or AUTO ("the first three the region offers").
    availability_zones: tuple[str, ...] | str = AUTO
    app_port: int = 8000


@dataclass(frozen=True)
class ComputeConfig:
    instance_type: str = "t3.small"
    min_size: int = 1
    max_size: int = 2
    desired_size: int | None = None     # at creation only (then the scaling policy owns it); None = min
    cpu_target: int = 50                # target-tracking: average CPU per instance, percent
    log_retention_days: int = 30        # CloudWatch log groups /cloudsite/<stack>/{app,worker}
    root_volume_gb: int = 20

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size


@dataclass(frozen=True)
class ImageConfig:
    base: str = "debian-13"             # debian-13, al2023 or ubuntu-24.04, found through AWS's public SSM parameter
    retention: int = 3                  # baked images kept; older ones are deregistered with their snapshots
    builder_instance_type: str = "t3.small"
    bake_timeout_minutes: int = 30


@dataclass(frozen=True)
class DnsConfig:
    zone: str | None = None             # the Route53 hosted zone holding the domain (default: the domain)
    create_zone: bool = False           # create the zone when it is missing (then delegate to its name servers)


@dataclass(frozen=True)
class DataConfig:
    # A bucket policy denying every request not made over TLS. On by default; an emulated stack
    # turns it off (moto answers 403 to every object call under it).
    tls_only_bucket_policy: bool = True
    # Both buckets are versioned: an overwritten or deleted object (a picture, a deploy bundle, a
    # Lambda zip) can be recovered for this many days after it was replaced, then it expires.
    noncurrent_version_days: int = 30
    # Incomplete multipart uploads are aborted this many days after they began.
    abort_multipart_days: int = 7


@dataclass(frozen=True)
class DatabaseConfig:
    instance_class: str = "db.t3.micro"
    allocated_storage: int = 20            # GiB
    backup_retention_days: int = 7         # at least 1: a read replica needs automated backups
    # On for prod: RDS refuses to delete the instances, DynamoDB the table, and teardown refuses
    # the data layer unless --allow-prod-data is given.
    deletion_protection: bool = False
    # A final snapshot of the primary when it is deleted; defaults to deletion_protection.
    final_snapshot: bool = False


DEPLOYMENT_CONFIGS = ("OneAtATime", "HalfAtATime", "AllAtOnce")


@dataclass(frozen=True)
class PipelineConfig:
    # CodeDeploy's in-place rollout: "OneAtATime" keeps the rest serving (prod), "AllAtOnce" is fast (dev).
    deployment_config: str = "AllAtOnce"
    # The verification e-mail's From address; "" = no-reply@<domain>.
    sender: str = ""
    # The MAIL FROM subdomain (bounces and SPF alignment): "mail" = mail.<domain>.
    mail_from_subdomain: str = "mail"
    # The GitHub repository ("owner/name") whose main branch may assume the CI role through OIDC.
    github_repository: str = "cloudsite/cloudsite"


@dataclass(frozen=True)
class StackConfig:
    name: str
    path: Path
    region: str | None
    profile: str | None
    role_arn: str | None
    domain: str
    network: NetworkConfig
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    data: DataConfig = field(default_factory=DataConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    @property
    def hosted_zone(self) -> str:
        return self.dns.zone or self.domain

    @property
    def sender(self) -> str:
        return self.pipeline.sender or f"no-reply@{self.domain}"

    @property
    def mail_from_domain(self) -> str:
        return f"{self.pipeline.mail_from_subdomain}.{self.domain}"

    def with_overrides(self, *, region=None, profile=None, role_arn=None) -> "StackConfig":
        """Command-line flags win over the file (an empty string clears a value)."""
        changes = {}
        for key, value in (("region", region), ("profile", profile), ("role_arn", role_arn)):
            if value is not None:
                changes[key] = value or None
        if changes.get("role_arn"):
            _check(self.path, "stack", "role_arn", changes["role_arn"], _role_arn)
        return replace(self, **changes)


# --- validators: each returns the value (possibly normalised) or raises ValueError(expected) ---

def _str(pattern: str, expected: str) -> Callable[[Any], str]:
    regex = re.compile(pattern)

    def check(value):
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise ValueError(expected)
        return value
    return check


def _int(low: int, high: int) -> Callable[[Any], int]:
    def check(value):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return value
    return check


_stack_name = _str(r"[a-z][a-z0-9-]{0,19}", 'a lower-case name of up to 20 letters, digits and "-", such as "dev"')
_region = _str(r"[a-z]{2}(-gov)?-[a-z]+-\d", 'a region name such as "eu-west-1"')
_profile = _str(r"[\w.+=@-]{1,64}", 'an AWS profile name such as "cloudsite-dev"')
_role_arn = _str(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
                 'a role ARN such as "arn:aws:iam::123456789012:role/cloudsite-provision"')
_domain = _str(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
               'a lower-case domain name such as "dev.example.com"')
_instance_type = _str(r"[a-z][a-z0-9-]*\.[a-z0-9]+", 'an EC2 instance type such as "t3.small"')
_deployment_config = _str("|".join(DEPLOYMENT_CONFIGS), " or ".join(f'"{c}"' for c in DEPLOYMENT_CONFIGS))
_sender = _str(r"[A-Za-z0-9._%+-]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
               'an e-mail address in the stack\'s domain such as "no-reply@dev.example.com"')
_subdomain = _str(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", 'a single DNS label such as "mail"')
_github_repository = _str(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}",
                          'a GitHub repository such as "acme/cloudsite"')
_db_class = _str(r"db\.[a-z][a-z0-9-]*\.[a-z0-9]+", 'an RDS instance class such as "db.t3.micro"')


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value):
        if value not in options:
            raise ValueError("one of " + ", ".join(f'"{o}"' for o in options))
        return value
    return check


# the retention periods CloudWatch Logs accepts
_LOG_RETENTION = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                  2557, 2922, 3288, 3653)


def _log_retention(value):
    if value not in _LOG_RETENTION or isinstance(value, bool):
        raise ValueError("a retention CloudWatch Logs accepts: " + ", ".join(map(str, _LOG_RETENTION)))
    return value


def _vpc_cidr(value):
    expected = 'an IPv4 CIDR between /16 and /24 such as "10.20.0.0/16"'
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if not 16 <= net.prefixlen <= 24 or not net.is_private:
        raise ValueError(expected + " in a private range")
    return str(net)


def _zones(value):
    expected = (f'"{AUTO}" (the first three zones the region offers) or a list of three distinct zone names '
                'such as ["eu-west-1a", "eu-west-1b", "eu-west-1c"]')
    if value == AUTO:
        return AUTO
    if (not isinstance(value, list) or len(value) != 3 or len(set(value)) != 3
            or not all(isinstance(z, str) and re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d[a-z]", z) for z in value)):
        raise ValueError(expected)
    return tuple(value)


# section -> key -> (validator, required)
SCHEMA: dict[str, dict[str, tuple[Callable[[Any], Any], bool]]] = {
    "stack": {"name": (_stack_name, True), "region": (_region, False), "profile": (_profile, False),
              "role_arn": (_role_arn, False), "domain": (_domain, True)},
    "network": {"vpc_cidr": (_vpc_cidr, True), "availability_zones": (_zones, False),
                "app_port": (_int(1024, 65535), False)},
    "compute": {"instance_type": (_instance_type, False), "min_size": (_int(0, 100), False),
                "max_size": (_int(1, 100), False), "desired_size": (_int(0, 100), False),
                "cpu_target": (_int(10, 90), False), "log_retention_days": (_log_retention, False),
                "root_volume_gb": (_int(8, 1024), False)},
    "database": {"instance_class": (_db_class, False), "allocated_storage": (_int(20, 65536), False),
                 "backup_retention_days": (_int(1, 35), False), "deletion_protection": (_bool, False),
                 "final_snapshot": (_bool, False)},
    "data": {"tls_only_bucket_policy": (_bool, False), "noncurrent_version_days": (_int(1, 3650), False),
             "abort_multipart_days": (_int(1, 365), False)},
    "image": {"base": (_choice("debian-13", "al2023", "ubuntu-24.04"), False), "retention": (_int(2, 20), False),
              "builder_instance_type": (_instance_type, False),
              "bake_timeout_minutes": (_int(5, 120), False)},
    "dns": {"zone": (_domain, False), "create_zone": (_bool, False)},
    "pipeline": {"deployment_config": (_deployment_config, False), "sender": (_sender, False),
                 "mail_from_subdomain": (_subdomain, False), "github_repository": (_github_repository, False)},
}


def _check(path: Path, section: str, key: str, value, validator):
    try:
        return validator(value)
    except ValueError as error:
        raise ConfigError(f"{path}: [{section}] {key}: expected {error}, got {value!r}") from None


def stack_path(stack: str, stacks_dir: Path | str | None = None) -> Path:
    directory = Path(stacks_dir) if stacks_dir else DEFAULT_STACKS_DIR
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", stack or ""):
        raise UnknownStack(f"--stack: expected a stack name such as \"dev\", got {stack!r}")
    path = directory / f"{stack}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml"))) or "none"
        raise UnknownStack(f"no stack {stack!r}: {path} does not exist (stacks in {directory}: {known})")
    return path


def load_stack(stack: str, stacks_dir: Path | str | None = None) -> StackConfig:
    return load_file(stack_path(stack, stacks_dir))


def load_file(path: Path | str) -> StackConfig:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None

    values: dict[str, dict[str, Any]] = {}
    for section, content in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"{path}: unknown section [{section}] (expected one of: "
                              f"{', '.join('[' + s + ']' for s in SCHEMA)})")
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: {section}: expected a [{section}] table")
    for section, keys in SCHEMA.items():
        content = data.get(section, {})
        for key in content:
            if key not in keys:
                raise ConfigError(f"{path}: [{section}] unknown key {key!r} (expected one of: {', '.join(keys)})")
        values[section] = {}
        for key, (validator, required) in keys.items():
            if key in content:
                values[section][key] = _check(path, section, key, content[key], validator)
            elif required:
                raise ConfigError(f"{path}: [{section}] {key}: missing (required)")

    stack = values["stack"]
    if stack["name"] != path.stem:
        raise ConfigError(f"{path}: [stack] name: expected {path.stem!r} (the file's name), got {stack['name']!r}")
    compute = ComputeConfig(**values["compute"])
    if compute.min_size > compute.max_size:
        raise ConfigError(f"{path}: [compute] min_size: expected at most max_size ({compute.max_size}), "
                          f"got {compute.min_size}")
    if compute.desired_size is not None and not compute.min_size <= compute.desired_size <= compute.max_size:
        raise ConfigError(f"{path}: [compute] desired_size: expected from min_size ({compute.min_size}) to "
                          f"max_size ({compute.max_size}), got {compute.desired_size}")
    dns = DnsConfig(**values["dns"])
    if dns.zone and not (stack["domain"] == dns.zone or stack["domain"].endswith("." + dns.zone)):
        raise ConfigError(f"{path}: [dns] zone: expected {stack['domain']!r} or a parent of it, got {dns.zone!r}")
    database = values["database"]
    database.setdefault("final_snapshot", database.get("deletion_protection", False))
    pipeline = PipelineConfig(**values["pipeline"])
    if pipeline.sender and not pipeline.sender.endswith("@" + stack["domain"]):
        raise ConfigError(f"{path}: [pipeline] sender: expected an address @{stack['domain']} (the SES "
                          f"identity is the stack's domain), got {pipeline.sender!r}")
    return StackConfig(
        name=stack["name"], path=path, region=stack.get("region"), profile=stack.get("profile"),
        role_arn=stack.get("role_arn"), domain=stack["domain"],
        network=NetworkConfig(**values["network"]), compute=compute,
        database=DatabaseConfig(**database), data=DataConfig(**values["data"]),
        image=ImageConfig(**values["image"]), dns=dns, pipeline=pipeline,
    )
