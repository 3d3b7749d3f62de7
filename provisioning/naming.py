"""AWS names of the stack's resources, in one place, so every layer (and the app's settings)
agrees on them. Names that AWS makes global (S3 buckets) or account-wide (IAM) carry the stack,
the account and, for buckets, the region, so two stacks or accounts never collide.
"""


# Every resource is tagged with its stack and its recipe's logical name (``Context.tags``); IAM
# conditions and the leftovers report select by the stack's tag.
STACK_TAG = "cloudsite:stack"
RESOURCE_TAG = "cloudsite:resource"
# Key prefixes in the deploy bucket: the CodeDeploy bundles (``deploy.bundle``, which the CI role
# may write, and only there) and the Lambda functions' zips.
BUNDLE_PREFIX = "bundles/"
LAMBDA_PREFIX = "lambda/"


def prefix(stack: str) -> str:
    return f"cloudsite-{stack}"


# --- the stack's lock (provisioning/locking): made on first use, by any command that changes the stack ---
def lock_table(stack: str) -> str:
    return f"{prefix(stack)}-lock"


# --- data layer ---
def bucket(stack: str, purpose: str, account: str, region: str) -> str:
    """``cloudsite-dev-app-123456789012-eu-west-1`` (at most 63 characters, DNS-safe)."""
    name = f"{prefix(stack)}-{purpose}-{account}-{region}"
    if len(name) > 63:
        raise ValueError(f"bucket name {name!r} is longer than 63 characters: shorten the stack name")
    return name


def kms_alias(stack: str, purpose: str) -> str:
    """``alias/cloudsite/dev/s3`` (purposes: s3, rds, ebs, sns)."""
    return f"alias/cloudsite/{stack}/{purpose}"


def db_instance(stack: str, replica: bool = False) -> str:
    return f"{prefix(stack)}-db" + ("-replica" if replica else "")


def db_parameter_group(stack: str) -> str:
    return f"{prefix(stack)}-mysql8"


def db_subnet_group(stack: str) -> str:
    return f"{prefix(stack)}-db"


DB_NAME = "cloudsite"
DB_PORT = 3306  # MySQL's, on the instances and in the security groups
# The RDS master user, used only to create the app user and to change its password; the app user
# (DML and what migrations need, on DB_NAME only) is the one the app connects as.
DB_MASTER_USER = "cloudsite_master"
DB_APP_USER = "cloudsite_app"


def db_secret(stack: str, purpose: str) -> str:
    """Secrets Manager names of the database credentials: ``cloudsite/dev/db-master`` and
    ``cloudsite/dev/db-app`` (JSON ``{"username", "password", ...}``, encrypted with the RDS key)."""
    return f"cloudsite/{stack}/db-{purpose}"


def db_admin_function(stack: str) -> str:
    """The db-admin Lambda (in the database's private subnets): runs the SQL only the master user may."""
    return f"{prefix(stack)}-db-admin"


def django_secret(stack: str) -> str:
    """The generated ``DJANGO_SECRET_KEY`` in Secrets Manager (the deploy hook renders it)."""
    return f"cloudsite/{stack}/django-secret-key"


def token_table(stack: str) -> str:
    return f"{prefix(stack)}-verification-tokens"


# --- pipeline layer ---
def topic(stack: str) -> str:
    return f"{prefix(stack)}-verification"


def queue(stack: str, dead_letter: bool = False) -> str:
    return f"{prefix(stack)}-celery" + ("-dead-letter" if dead_letter else "")


def lambda_function(stack: str) -> str:
    return f"{prefix(stack)}-verification-mail"


def lambda_failure_queue(stack: str) -> str:
    """The verification Lambda's on-failure destination (events whose e-mail could not be sent)."""
    return f"{lambda_function(stack)}-failures"


def codedeploy_application(stack: str) -> str:
    return prefix(stack)


def codedeploy_group(stack: str) -> str:
    return f"{prefix(stack)}-app"


# --- compute layer ---
def role(stack: str, purpose: str) -> str:
    """IAM role names (account-wide): ``cloudsite-dev-instance``, ``-lambda``, ``-codedeploy``, ``-ci``,
    ``-db-admin``."""
    return f"{prefix(stack)}-{purpose}"


def instance_profile(stack: str, purpose: str = "instance") -> str:
    """``cloudsite-dev-instance`` (the app's instances), ``cloudsite-dev-image-builder`` (the bake)."""
    return f"{prefix(stack)}-{purpose}"


def image(stack: str, stamp: str) -> str:
    """Baked AMI names: ``cloudsite-dev-app-20250101T120000Z``."""
    return f"{prefix(stack)}-app-{stamp}"


def bake_signal(stack: str, instance_id: str = "") -> str:
    """The SSM parameter a builder instance writes when its script is done (``ok`` or ``failed: ...``)."""
    return f"/cloudsite/{stack}/image/bake/{instance_id}"


def agent_config_parameter(stack: str) -> str:
    """The CloudWatch agent's configuration, which instances fetch at boot (``ssm:`` source)."""
    return f"/cloudsite/{stack}/config/cloudwatch-agent"


def alarm(stack: str, purpose: str) -> str:
    return f"{prefix(stack)}-{purpose}"


def scaling_policy(stack: str) -> str:
    return f"{prefix(stack)}-cpu-target"


def launch_template(stack: str) -> str:
    return f"{prefix(stack)}-app"


def load_balancer(stack: str) -> str:
    return f"{prefix(stack)}-alb"


def target_group(stack: str) -> str:
    return f"{prefix(stack)}-app"


def auto_scaling_group(stack: str) -> str:
    return f"{prefix(stack)}-app"


def log_group(stack: str, stream: str) -> str:
    """``/cloudsite/dev/app`` and ``/cloudsite/dev/worker``, where the CloudWatch agent ships logs."""
    return f"/cloudsite/{stack}/{stream}"


# The public SSM parameters naming each base's newest AMI. Debian publishes its own under
# /aws/service/debian/release/<version>/latest/<arch> (Debian wiki, "Cloud/AmazonEC2Image").
BASE_IMAGES = {
    "debian-13": "/aws/service/debian/release/13/latest/amd64",
    "al2023": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    "ubuntu-24.04": "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
}
