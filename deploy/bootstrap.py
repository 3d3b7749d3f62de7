"""The two scripts instances run: the image bake, and the boot of an app instance.

* ``bake_script``: user data of the builder instance ``provision_image`` launches. Installs Python,
  the CodeDeploy agent, the CloudWatch agent and the RDS CA bundle, then writes its completion
  signal, the SSM parameter ``naming.bake_signal(stack, <instance id>)``: ``ok``, or ``failed: ...``
  from the error trap. The builder's role may write that parameter path and nothing else.
* ``boot_script``: user data of the launch template. No secret inside: it fetches the CloudWatch
  agent's configuration from SSM (``naming.agent_config_parameter``, rendered by provisioning from
  ``deploy/cloudwatch.render_agent_config``), builds ``/etc/cloudsite/env`` from the stack's SSM
  outputs and the database secret in Secrets Manager (read with the instance role), and starts
  the services. The app itself arrives through CodeDeploy (the pipeline layer).
"""
from __future__ import annotations

import hashlib
import shlex

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
install -d -m 0755 /etc/cloudsite /var/log/cloudsite /opt/cloudsite
wget -q -O {ca_bundle} {ca_bundle_url}
useradd --system --home /opt/cloudsite --shell /sbin/nologin cloudsite || true
chown cloudsite: /var/log/cloudsite
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
install -d -m 0755 /etc/cloudsite /var/log/cloudsite
# 1. the CloudWatch agent, configured from SSM (ships /var/log/cloudsite/*.log, StatsD on :8125)
for attempt in $(seq 1 30); do
  /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \\
    -c ssm:{agent_parameter} && break
  sleep 10
done
# 2. the app's environment: outputs under /cloudsite/$STACK/, the database password from its secret
python3 - <<'PYTHON'
import json, os, subprocess, urllib.parse

def aws(*args):
    return json.loads(subprocess.check_output(["aws", "--region", {region_py}, "--output", "json", *args]))

path = "/cloudsite/{stack}/"
outputs = {{}}
token = None
while True:
    page = aws("ssm", "get-parameters-by-path", "--path", path, "--recursive",
               *(["--starting-token", token] if token else []))
    outputs.update({{p["Name"][len(path):]: p["Value"] for p in page.get("Parameters", [])}})
    token = page.get("NextToken")
    if not token:
        break
secret = json.loads(aws("secretsmanager", "get-secret-value", "--secret-id",
                        outputs["data/db-secret-arn"])["SecretString"])
user = urllib.parse.quote(secret.get("username", outputs.get("data/db-user", "")), safe="")
password = urllib.parse.quote(secret["password"], safe="")
db = outputs["data/db-name"]
port = outputs.get("data/db-port", "3306")
env = {{
    "DATABASE_URL": f"mysql://{{user}}:{{password}}@{{outputs['data/db-endpoint']}}:{{port}}/{{db}}",
    "DATABASE_CA_BUNDLE": {ca_bundle_py},
    "CLOUDSITE_S3_BUCKET": outputs["data/app-bucket"],
    "CLOUDSITE_S3_KMS_KEY_ID": outputs["data/s3-key-arn"],
    "CLOUDSITE_VERIFICATION_TABLE": outputs["data/token-table"],
}}
if outputs.get("data/db-replica-endpoint"):
    env["DATABASE_REPLICA_URL"] = (f"mysql://{{user}}:{{password}}@{{outputs['data/db-replica-endpoint']}}:"
                                   f"{{port}}/{{db}}")
env.update({static_env})
fd = os.open("/etc/cloudsite/env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as out:
    for key, value in sorted(env.items()):
        out.write(f"{{key}}={{value}}\\n")
PYTHON
chown root:cloudsite /etc/cloudsite/env && chmod 0640 /etc/cloudsite/env
# 3. the services (their units arrive with the first deployment; CodeDeploy starts them then)
systemctl enable --now codedeploy-agent
systemctl start cloudsite-app cloudsite-worker 2>/dev/null || true
"""


def bake_script(stack: str, region: str, base: str) -> str:
    return BAKE.format(stack=stack, region=shlex.quote(region), base=base, imds=_IMDS,
                       signal_prefix=shlex.quote(naming.bake_signal(stack)), ca_bundle=RDS_CA_BUNDLE,
                       ca_bundle_url=RDS_CA_BUNDLE_URL)


def bake_fingerprint(stack: str, region: str, base: str, instance_type: str) -> str:
    """Identifies what a bake makes: a new script or base image kind means a new bake."""
    text = "\n".join([bake_script(stack, region, base), base, instance_type])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def app_environment(*, stack: str, region: str, account: str, partition: str, domain: str) -> dict[str, str]:
    """What the app reads (cloudsite/settings.py) that is not secret and known from names alone."""
    queue = naming.queue(stack)
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return {
        "CLOUDSITE_STACK": stack,
        "AWS_REGION": region,
        "DJANGO_ALLOWED_HOSTS": domain,
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://{domain}",
        "DJANGO_BEHIND_PROXY": "1",
        "CLOUDSITE_NUM_PROXIES": "1",
        "CLOUDSITE_PUBLIC_BASE_URL": f"https://{domain}",
        "CLOUDSITE_VERIFICATION_TOPIC_ARN": f"arn:{partition}:sns:{region}:{account}:{naming.topic(stack)}",
        "CELERY_BROKER_URL": "sqs://",
        "CLOUDSITE_SQS_QUEUE_URL": f"https://sqs.{region}.{suffix}/{account}/{queue}",
        "STATSD_HOST": "127.0.0.1",
        "STATSD_PORT": "8125",
        "LOG_FILE": "/var/log/cloudsite/app.log",
    }


def boot_script(*, stack: str, region: str, account: str, partition: str, domain: str) -> str:
    env = app_environment(stack=stack, region=region, account=account, partition=partition, domain=domain)
    return BOOT.format(stack=stack, region=shlex.quote(region), region_py=repr(region),
                       agent_parameter=shlex.quote(naming.agent_config_parameter(stack)),
                       ca_bundle_py=repr(RDS_CA_BUNDLE), static_env=repr(env))
