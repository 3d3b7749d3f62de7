"""The logical name of every recipe, in one place: layers refer to each other's recipes only
through these (``depends_on``, ``deps[...]``), never by a string of their own or by importing
another layer. A name starts with its layer (``network.vpc``); ``naming`` holds AWS's names.
"""
from __future__ import annotations

# --- network ---
ZONES = 3  # one public and one private subnet in each of three availability zones
VPC = "network.vpc"
IGW = "network.internet-gateway"
PUBLIC_RT, PRIVATE_RT = "network.route-table.public", "network.route-table.private"
LB_SG, APP_SG, DB_SG = "network.sg.lb", "network.sg.app", "network.sg.db"
DB_ADMIN_SG, DB_ADMIN_EGRESS = "network.sg.db-admin", "network.sg-rules.db-admin-egress"
NETWORK_OUTPUTS = "network.outputs"


def public_subnet(i: int) -> str:
    return f"network.subnet.public-{i + 1}"


def private_subnet(i: int) -> str:
    return f"network.subnet.private-{i + 1}"


def public_subnets() -> list[str]:
    return [public_subnet(i) for i in range(ZONES)]


def private_subnets() -> list[str]:
    return [private_subnet(i) for i in range(ZONES)]


# --- data ---
S3_KEY, RDS_KEY, EBS_KEY = "data.kms.s3", "data.kms.rds", "data.kms.ebs"
EBS_DEFAULT = "data.ebs-default-encryption"
APP_BUCKET, DEPLOY_BUCKET = "data.bucket.app", "data.bucket.deploy"
PARAMETER_GROUP, SUBNET_GROUP = "data.db-parameter-group", "data.db-subnet-group"
PRIMARY, REPLICA = "data.db.primary", "data.db.replica"
MASTER_SECRET, APP_SECRET = "data.secret.db-master", "data.secret.db-app"
DB_ADMIN_ROLE, DB_ADMIN_LOGS = "data.role.db-admin", "data.db-admin-log-group"
DB_ADMIN_FUNCTION, APP_USER = "data.db-admin-function", "data.db.app-user"
TOKEN_TABLE = "data.token-table"
DATA_OUTPUTS = "data.outputs"


def kms_key(layer: str, purpose: str) -> str:
    return f"{layer}.kms.{purpose}"


def bucket(purpose: str) -> str:
    return f"data.bucket.{purpose}"


# --- image ---
BUILDER_ROLE, BUILDER_PROFILE, AMI = "image.role", "image.instance-profile", "image.ami"
BUILDER = "image.builder"  # the tag of builder instances and their volumes

# --- compute ---
INSTANCE_ROLE, INSTANCE_PROFILE = "compute.role", "compute.instance-profile"
AGENT_CONFIG = "compute.agent-config"
LAUNCH_TEMPLATE, TARGET_GROUP = "compute.launch-template", "compute.target-group"
LOAD_BALANCER = "compute.load-balancer"
HTTPS_LISTENER, HTTP_LISTENER = "compute.listener.https", "compute.listener.http"
HOSTED_ZONE, CERTIFICATE = "compute.hosted-zone", "compute.certificate"
VALIDATION, ALIAS = "compute.certificate-validation", "compute.dns.alias"
AUTO_SCALING_GROUP, SCALING = "compute.asg", "compute.scaling-policy"
VOLUME = "compute.volume"  # the tag of the instances' volumes
LOG_STREAMS = ("app", "worker")  # the CloudWatch agent's log groups (deploy.cloudwatch)


def log_group(stream: str) -> str:
    return f"compute.log-group.{stream}"


def alarm(purpose: str) -> str:
    return f"compute.alarm.{purpose}"


# --- pipeline ---
SNS_KEY = "pipeline.kms.sns"
TOPIC = "pipeline.topic"
LAMBDA_ROLE, LAMBDA_LOGS, LAMBDA = "pipeline.role.lambda", "pipeline.lambda-log-group", "pipeline.lambda"
PERMISSION, SUBSCRIPTION = "pipeline.lambda-permission", "pipeline.subscription"
SES_IDENTITY, MAIL_DNS = "pipeline.ses-identity", "pipeline.dns.mail"
DEAD_LETTER, QUEUE = "pipeline.queue.dead-letter", "pipeline.queue"
CODEDEPLOY_ROLE = "pipeline.role.codedeploy"
APPLICATION, GROUP = "pipeline.codedeploy.application", "pipeline.codedeploy.group"
OIDC, CI_ROLE, IMAGE_ROLE = "pipeline.github-oidc", "pipeline.role.ci", "pipeline.role.image"
FAILURE_QUEUE, FAILURE_DESTINATION = "pipeline.queue.lambda-failures", "pipeline.lambda-failure-destination"
DJANGO_SECRET = "pipeline.secret.django"


def outputs(layer: str) -> str:
    return f"{layer}.outputs"
