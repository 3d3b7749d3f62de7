import os
import re
from pathlib import Path

import pytest
from django.conf import settings

from deploy.bootstrap import bake_script, boot_script
from deploy.cloudwatch import AGENT_USER, APP_LOG, LOG_DIR, LOG_GROUP, WORKER_LOG, log_group_names, render_agent_config

ROOT = Path(__file__).resolve().parents[2]


def test_agent_config_for_a_stack():
    config = render_agent_config("dev")
    statsd = config["metrics"]["metrics_collected"]["statsd"]
    assert statsd == {"service_address": "127.0.0.1:8125", "metrics_collection_interval": 10,
                      "metrics_aggregation_interval": 10}
    files = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert {(f["file_path"], f["log_group_name"]) for f in files} == {
        (APP_LOG, "/cloudsite/dev/app"), (WORKER_LOG, "/cloudsite/dev/worker")}
    assert sorted(f["log_group_name"] for f in files) == log_group_names("dev")
    assert "__STACK__" not in repr(config)


def test_agent_listens_where_the_app_sends():
    host, port = render_agent_config("dev")["metrics"]["metrics_collected"]["statsd"][
        "service_address"].split(":")
    assert int(port) == settings.STATSD_PORT


@pytest.mark.parametrize("bad", ["", "Dev", "dev/../x", "a" * 40, "dev\nx"])
def test_bad_stack_names_are_refused(bad):
    with pytest.raises(ValueError):
        render_agent_config(bad)


# --- who may read the logs: the agent's user through the log group, nobody else ------------------
def shell_default(name: str) -> str:
    """The default of ``NAME="${NAME:-default}"`` in scripts/common.sh."""
    text = (ROOT / "scripts" / "common.sh").read_text()
    return re.search(rf'^{name}="\$\{{{name}:-([^}}]*)\}}"$', text, re.M).group(1)


def test_the_agent_runs_as_the_user_the_hooks_put_in_the_log_group():
    assert render_agent_config("dev")["agent"]["run_as_user"] == AGENT_USER != "root"
    assert shell_default("AGENT_USER") == AGENT_USER
    assert shell_default("LOG_GROUP") == LOG_GROUP
    assert shell_default("LOG_DIR") == LOG_DIR == os.path.dirname(APP_LOG) == os.path.dirname(WORKER_LOG)


def test_the_bake_puts_the_agent_in_the_log_group_and_makes_the_directory_setgid():
    script = bake_script("dev", "us-east-1", "debian-13")
    lines = [line.strip() for line in script.splitlines()]
    # after the agent's step, never skipped (under the instance test's switch the test makes the user)
    assert f"usermod -a -G {LOG_GROUP} {AGENT_USER}" in lines
    assert (script.index('skipped "the CloudWatch agent"') < script.index("usermod")
            < script.index('skipped "the RDS CA'))
    assert f"install -d -m 2750 -o cloudsite -g {LOG_GROUP} {LOG_DIR}" in lines
    assert script.index(f"groupadd --system {LOG_GROUP}") < script.index("usermod")
    # the agent's package (which creates its user) is installed before the user joins the group
    assert script.index("amazon-cloudwatch-agent") < script.index("usermod")
    assert "chown cloudsite: /var/log/cloudsite" not in script and "0755 /etc/cloudsite /var/log" not in script


def test_every_boot_keeps_the_log_directory_as_the_bake_made_it():
    script = boot_script(stack="dev", region="us-east-1", account="123456789012", partition="aws",
                         domain="dev.example.com")
    lines = script.splitlines()
    assert f"install -d -m 2750 -o cloudsite -g {LOG_GROUP} {LOG_DIR}" in lines
    # before the agent starts (it takes its groups then), also on an image baked without the group
    assert script.index(f"usermod -a -G {LOG_GROUP} {AGENT_USER}") < script.index("amazon-cloudwatch-agent-ctl")
    assert f"getent group {LOG_GROUP} >/dev/null || groupadd --system {LOG_GROUP}" in lines
    assert not re.search(r"install -d -m 07\d\d [^\n]*/var/log/cloudsite", script)


def test_the_units_write_the_logs_0640():
    for unit in ("cloudsite-app.service", "cloudsite-worker.service"):
        assert "UMask=0027" in (ROOT / "scripts" / "systemd" / unit).read_text().splitlines(), unit
