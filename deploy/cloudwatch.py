"""The CloudWatch agent's configuration for a stack's instances.

``deploy/cloudwatch-agent.json`` is the template: ``__STACK__`` stands for the stack name. The
agent listens for StatsD on 127.0.0.1:8125 (10 s collection and aggregation) and ships the app's
and the worker's JSON log files to ``/cloudsite/<stack>/app`` and ``/cloudsite/<stack>/worker``.
"""
import json
import re
from pathlib import Path

from provisioning import naming

TEMPLATE = Path(__file__).resolve().parent / "cloudwatch-agent.json"
APP_LOG = "/var/log/cloudsite/app.log"
WORKER_LOG = "/var/log/cloudsite/worker.log"
_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def log_group_names(stack: str) -> list[str]:
    """The log groups the agent writes to, which provisioning creates with a retention."""
    return [naming.log_group(stack, "app"), naming.log_group(stack, "worker")]


def render_agent_config(stack: str) -> dict:
    if not _STACK_NAME.match(stack):
        raise ValueError(f"stack name {stack!r}: expected lower-case letters, digits and dashes")
    return json.loads(TEMPLATE.read_text().replace("__STACK__", stack))
