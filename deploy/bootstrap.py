"""The two scripts instances run: the image bake, and the boot of an app instance.

* ``bake_script``: user data of the builder instance ``provision_image`` launches. Installs, per
  base (``PACKAGES``), Python and what building the app's venv needs, records the interpreter in
  ``/etc/cloudsite/python``, installs the CodeDeploy agent, the CloudWatch agent and the RDS CA
  bundle (all three skipped under ``CLOUDSITE_BAKE_SKIP_AWS_DOWNLOADS=1``, the instance test's
  switch, which user data never sets), then writes its completion
  signal, the SSM parameter ``naming.bake_signal(stack, <instance id>)``: ``ok``, or ``failed: ...``
  from the error trap. The builder's role may write that parameter path and nothing else.
* ``boot_script``: user data of the launch template. No secret inside: it fetches the CloudWatch
  agent's configuration from SSM (``naming.agent_config_parameter``, rendered by provisioning from
  ``deploy/cloudwatch.render_agent_config``), re-renders ``/etc/cloudsite/env`` with the installed
  app's ``deploy/render_env.py`` (the AfterInstall hook's code) when a deployment has installed it,
  and starts the services. The app itself arrives through CodeDeploy (the pipeline layer).
"""
from __future__ import annotations

import hashlib
import shlex

from deploy.cloudwatch import AGENT_USER, LOG_DIR, LOG_GROUP
from provisioning import naming

RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
RDS_CA_BUNDLE = "/etc/cloudsite/rds-ca.pem"
# The interpreter the bake installed, by absolute path: the hooks build the venv with it
# (scripts/common.sh reads it; an image without it is rebaked).
PYTHON_RECORD = "/etc/cloudsite/python"
MIN_PYTHON = (3, 11)  # Pillow 13 (requirements.lock is compiled for 3.11 and newer)
# Set by the instance test only (user data never sets it): skip exactly the steps that download
# from AWS's own buckets (the CodeDeploy agent, the CloudWatch agent, the RDS CA bundle).
SKIP_AWS_DOWNLOADS = "CLOUDSITE_BAKE_SKIP_AWS_DOWNLOADS"

# IMDSv2. AWS_EC2_METADATA_SERVICE_ENDPOINT is the SDKs' and the CLI's own variable for another
# endpoint (botocore, "Configuration": ec2_metadata_service_endpoint); the instance test serves
# the metadata on loopback through it.
_IMDS = """\
imds() {
  local endpoint="${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}" token
  endpoint="${endpoint%/}"
  token=$(curl -sf -X PUT "$endpoint/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
  curl -sf -H "X-aws-ec2-metadata-token: $token" "$endpoint/latest/meta-data/$1"
}
"""

# --- what each base installs -----------------------------------------------------------------
# The image carries the build dependencies; the virtual environment is built at deploy time by
# the AfterInstall hook from the bundle's locks (requirements-build.lock, requirements.lock: pip
# --require-hashes, no wheelhouse baked in): the requirements belong to the bundle, and a baked
# wheelhouse would tie the image to one lock. So every base brings: the interpreter with venv and pip, its headers, a C
# compiler, the MariaDB/MySQL client headers and pkg-config (mysqlclient has no Linux wheels),
# libcurl and OpenSSL headers (pycurl), curl, wget, CA certificates, ruby (the CodeDeploy agent),
# and the AWS CLI (the bake's signal).
_APT_PACKAGES = """\
apt-get -y upgrade
apt-get -y install --no-install-recommends python3 python3-venv python3-pip python3-dev \\
  build-essential pkg-config default-libmysqlclient-dev libcurl4-openssl-dev libssl-dev \\
  wget ruby
PYTHON=$(command -v python3)
"""
PACKAGES = {
    # Debian 13 (trixie): python3 is 3.13. Ubuntu 24.04: python3 is 3.12; the same packages.
    "debian-13": _APT_PACKAGES,
    # Amazon Linux 2023: python3 is 3.9 for the release's life, so python3.11 beside it; the AWS
    # CLI is preinstalled. AL2023 ships curl-minimal/libcurl-minimal, which libcurl-devel replaces
    # (--allowerasing).
    "al2023": """\
dnf -y upgrade --refresh
dnf -y install --allowerasing python3.11 python3.11-pip python3.11-devel gcc make pkgconf-pkg-config \\
  mariadb105-devel libcurl-devel openssl-devel curl wget ca-certificates ruby
command -v aws >/dev/null
PYTHON=$(command -v python3.11)
""",
    "ubuntu-24.04": _APT_PACKAGES,
}

# The CloudWatch agent: Amazon Linux's own repository has it; Debian and Ubuntu take the package
# from the region's bucket ("Download and configure the CloudWatch agent using the command line",
# Amazon CloudWatch User Guide: debian/amd64/latest and ubuntu/amd64/latest). Then its user joins
# the log group (deploy/cloudwatch.py).
_DEB_AGENT = """\
wget -q -O /tmp/cwagent.deb "https://amazoncloudwatch-agent-$REGION.s3.$REGION.amazonaws.com/{dist}/amd64/latest/amazon-cloudwatch-agent.deb"
dpkg -i -E /tmp/cwagent.deb
"""
# What the bake itself needs before anything can be signalled: curl (IMDS) and the AWS CLI (the
# signal). A failure before these are there cannot reach SSM: provision_image then fails at its
# bake timeout, naming the builder's log (/var/log/cloudsite-bake.log, in its console output).
PREREQUISITES = {
    # Debian's cloud images have curl but no AWS CLI; Debian's own awscli package is CLI v2.
    "debian-13": """\
export DEBIAN_FRONTEND=noninteractive
apt-get update -y
apt-get -y install --no-install-recommends curl ca-certificates awscli
""",
    "al2023": "command -v aws >/dev/null  # preinstalled on Amazon Linux\n",
    # Noble has no awscli package; AWS publishes CLI v2 as a snap, and Canonical's AMIs have snapd.
    "ubuntu-24.04": """\
export DEBIAN_FRONTEND=noninteractive
apt-get update -y
apt-get -y install --no-install-recommends curl ca-certificates
snap install aws-cli --classic
""",
}
CLOUDWATCH_AGENT = {
    "debian-13": _DEB_AGENT.format(dist="debian"),
    "al2023": "dnf -y install amazon-cloudwatch-agent\n",
    "ubuntu-24.04": _DEB_AGENT.format(dist="ubuntu"),
}
BASES = tuple(PACKAGES)

BAKE = """\
#!/bin/bash
# cloudsite image bake for stack {stack} (base: {base})
set -euo pipefail
exec > >(tee -a /var/log/cloudsite-bake.log) 2>&1
REGION={region}
# 0. what the bake needs to signal (curl for the metadata, the AWS CLI)
{prerequisites}
# the metadata and the signal
{imds}INSTANCE_ID=$(imds instance-id)
SIGNAL={signal_prefix}$INSTANCE_ID
signal() {{ aws ssm put-parameter --region "$REGION" --name "$SIGNAL" --type String --overwrite --value "$1"; }}
trap 'signal "failed: line $LINENO (see /var/log/cloudsite-bake.log)"' ERR
fail() {{
  echo "bake: $1" >&2
  trap - ERR
  signal "failed: $1"
  exit 1
}}
# the instance test's switch (never set in user data): the steps that download from AWS's buckets
skipped() {{
  if [[ "${{{skip}:-}}" == 1 ]]; then
    echo "bake: skipped $1 ({skip})"
    return 0
  fi
  return 1
}}

# 1. packages: the interpreter and everything the hooks need to build the venv with pip
{packages}
# 2. the interpreter: new enough, recorded for the hooks (scripts/common.sh)
version=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < {min_python})' \\
  || fail "$PYTHON is Python $version; the app needs {min_text} or newer"
# a throwaway venv proves venv and ensurepip (Debian and Ubuntu ship them apart, python3-venv)
rm -rf /tmp/cloudsite-venv-check
"$PYTHON" -m venv /tmp/cloudsite-venv-check \
|| fail "$PYTHON (Python $version) cannot make a venv with pip (venv/ensurepip)"
rm -rf /tmp/cloudsite-venv-check
echo "bake: interpreter $PYTHON (Python $version)"

# 3. the service user and its directories
id -u cloudsite >/dev/null 2>&1 \
|| useradd --system --home-dir /opt/cloudsite --no-create-home --shell /usr/sbin/nologin cloudsite
install -d -m 0755 /opt/cloudsite
install -d -m 0750 -o root -g cloudsite /etc/cloudsite
printf '%s\\n' "$PYTHON" > {python_record}.new
chmod 0644 {python_record}.new
mv {python_record}.new {python_record}
# the logs: written by the service, read by the CloudWatch agent's user (the log group's only
# member) and nobody else (deploy/cloudwatch.py)
getent group {log_group} >/dev/null || groupadd --system {log_group}
install -d -m 2750 -o cloudsite -g {log_group} {log_dir}

# 4. from AWS's own buckets
if ! skipped "the CodeDeploy agent"; then
  wget -q -O /tmp/codedeploy-install "https://aws-codedeploy-$REGION.s3.$REGION.amazonaws.com/latest/install"
  chmod +x /tmp/codedeploy-install
  /tmp/codedeploy-install auto
  systemctl enable codedeploy-agent
fi
if ! skipped "the CloudWatch agent"; then
{cloudwatch_agent}fi
# the agent's package made its user (run_as_user): it joins the log group (skipped or not: the
# instance test makes the user as the package would)
usermod -a -G {log_group} {agent_user}
if ! skipped "the RDS CA bundle"; then
  wget -q -O {ca_bundle} {ca_bundle_url}
  chmod 0644 {ca_bundle}
fi

# instances made from this image run their own user data: forget this one's
if command -v cloud-init >/dev/null; then cloud-init clean --logs; fi
signal ok
"""

BOOT = """\
#!/bin/bash
# cloudsite app instance boot for stack {stack}: configuration from SSM and Secrets Manager only
set -euo pipefail
REGION={region}
STACK={stack}
install -d -m 0750 -o root -g cloudsite /etc/cloudsite
# the log directory as the bake makes it (again here: an image baked before had no log group); the
# agent (re)started below reads its user's groups as it starts
getent group {log_group} >/dev/null || groupadd --system {log_group}
if id -u {agent_user} >/dev/null 2>&1; then usermod -a -G {log_group} {agent_user}; fi
install -d -m 2750 -o cloudsite -g {log_group} {log_dir}
# 1. the CloudWatch agent, configured from SSM (ships /var/log/cloudsite/*.log, StatsD on :8125)
for _ in $(seq 1 30); do
  /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \\
    -c ssm:{agent_parameter} && break
  sleep 10
done
# 2. the app's environment, rendered by the installed app itself (deploy/render_env.py, the same
#    code the AfterInstall hook runs) once a deployment has installed it; the first deployment
#    renders it otherwise. Secrets are read from Secrets Manager and never leave the file.
if [ -x /opt/cloudsite/venv/bin/python ] && [ -d /opt/cloudsite/app ]; then
  (cd /opt/cloudsite/app && /opt/cloudsite/venv/bin/python -m deploy.render_env --stack "$STACK" \
     --region "$REGION" --output /etc/cloudsite/env --owner cloudsite)
fi
# 3. the services (their units arrive with the first deployment; CodeDeploy starts them then)
systemctl enable --now codedeploy-agent
systemctl start cloudsite-app cloudsite-worker 2>/dev/null || true
"""


_LOG_NAMES = {"log_group": LOG_GROUP, "agent_user": AGENT_USER, "log_dir": LOG_DIR}


def bake_script(stack: str, region: str, base: str) -> str:
    if base not in PACKAGES:
        raise ValueError(f"unknown image base {base!r} (one of {', '.join(BASES)})")
    agent = "".join(f"  {line}\n" for line in CLOUDWATCH_AGENT[base].splitlines())
    return BAKE.format(stack=stack, region=shlex.quote(region), base=base, imds=_IMDS,
                       signal_prefix=shlex.quote(naming.bake_signal(stack)), ca_bundle=RDS_CA_BUNDLE,
                       ca_bundle_url=RDS_CA_BUNDLE_URL, packages=PACKAGES[base].rstrip("\n"),
                       prerequisites=PREREQUISITES[base].rstrip("\n"),
                       cloudwatch_agent=agent, skip=SKIP_AWS_DOWNLOADS, python_record=PYTHON_RECORD,
                       min_python=repr(MIN_PYTHON), min_text=".".join(map(str, MIN_PYTHON)), **_LOG_NAMES)


def bake_fingerprint(stack: str, region: str, base: str, instance_type: str) -> str:
    """Identifies what a bake makes: a new script or base image kind means a new bake."""
    text = "\n".join([bake_script(stack, region, base), base, instance_type])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def boot_script(*, stack: str, region: str, account: str, partition: str, domain: str) -> str:
    """The launch template's user data: names only, no secret (the posture tests check)."""
    return BOOT.format(stack=stack, region=shlex.quote(region),
                       agent_parameter=shlex.quote(naming.agent_config_parameter(stack)), **_LOG_NAMES)
