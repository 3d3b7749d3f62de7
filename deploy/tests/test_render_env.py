"""deploy/render_env.py against moto: every variable, quoting, mode 0600, and no secret printed."""
import json
import os
import stat

import boto3
import pytest
from moto import mock_aws

from deploy import render_env

PASSWORD = 'p@ss:w/o"rd\\$x'
MASTER_PASSWORD = "master-pw-0a1b2c3d"
SECRET_KEY = "django-secret-9f8e7d6c5b4a"


@pytest.fixture
def stack():
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        app_secret = sm.create_secret(Name="cloudsite/dev/db-app", SecretString=json.dumps(
            {"username": "cloudsite_app", "password": PASSWORD}))["ARN"]
        master_secret = sm.create_secret(Name="cloudsite/dev/db-master", SecretString=json.dumps(
            {"username": "cloudsite_master", "password": MASTER_PASSWORD}))["ARN"]
        sm.create_secret(Name="cloudsite/dev/django-secret-key", SecretString=SECRET_KEY)
        values = {
            "network/vpc-id": "vpc-1", "network/app-port": "8080",
            "data/db-endpoint": "db.abc.us-east-1.rds.amazonaws.com", "data/db-port": "3306",
            "data/db-name": "cloudsite", "data/db-user": "cloudsite_app",
            "data/db-app-secret-arn": app_secret, "data/db-master-secret-arn": master_secret,
            "data/db-replica-endpoint": "replica.abc.us-east-1.rds.amazonaws.com",
            "data/app-bucket": "cloudsite-dev-app-123456789012-us-east-1",
            "data/s3-key-arn": "arn:aws:kms:us-east-1:123456789012:key/k",
            "data/token-table": "cloudsite-dev-verification-tokens",
            "pipeline/topic-arn": "arn:aws:sns:us-east-1:123456789012:cloudsite-dev-verification",
            "pipeline/queue-url": "https://sqs.us-east-1.amazonaws.com/123456789012/cloudsite-dev-celery",
            "pipeline/domain": "dev.example.com",
            "pipeline/django-secret-name": "cloudsite/dev/django-secret-key",
        }
        for key, value in values.items():
            ssm.put_parameter(Name=f"/cloudsite/dev/{key}", Value=value, Type="String")
        yield ssm


def read_secrets(session):
    """Record the SecretId of every GetSecretValue the session's clients make."""
    read = []
    session.events.register("before-parameter-build.secrets-manager.GetSecretValue",
                            lambda params, **_: read.append(params["SecretId"]))
    return read


def test_environment_has_every_variable_the_app_reads(stack):
    session = boto3.Session(region_name="us-east-1")
    read = read_secrets(session)
    env = render_env.environment("dev", session)
    assert env == {
        "CLOUDSITE_STACK": "dev",
        "CLOUDSITE_APP_PORT": "8080",
        "DATABASE_URL": "mysql://cloudsite_app@db.abc.us-east-1.rds.amazonaws.com:3306/cloudsite",
        "DATABASE_REPLICA_URL": "mysql://cloudsite_app@replica.abc.us-east-1.rds.amazonaws.com:3306/cloudsite",
        "DATABASE_SECRET_ARN": stack.get_parameter(Name="/cloudsite/dev/data/db-app-secret-arn")["Parameter"]["Value"],
        "DATABASE_CA_BUNDLE": "/etc/cloudsite/rds-ca.pem",
        "CLOUDSITE_S3_BUCKET": "cloudsite-dev-app-123456789012-us-east-1",
        "CLOUDSITE_S3_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/k",
        "CLOUDSITE_VERIFICATION_TABLE": "cloudsite-dev-verification-tokens",
        "CLOUDSITE_VERIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:cloudsite-dev-verification",
        "CELERY_BROKER_URL": "sqs://",
        "CLOUDSITE_SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cloudsite-dev-celery",
        "STATSD_HOST": "127.0.0.1", "LOG_FILE": "/var/log/cloudsite/app.log",
        "DJANGO_SECRET_KEY": SECRET_KEY, "DJANGO_ALLOWED_HOSTS": "dev.example.com,127.0.0.1,localhost",
        "DJANGO_BEHIND_PROXY": "true", "CLOUDSITE_NUM_PROXIES": "1",
        "CLOUDSITE_PUBLIC_BASE_URL": "https://dev.example.com",
        "DJANGO_STATIC_ROOT": "/opt/cloudsite/static", "CLOUDSITE_VAR_DIR": "/var/lib/cloudsite",
        "AWS_REGION": "us-east-1", "CLOUDSITE_REQUIRE_SHARED_CACHE": "false",
    }
    # no database password in the file, and neither database secret is read (the master never)
    assert read == ["cloudsite/dev/django-secret-key"]
    import environ

    assert environ.Env.db_url_config(env["DATABASE_URL"])["PASSWORD"] == ""
    assert not [value for value in env.values() if PASSWORD in value or MASTER_PASSWORD in value]


def test_the_file_is_private_parsable_and_nothing_secret_is_printed(stack, tmp_path, capsys):
    output = tmp_path / "cloudsite.env"
    assert render_env.main(["--stack", "dev", "--output", str(output), "--region", "us-east-1"]) == 0
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o600
    printed = capsys.readouterr()
    assert printed.out.strip() == f"render_env: wrote 23 variables to {output}" and printed.err == ""
    assert SECRET_KEY not in printed.out + printed.err and "p@ss" not in printed.out + printed.err
    assert "p@ss" not in output.read_text() and MASTER_PASSWORD not in output.read_text()
    # systemd's EnvironmentFile quoting read back by a shell-like parser
    import shlex

    values = dict(shlex.split(line, posix=True)[0].split("=", 1) for line in output.read_text().splitlines())
    assert values["DJANGO_SECRET_KEY"] == SECRET_KEY
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no temporary left behind


def test_a_missing_parameter_names_the_layer_to_run(stack, tmp_path, capsys):
    stack.delete_parameter(Name="/cloudsite/dev/pipeline/queue-url")
    assert render_env.main(["--stack", "dev", "--output", str(tmp_path / "env"), "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err
    assert "/cloudsite/dev/pipeline/queue-url is missing: run provision_pipeline --stack dev" in err
    assert not (tmp_path / "env").exists()


def test_the_app_port_comes_from_the_network_layer(stack, tmp_path, capsys):
    output = tmp_path / "env"
    assert render_env.main(["--stack", "dev", "--output", str(output), "--region", "us-east-1"]) == 0
    assert 'CLOUDSITE_APP_PORT="8080"' in output.read_text().splitlines()  # what scripts/common.sh reads
    stack.delete_parameter(Name="/cloudsite/dev/network/app-port")  # a stack provisioned before
    assert render_env.main(["--stack", "dev", "--output", str(tmp_path / "env2"), "--region", "us-east-1"]) == 1
    assert ("/cloudsite/dev/network/app-port is missing: run provision_network --stack dev"
            in capsys.readouterr().err)


def test_the_app_user_and_its_secret_are_required(stack, tmp_path, capsys):
    for key in ("data/db-user", "data/db-app-secret-arn"):
        value = stack.get_parameter(Name=f"/cloudsite/dev/{key}")["Parameter"]["Value"]
        stack.delete_parameter(Name=f"/cloudsite/dev/{key}")
        assert render_env.main(["--stack", "dev", "--output", str(tmp_path / "env"), "--region", "us-east-1"]) == 1
        assert f"/cloudsite/dev/{key} is missing: run provision_data --stack dev" in capsys.readouterr().err
        stack.put_parameter(Name=f"/cloudsite/dev/{key}", Value=value, Type="String")


def test_an_aws_error_is_one_line_without_values(stack, tmp_path, capsys, monkeypatch):
    stack.put_parameter(Name="/cloudsite/dev/pipeline/django-secret-name", Value="arn:nope", Type="String",
                        Overwrite=True)
    assert render_env.main(["--stack", "dev", "--output", str(tmp_path / "env"), "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("render_env: ResourceNotFoundException") and "Traceback" not in err


# --- the file's format: literal values under systemd's rules, and even under a shell's ------------
HOSTILE = {
    "COMMAND": "$(touch {marker}) and `touch {marker}`",
    "QUOTES": "say \"hi\" and 'bye'",
    "BACKSLASHES": "C:\\path\\ \\n \\\\ ends with \\",
    "DOLLARS": "$HOME ${HOME} $$ $",
    "SPACES": "  lead and trail  ",
    "EMPTY": "",
}


def systemd_reads(text: str) -> dict[str, str]:
    """The double-quoted assignments of an EnvironmentFile, read by the rules of systemd's parser
    (src/basic/env-file.c: in double quotes a backslash before one of " \\ ` $ is dropped, before
    anything else kept; "$" and "`" are plain characters, nothing is expanded; "#"/";" comments)."""
    values = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip()[0] in "#;":
            continue
        key, _, rest = line.partition("=")
        assert rest[0] == '"' and rest[-1] == '"', line
        inner, out, i = rest[1:-1], [], 0
        while i < len(inner):
            char = inner[i]
            if char == "\\":
                i += 1
                char = inner[i]
                if char not in '"\\`$':
                    out.append("\\")
            else:
                assert char != '"', f"an unescaped quote ends the value early: {line}"
            out.append(char)
            i += 1
        values[key] = "".join(out)
    return values


def hostile(tmp_path) -> dict[str, str]:
    return {key: value.replace("{marker}", str(tmp_path / "pwned")) for key, value in HOSTILE.items()}


def test_every_value_reads_back_literally_under_systemds_rules(tmp_path):
    values = hostile(tmp_path)
    assert systemd_reads(render_env.render(values)) == values


def test_even_a_shell_sourcing_the_file_would_run_nothing(tmp_path):
    """Never done (the hooks use export_env_file), but "$" and "`" are escaped too, so a POSIX
    shell's double quotes read every value as systemd does, and a command in a value never runs."""
    import subprocess

    values = hostile(tmp_path)
    env_file = tmp_path / "env"
    env_file.write_text(render_env.render(values))
    keys = sorted(values)
    script = '. "$1"; shift; for key in "$@"; do eval "printf \'%s\\0\' \\"\\${$key}\\""; done'
    done = subprocess.run(["sh", "-c", script, "sh", str(env_file), *keys], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\0")[:-1] == [values[key] for key in keys]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("value", ["two\nlines", "carriage\rreturn", "nul\0byte", "escape\x1b[0m", "del\x7f"])
def test_a_value_with_a_control_character_is_refused_by_name_only(value):
    with pytest.raises(ValueError) as caught:
        render_env.render({"DJANGO_SECRET_KEY": f"secret-{value}"})
    assert "DJANGO_SECRET_KEY" in str(caught.value) and "secret-" not in str(caught.value)


def test_a_tab_is_kept_and_a_bad_name_refused():
    assert render_env.render({"A": "x\ty"}) == 'A="x\ty"\n'
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        render_env.render({"A B": "x"})


def test_main_says_which_variable_could_not_be_written(stack, tmp_path, capsys, monkeypatch):
    real = render_env.environment
    monkeypatch.setattr(render_env, "environment", lambda *a, **k: {**real(*a, **k), "DJANGO_SECRET_KEY": "s\nx"})
    assert render_env.main(["--stack", "dev", "--output", str(tmp_path / "env"), "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("render_env: DJANGO_SECRET_KEY: a value with a line break") and "s\nx" not in err
    assert not (tmp_path / "env").exists()
