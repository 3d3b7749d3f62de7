"""The two scripts instances run: the image bake, and the boot of an app instance.

* ``bake_script``: user data of the builder instance ``provision_image`` launches. Installs Python,
  the CodeDeploy agent, the CloudWatch agent and the RDS CA bundle, then writes its completion
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

_IMDS = """\
imds() {
  local token
  token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
  curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}
"""

BAKE = """\
#!/bin/bash
# cloudsite image bake for stack {stack} (base: {base})
set -euo pipefail
exec > >(tee -a /var/log/cloudsite-bake.log) 2>&1
REGION={region}
{imds}INSTANCE_ID=$(imds instance-id)
SIGNAL={signal_prefix}$INSTANCE_ID
signal() {{ aws ssm put-parameter --region "$REGION" --name "$SIGNAL" --type String --overwrite --value "$1"; }}
trap 'signal "failed: line $LINENO (see /var/log/cloudsite-bake.log)"' ERR

if command -v dnf >/dev/null; then
  dnf -y upgrade --refresh
  dnf -y install python3.11 python3.11-pip ruby wget amazon-cloudwatch-agent
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -y && apt-get -y upgrade
  apt-get -y install python3 python3-venv python3-pip ruby-full wget curl
  snap install aws-cli --classic
  wget -q -O /tmp/cwagent.deb https://amazoncloudwatch-agent-$REGION.s3.$REGION.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb
  dpkg -i -E /tmp/cwagent.deb
fi
# the CodeDeploy agent, from the region's own bucket
wget -q -O /tmp/codedeploy-install https://aws-codedeploy-$REGION.s3.$REGION.amazonaws.com/latest/install
chmod +x /tmp/codedeploy-install && /tmp/codedeploy-install auto
systemctl enable codedeploy-agent
useradd --system --home /opt/cloudsite --shell /sbin/nologin cloudsite || true
install -d -m 0755 /opt/cloudsite
install -d -m 0750 -o root -g cloudsite /etc/cloudsite
wget -q -O {ca_bundle} {ca_bundle_url}
chmod 0644 {ca_bundle}
# the logs: written by the service, read by the CloudWatch agent's user (the log group's only
# member) and nobody else (deploy/cloudwatch.py)
getent group {log_group} >/dev/null || groupadd --system {log_group}
usermod -a -G {log_group} {agent_user}
install -d -m 2750 -o cloudsite -g {log_group} {log_dir}
# instances made from this image run their own user data: forget this one's
cloud-init clean --logs || true
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
    return BAKE.format(stack=stack, region=shlex.quote(region), base=base, imds=_IMDS,
                       signal_prefix=shlex.quote(naming.bake_signal(stack)), ca_bundle=RDS_CA_BUNDLE,
                       ca_bundle_url=RDS_CA_BUNDLE_URL, **_LOG_NAMES)


def bake_fingerprint(stack: str, region: str, base: str, instance_type: str) -> str:
    """Identifies what a bake makes: a new script or base image kind means a new bake."""
    text = "\n".join([bake_script(stack, region, base), base, instance_type])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def boot_script(*, stack: str, region: str, account: str, partition: str, domain: str) -> str:
    """The launch template's user data: names only, no secret (the posture tests check)."""
    return BOOT.format(stack=stack, region=shlex.quote(region),
                       agent_parameter=shlex.quote(naming.agent_config_parameter(stack)), **_LOG_NAMES)
