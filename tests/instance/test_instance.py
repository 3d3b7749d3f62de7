"""A real instance on this machine: the image bake and the CodeDeploy hooks, run in a Debian 13 root.

``make test-instance`` (part of ``make test``). As root, with chroot (systemd cannot be PID 1 here):
1. a Debian 13 root (``debootstrap --variant=minbase trixie``);
2. ``provision_all`` builds the ``local`` stack in a moto_server on loopback; when it launches the
   image builder, the builder's user data (the bake script, read back from the emulated instance)
   runs in the root as cloud-init would run it, with the real ``apt-get``; its completion signal
   goes to the emulated SSM through the root's AWS CLI. Only the downloads from AWS's own buckets
   (the two agents, the RDS CA bundle) are skipped, by ``CLOUDSITE_BAKE_SKIP_AWS_DOWNLOADS=1``;
3. the CodeDeploy hooks, in appspec order, on the bytes ``deploy`` would upload, with the agent's
   environment: ``render_env`` reads the emulated stack, the venv is built with the image's own
   Python and pip, ``migrate_locked`` migrates the stack's database (a TLS MariaDB: the app verifies
   the certificate), the units are started from their own lines by a systemctl stand-in;
4. HAProxy terminates TLS in front, health-checks ``/healthz`` as the ALB does, and the seed's flow
   runs through it: sign-up, the message on the topic, the Lambda's e-mail, the link, self, picture;
5. the CloudWatch agent's user reads the JSON log lines and nothing else;
6. two more deployments: new code (services restart on it, the venv is kept, one of two concurrent
   AfterInstall hooks migrates), then new requirements (the venv is rebuilt).
Each step prints its time; everything mounted or started is undone, also on failure.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

from deploy.bundle import build_bundle
from devkit import live
from devkit.emulator import LambdaStandIn
from provisioning import naming
from provisioning.context import RESOURCE_TAG, STACK_TAG
from provisioning.layers.image import BUILDER

from .agent import Agent, HookFailed
from .certs import ThrowawayCA
from .database import HOST as DB_HOST
from .database import TlsMariaDB
from .imds import Imds
from .proxy import TARGET, Proxy
from .rootfs import DebianRoot, sweep_stale
from .steps import Steps

STACK, REGION = "local", "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
SKIP_SWITCH = "CLOUDSITE_BAKE_SKIP_AWS_DOWNLOADS"
TOOLS = ("debootstrap", "chroot", "mount", "haproxy", "mariadbd", "mariadb-install-db")
PASSWORD = "instance-harbour-42-lantern"
# The CloudWatch agent's package makes its user so (its preinst); the package itself is an AWS
# download the bake skips here.
AGENT_USER_COMMANDS = [["groupadd", "--system", "cwagent"],
                       ["useradd", "--system", "--gid", "cwagent", "--no-create-home", "--home-dir",
                        "/home/cwagent", "--shell", "/bin/false", "cwagent"]]


def preflight() -> None:
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    problem = ("the instance test needs root (chroot, mount)" if os.geteuid() != 0 else
               f"the instance test needs {', '.join(missing)} (apt-get install debootstrap haproxy "
               "mariadb-server systemd)" if missing else "")
    if problem:
        if os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1":
            pytest.fail(problem)
        pytest.skip(problem)


def stack_files(directory: Path, app_port: int) -> Path:
    """The shipped local stack, on a free port: the port must reach the hooks from the stack."""
    text = (ROOT / "deploy/stacks/local.toml").read_text()
    text, count = re.subn(r"(?m)^app_port = \d+", f"app_port = {app_port}", text)
    assert count == 1, "deploy/stacks/local.toml has no [network] app_port line"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "local.toml").write_text(text)
    return directory


def changed_bundle(data: bytes, changes: dict[str, "callable"]) -> bytes:
    """The bundle with some files changed (``name -> old text -> new text``; a new name adds)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        names = {info.filename for info in source.infolist()}
        for info in source.infolist():
            body = source.read(info)
            if info.filename in changes:
                body = changes[info.filename](body.decode()).encode()
            target.writestr(info, body)
        for name in sorted(set(changes) - names):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100644) << 16
            target.writestr(info, changes[name](""))
    return out.getvalue()


NOOP_MIGRATION = '''from django.db import migrations


class Migration(migrations.Migration):
    """Added by the instance test's second deployment: one instance must apply it, once."""
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
'''


class Https:
    """Requests through the proxy, as a browser would send them to the stack's domain."""

    def __init__(self, port: int, domain: str, ca: Path):
        self.port, self.domain = port, domain
        self.context = ssl.create_default_context(cafile=str(ca))

    def request(self, method, path, body=None, headers=None, auth=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=60)
        headers = {"Host": self.domain, **(headers or {})}
        if auth:
            headers["Authorization"] = live.basic(*auth)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), data

    def json(self, method, path, payload=None, auth=None):
        body = json.dumps(payload).encode() if payload is not None else None
        status, headers, data = self.request(method, path, body, {"Content-Type": "application/json"}, auth)
        return status, (json.loads(data) if data else None)


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def multipart(name: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = "instance" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Emulator:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name=REGION)

    def client(self, service):
        return self.session.client(service, endpoint_url=self.endpoint)

    def outputs(self) -> dict:
        prefix = f"/cloudsite/{STACK}/"
        pages = self.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=True)
        return {p["Name"][len(prefix):]: p["Value"] for page in pages for p in page["Parameters"]}

    def builders(self) -> list[str]:
        pages = self.client("ec2").get_paginator("describe_instances").paginate(Filters=[
            {"Name": f"tag:{STACK_TAG}", "Values": [STACK]}, {"Name": f"tag:{RESOURCE_TAG}", "Values": [BUILDER]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def user_data(self, instance_id: str) -> str:
        answer = self.client("ec2").describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        return base64.b64decode(answer["UserData"]["Value"]).decode()


def run_bake(root: DebianRoot, emulator: Emulator, imds: Imds, provision: subprocess.Popen) -> dict:
    """Wait for provision_image's builder, then run its user data in the root as cloud-init would."""
    deadline = time.monotonic() + 900
    while not (builders := emulator.builders()):
        if provision.poll() is not None:
            raise AssertionError("provision_all ended before it launched the image builder")
        if time.monotonic() > deadline:
            raise AssertionError("no image builder launched within 15 minutes")
        time.sleep(1)
    instance_id = builders[0]
    imds.instance_id = instance_id
    script = emulator.user_data(instance_id)
    assert not re.search(rf"(^|[\s;]|export\s+){SKIP_SWITCH}=", script, re.M), "the user data sets the switch"
    root.write("/var/lib/cloud/instance/scripts/part-001", script, 0o700)
    env = {SKIP_SWITCH: "1", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint,
           "AWS_ENDPOINT_URL": emulator.endpoint, **live.FAKE_AWS}
    started = time.monotonic()
    done = root.run(["/var/lib/cloud/instance/scripts/part-001"], env, timeout=1800, check=False)
    log = root.host_path("/var/log/cloudsite-bake.log")
    bake_log = log.read_text() if log.exists() else done.stdout + done.stderr
    ssm = emulator.client("ssm")
    try:
        signal = ssm.get_parameter(Name=naming.bake_signal(STACK, instance_id))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        signal = "(no signal written)"
    if done.returncode:
        raise AssertionError(f"the bake script exited {done.returncode}, its signal: {signal}\n{bake_log[-3000:]}")
    return {"instance": instance_id, "seconds": time.monotonic() - started, "log": bake_log, "signal": signal}


def verify_units(root: DebianRoot) -> str:
    """``systemd-analyze verify`` of the installed units by the image's own systemd (Debian 13's,
    in the root: it checks the paths the units name exist there)."""
    units = sorted(f"/etc/systemd/system/{p.name}"
                   for p in root.host_path("/etc/systemd/system").glob("cloudsite-*"))
    assert len(units) == 4, f"the hooks installed {units}"  # web, worker, the timer and its service
    done = root.run(["systemd-analyze", "verify", *units], check=False)
    assert done.returncode == 0, f"systemd-analyze verify: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def unit_line(root: DebianRoot, unit: str, key: str) -> str:
    text = root.host_path(f"/etc/systemd/system/{unit}").read_text()
    return re.search(rf"(?m)^{key}=(.*)$", text).group(1)


def journals(root: DebianRoot, head: int = 40, tail: int = 15) -> str:
    """What the services wrote (the stand-in's journal, the app's log files): the start, where a
    boot error is, and the end."""
    parts = []
    for directory in ("/var/log/journal-standin", "/var/log/cloudsite"):
        for path in sorted(root.host_path(directory).glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            shown = lines if len(lines) <= head + tail else [*lines[:head], "[...]", *lines[-tail:]]
            parts.append(f"--- {directory}/{path.name} ({len(lines)} lines)\n" + "\n".join(shown))
    return "\n".join(parts) or "(no service output)"


def deploy(agent: Agent, data: bytes, deployment_id: str, **kwargs):
    try:
        return agent.deploy(data, deployment_id, **kwargs)
    except HookFailed as error:
        raise HookFailed(f"{error}\n{journals(agent.root)}") from None


def main_pid(root: DebianRoot, unit: str) -> int:
    return int(root.run(["systemctl", "show-main-pid", unit]).stdout.strip())


def interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def test_a_real_instance_bakes_deploys_serves_and_redeploys(tmp_path):
    preflight()
    steps = Steps("instance")
    for swept in sweep_stale():
        steps.say(f"removed a killed run's root {swept}")
    previous = signal.signal(signal.SIGTERM, interrupted)  # a stopped run still cleans up
    try:
        run_instance(tmp_path, steps)
    finally:
        signal.signal(signal.SIGTERM, previous)
        print(steps.summary(), file=sys.stderr, flush=True)


def run_instance(tmp_path, steps):  # noqa: C901 - one story, told in order
    app_port, proxy_port = live.free_port(), live.free_port()
    ca = ThrowawayCA()
    ca_file = tmp_path / "test-ca.pem"
    ca_file.write_bytes(ca.pem)
    db_cert, db_key = ca.issue(tmp_path / "db", "server", ["placeholder.invalid"])
    with contextlib.ExitStack() as stack:
        with steps("a Debian 13 root (debootstrap --variant=minbase --include=systemd,procps trixie, cached)"):
            root = stack.enter_context(DebianRoot())
            for command in AGENT_USER_COMMANDS:
                root.run(command)
        with steps("the stack's database: MariaDB with TLS on 127.0.0.2:3306"):
            database = stack.enter_context(TlsMariaDB(db_cert, db_key, ca_file))
        # the db-admin function's stand-in runs inside the moto_server: it takes the database there
        endpoint = stack.enter_context(live.moto_server(tmp_path / "moto.log", env={
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false", "CLOUDSITE_EMULATOR_MYSQL": database.url}))
        emulator = Emulator(endpoint)
        imds = stack.enter_context(Imds(REGION))
        aws = {**live.FAKE_AWS, "AWS_ENDPOINT_URL": endpoint}

        with steps("provision_all in the emulator, the builder's user data (the bake) run in the root"):
            env = {**os.environ, **aws, "CLOUDSITE_RDS_CA_BUNDLE": str(ca_file)}
            env.pop("DJANGO_SETTINGS_MODULE", None)
            log = open(tmp_path / "provision_all.log", "w+")
            provision = subprocess.Popen(
                [sys.executable, "manage.py", "provision_all", "--stack", STACK,
                 "--stacks-dir", str(stack_files(tmp_path / "stacks", app_port))],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(lambda: provision.poll() is None and (provision.kill(), provision.wait()))
            try:
                bake = run_bake(root, emulator, imds, provision)
            except BaseException:
                provision.kill()
                provision.wait()
                raise
            provision_rc = provision.wait(timeout=900)
            log.seek(0)
            assert provision_rc == 0, f"provision_all exited {provision_rc}:\n{log.read()[-5000:]}"
            assert bake["signal"] == "ok", bake["signal"]
            steps.record("the bake itself", bake["seconds"])
            skipped = re.findall(rf"bake: skipped (.+) \({SKIP_SWITCH}\)", bake["log"])
            assert len(skipped) == 3, f"expected the 3 AWS downloads skipped, the bake says: {skipped}"
            steps.say(f"the bake skipped only: {skipped}")

        with steps("the image as baked: recorded interpreter, users, directories"):
            python = root.host_path("/etc/cloudsite/python").read_text().strip()
            version = root.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.strip()
            assert tuple(map(int, version.split("."))) >= (3, 10), f"{python} is {version}"
            root.run(["id", "cloudsite"])
            assert "cloudsite-logs" in root.run(["id", "-nG", "cwagent"]).stdout.split()
            steps.say(f"interpreter {python} (Python {version})")

        outputs = emulator.outputs()
        domain = outputs["pipeline/domain"]
        with steps("the instance's view of the stack: RDS endpoints on 127.0.0.2, their certificate"):
            names = [outputs["data/db-endpoint"]]
            if outputs.get("data/db-replica-endpoint", "").endswith("amazonaws.com"):
                names.append(outputs["data/db-replica-endpoint"])
            ca.issue(tmp_path / "db", "server", names)  # same files, the endpoints' names
            with database.connect() as db, db.cursor() as cursor:
                cursor.execute("FLUSH SSL")
            hosts = root.host_path("/etc/hosts")
            hosts.write_text(hosts.read_text() + "".join(f"{DB_HOST} {name}\n" for name in names))
            # the RDS CA bundle is an AWS download the bake skipped: the test CA stands in for it
            shutil.copy(ca_file, root.host_path("/etc/cloudsite/rds-ca.pem"))
            root.host_path("/etc/cloudsite/rds-ca.pem").chmod(0o644)
            # systemd's manager environment (what the instance role and real endpoints give on EC2)
            root.write("/etc/systemd/system.conf.d/instance-test.conf", "[Manager]\nDefaultEnvironment="
                       + " ".join(f'"{k}={v}"' for k, v in {**aws, "AWS_EC2_METADATA_SERVICE_ENDPOINT":
                                                             imds.endpoint}.items()) + "\n")
            root.write("/usr/local/sbin/systemctl", (Path(__file__).parent / "systemctl_standin.py").read_text(), 0o755)

        mails: list[dict] = []
        lambda_stand_in = LambdaStandIn(endpoint, STACK, REGION, outputs["pipeline/topic-arn"],
                                        tmp_path / "lambda", outputs["data/token-table"],
                                        outputs["pipeline/sender"], on_sent=mails.append)
        (tmp_path / "lambda").mkdir()
        lambda_stand_in.start()
        stack.callback(lambda_stand_in.stop)
        proxy_cert, proxy_key = ca.issue(tmp_path / "proxy", "proxy", [domain, "127.0.0.1"])
        proxy = stack.enter_context(Proxy(proxy_port, app_port, proxy_cert, proxy_key))
        https = Https(proxy_port, domain, ca_file)
        imds.instance_id = "i-0appinstance00001"
        agent = Agent(root, application=naming.codedeploy_application(STACK), group=naming.codedeploy_group(STACK),
                      group_id=str(uuid.uuid4()),
                      environment={**aws, "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint})
        bundle = build_bundle(ROOT)

        with steps("deployment 1: the hooks in appspec order on deploy's bundle"):
            runs = deploy(agent, bundle.data, "d-INSTANCE001")
            for run in runs:
                steps.record(run.event, run.seconds)
            after = next(r for r in runs if r.event == "AfterInstall").output
            assert "building the virtual environment" in after, after
            assert re.search(r"applying \d+ migrations", after), after
            venv_python = root.run(["/opt/cloudsite/venv/bin/python", "-c",
                                    "import sys; print(sys._base_executable)"]).stdout.strip()
            assert os.path.realpath(root.host_path(venv_python)) == os.path.realpath(root.host_path(python)), \
                f"the venv runs {venv_python}, the image's interpreter is {python}"
            assert f"--bind 0.0.0.0:{app_port}" in unit_line(root, "cloudsite-app.service", "ExecStart")

        with steps("the units: systemd-analyze verify, and running as their User= from their lines"):
            steps.say(verify_units(root).strip() or "systemd-analyze verify: no complaint")
            for unit in ("cloudsite-app.service", "cloudsite-worker.service"):
                assert root.run(["systemctl", "is-active", unit], check=False).returncode == 0, unit
            for unit in ("cloudsite-app.service", "cloudsite-worker.service"):
                pid = main_pid(root, unit)
                status = Path(f"/proc/{pid}/status").read_text()
                uid = int(re.search(r"(?m)^Uid:\s+(\d+)", status).group(1))
                assert uid == int(root.run(["id", "-u", "cloudsite"]).stdout), f"{unit} runs as uid {uid}"
                assert os.readlink(f"/proc/{pid}/cwd") == str(root.host_path("/opt/cloudsite/app"))

        with steps("the load balancer: HAProxy's health check turns the target healthy"):
            steps.say(f"target {TARGET}:{app_port}: {proxy.wait_healthy(timeout=90)}")

        with steps("the seed's flow over HTTPS through the proxy"):
            seed_flow(https, emulator, outputs, mails, domain)

        with steps("the CloudWatch agent's view: cwagent reads the JSON log lines, not the secrets"):
            for name in ("app.log", "worker.log"):
                text = root.run(["cat", f"/var/log/cloudsite/{name}"], user="cwagent").stdout
                lines = [line for line in text.splitlines() if line.strip()]
                assert lines, f"{name} is empty"
                for line in lines:
                    json.loads(line)  # every line is one JSON object
                steps.say(f"{name}: {len(lines)} JSON lines")
            refused = root.run(["cat", "/etc/cloudsite/env"], user="cwagent", check=False)
            assert refused.returncode != 0, "the agent's user can read the environment file"
            assert "DJANGO_SECRET_KEY" in root.host_path("/etc/cloudsite/env").read_text()

        old_pids = {u: main_pid(root, u) for u in ("cloudsite-app.service", "cloudsite-worker.service")}
        venv_build = os.readlink(root.host_path("/opt/cloudsite/venv"))  # the venv's own directory
        bundle_2 = changed_bundle(bundle.data, {
            "cloudsite/settings.py": lambda text: text.replace('"VERSION": "1.0.0"', '"VERSION": "1.0.0+deployment-2"'),
            "accounts/migrations/0002_instance_test.py": lambda _: NOOP_MIGRATION})

        def two_instances(agent_, archive, deployment_id):
            """Two instances' AfterInstall at once (AllAtOnce): one migrates, the other waits and finds none."""
            with ThreadPoolExecutor(2) as pool:
                runs = list(pool.map(lambda _: agent_.hook(archive, "AfterInstall", deployment_id), range(2)))
            texts = [r.output for r in runs]
            applied = [t for t in texts if re.search(r"applying 1 migrations", t)]
            nothing = [t for t in texts if "no migrations to apply" in t]
            assert len(applied) == 1 and len(nothing) == 1, texts
            assert all("virtual environment up to date" in t for t in texts), texts
            runs[0].seconds = max(r.seconds for r in runs)
            return runs[0]

        with steps("deployment 2: new code, same requirements; two AfterInstall hooks at once"):
            runs = deploy(agent, bundle_2, "d-INSTANCE002", after_install=two_instances)
            for run in runs:
                steps.record(run.event, run.seconds)
            stop = next(r for r in runs if r.event == "ApplicationStop").output
            assert "stopping cloudsite-app.service" in stop and "stopping cloudsite-worker.service" in stop, stop
            assert os.readlink(root.host_path("/opt/cloudsite/venv")) == venv_build, "the venv was rebuilt"
            for unit, pid in old_pids.items():
                assert main_pid(root, unit) not in (0, pid), f"{unit} did not restart"
            proxy.wait_healthy(timeout=90)
            status, _, body = https.request("GET", "/v1/schema?format=json")
            assert status == 200 and json.loads(body)["info"]["version"] == "1.0.0+deployment-2", body[:200]

        bundle_3 = changed_bundle(bundle_2, {"requirements.lock": lambda text: text + "# deployment 3\n"})
        with steps("deployment 3: changed requirements rebuild the venv"):
            runs = deploy(agent, bundle_3, "d-INSTANCE003")
            for run in runs:
                steps.record(run.event, run.seconds)
            after = next(r for r in runs if r.event == "AfterInstall").output
            assert "building the virtual environment" in after and "no migrations to apply" in after, after
            assert os.readlink(root.host_path("/opt/cloudsite/venv")) != venv_build
            proxy.wait_healthy(timeout=90)
            assert https.request("GET", "/healthz")[0] == 200

        with steps("clean-up: services, mounts, the root, the proxy, the database"):
            stack.close()
            assert not root.processes() and not root.path.exists()


def seed_flow(https: Https, emulator: Emulator, outputs: dict, mails: list, domain: str) -> None:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    status, body = https.json("POST", "/v1/user", {"first_name": "Ada", "last_name": "Lovelace",
                                                    "username": email, "password": PASSWORD})
    assert status == 201, (status, body)
    deadline = time.monotonic() + 120
    while not any(m["email"] == email for m in mails):  # worker -> SNS -> (Lambda stand-in) -> SES
        assert time.monotonic() < deadline, "no verification e-mail within 2 minutes (worker log?)"
        time.sleep(0.5)
    link = next(m["link"] for m in mails if m["email"] == email)
    parts = urlsplit(link)
    assert (parts.scheme, parts.hostname) == ("https", domain), link  # built behind the proxy, for the domain
    auth = (email, PASSWORD)
    assert https.json("GET", "/v1/user/self", auth=auth)[0] == 403  # not verified yet
    status, body = https.json("GET", f"{parts.path}?{parts.query}")
    assert (status, body) == (200, {"verified": True}), (status, body)
    status, me = https.json("GET", "/v1/user/self", auth=auth)
    assert status == 200 and me["verified"] is True, (status, me)
    assert https.json("PUT", "/v1/user/self", {"first_name": "Augusta"}, auth=auth)[0] == 204
    assert https.json("GET", "/v1/user/self", auth=auth)[1]["first_name"] == "Augusta"

    body, content_type = multipart("me.png", png(), "image/png")
    status, _, data = https.request("POST", "/v1/user/self/pic", body, {"Content-Type": content_type}, auth)
    assert status == 201, (status, data[:300])
    picture = json.loads(data)
    status, fetched = https.json("GET", "/v1/user/self/pic", auth=auth)
    assert status == 200 and fetched == picture, (status, fetched)
    s3 = emulator.client("s3")
    bucket = outputs["data/app-bucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len(keys) == 1, keys
    head = s3.head_object(Bucket=bucket, Key=keys[0])
    assert head["ServerSideEncryption"] == "aws:kms", head
    assert https.json("DELETE", "/v1/user/self/pic", auth=auth)[0] == 204
    deadline = time.monotonic() + 60  # the stored object is removed by a task (the worker, over SQS)
    while s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0):
        assert time.monotonic() < deadline, f"the picture's object {keys[0]} was not removed within 60 s"
        time.sleep(0.5)
    assert https.json("GET", "/v1/user/self/pic", auth=auth)[0] == 404
