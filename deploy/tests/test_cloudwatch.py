import pytest
from django.conf import settings

from deploy.cloudwatch import APP_LOG, WORKER_LOG, log_group_names, render_agent_config


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
