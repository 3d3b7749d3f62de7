"""The CloudWatch agent's configuration for a stack's instances.

``deploy/cloudwatch-agent.json`` is the template: ``__STACK__`` stands for the stack name. The
agent listens for StatsD on 127.0.0.1:8125 (10 s collection and aggregation) and ships the app's
and the worker's JSON log files to ``/cloudsite/<stack>/app`` and ``/cloudsite/<stack>/worker``.

The agent runs as ``AGENT_USER`` (``run_as_user``; its package creates that user), not root. The
log directory is ``cloudsite:LOG_GROUP`` 2750 and the files 0640 (the units' ``UMask=0027``), and
``AGENT_USER`` is the log group's one member: it may read the logs and nothing else of the
service's. The agent takes its user's supplementary groups from ``/etc/group`` when it drops root
(``internal/util/user/userutil_linux.go`` of amazon-cloudwatch-agent), so membership is enough.
The image bake (``deploy.bootstrap``) and the BeforeInstall hook (``scripts/common.sh``) set this up.
"""
import json
import re
from pathlib import Path

from provisioning import naming

TEMPLATE = Path(__file__).resolve().parent / "cloudwatch-agent.json"
LOG_DIR = "/var/log/cloudsite"
APP_LOG = f"{LOG_DIR}/app.log"
WORKER_LOG = f"{LOG_DIR}/worker.log"
AGENT_USER = "cwagent"
LOG_GROUP = "cloudsite-logs"
_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def log_group_names(stack: str) -> list[str]:
    """The log groups the agent writes to, which provisioning creates with a retention."""
    return [naming.log_group(stack, "app"), naming.log_group(stack, "worker")]


def render_agent_config(stack: str) -> dict:
    if not _STACK_NAME.match(stack):
        raise ValueError(f"stack name {stack!r}: expected lower-case letters, digits and dashes")
    return json.loads(TEMPLATE.read_text().replace("__STACK__", stack))
