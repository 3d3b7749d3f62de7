"""The app as the load balancer sees it, with the production settings render_env writes.

The whole ``local`` stack is provisioned into a moto_server; ``deploy/render_env.py`` renders the
instance's environment from it, and gunicorn runs the app with exactly that environment, except
what moto cannot serve or what points into an instance's file system: the database (moto's RDS is
no MySQL server: SQLite here, every ``DATABASE_*`` variable dropped), the log, static and var
paths (a scratch directory), and the failed-login window (one window for the whole test). Then, as
the ALB does (ELB User Guide: target group health checks; "HTTP headers and Application Load
Balancers"):

* the health check: ``GET <HealthCheckPath>`` read back from the target group, to the traffic port,
  with ``Host: <the target's private IP>:<port>`` and ``User-Agent: ELB-HealthChecker/2.0``, must
  answer the target group's matcher;
* API traffic: ``Host: <the stack's domain>`` with ``X-Forwarded-For`` (the ALB appends the client's
  address to whatever the client sent), ``X-Forwarded-Proto: https`` and ``X-Forwarded-Port: 443``;
* any other Host on an API path is refused.
"""
import http.client
import ipaddress
import json
import os
import re
import subprocess
import sys
import urllib.parse
from base64 import b64decode
from http.cookies import SimpleCookie
from unittest import mock

import boto3
import pytest

from deploy import render_env
from devkit import live
from devkit.emulator import BakeScriptStandIn
from devkit.testing import moto_server
from provisioning import naming

STACK, REGION = "local", "us-east-1"
PASSWORD = "balance-harbour-42-lantern"
CLIENT = "203.0.113.7"  # the address the ALB saw the client connect from


def emulator_client(endpoint, service):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def provision(endpoint):
    env = {**os.environ, **live.FAKE_AWS, "AWS_ENDPOINT_URL": endpoint}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with BakeScriptStandIn(endpoint, STACK, REGION):  # moto runs no builder's bake script
        done = subprocess.run([sys.executable, "manage.py", "provision_all", "--stack", STACK], cwd=live.REPO,
                              env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def production_environment(endpoint) -> dict:
    """What render_env writes into /etc/cloudsite/env on an instance of the emulated stack."""
    with mock.patch.dict(os.environ, {**live.FAKE_AWS, "AWS_ENDPOINT_URL": endpoint}):
        return render_env.environment(STACK, boto3.Session(region_name=REGION))


def app_environment(workdir, endpoint, production: dict) -> dict:
    env = live.app_environment(workdir, endpoint)
    env.update(production)
    for name in [n for n in env if n.startswith("DATABASE_")]:  # moto's RDS serves no MySQL
        del env[name]
    env.update(DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
               # the instance's paths (/var/log/cloudsite, /opt/cloudsite/static, /var/lib/cloudsite)
               LOG_FILE=str(workdir / "app.log"), DJANGO_STATIC_ROOT=str(workdir / "static"),
               CLOUDSITE_VAR_DIR=str(workdir), AWS_ENDPOINT_URL=endpoint,
               # one failed-login window for the whole test (the throttle counts in fixed windows;
               # a window ending mid-test would reset the count the client-address test relies on)
               CLOUDSITE_AUTH_FAILURE_WINDOW=str(10**9),
               # nor is there the stack's cache: this one gunicorn process's own memory stands in
               CLOUDSITE_REQUIRE_SHARED_CACHE="false")
    env.pop("CACHE_URL", None)
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("alb")
    with moto_server() as endpoint:
        provision(endpoint)
        production = production_environment(endpoint)
        env = app_environment(workdir, endpoint, production)
        live.manage(env, "migrate", "--noinput", "-v0")
        live.manage(env, "shell", "-c", "from accounts.models import User; "
                    f"User.objects.create_superuser('admin@example.com', {PASSWORD!r})")
        with live.gunicorn(env, workdir / "gunicorn.log") as (port, _):
            yield {"port": port, "endpoint": endpoint, "production": production, "env": env,
                   "domain": urllib.parse.urlsplit(production["CLOUDSITE_PUBLIC_BASE_URL"]).hostname}


def send(port, method, path, headers, body: bytes | None = None):
    """One request with exactly these headers (http.client adds no Host of its own here)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, data


def through_the_alb(site, method, path, *, client=CLIENT, sent_for=None, headers=None, body=None):
    """As the ALB forwards a client's HTTPS request: it appends the client's address to the
    X-Forwarded-For the client sent (``sent_for``), and says the client spoke HTTPS on 443."""
    forwarded = f"{sent_for}, {client}" if sent_for else client
    return send(site["port"], method, path, {
        "Host": site["domain"], "X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443", "X-Amzn-Trace-Id": "Root=1-67891233-abcdef012345678912345678",
        **(headers or {})}, body)


# --- (a) the health check, as the target group makes it --------------------------------------
def target_group(endpoint) -> dict:
    elbv2 = emulator_client(endpoint, "elbv2")
    return elbv2.describe_target_groups(Names=[naming.target_group(STACK)])["TargetGroups"][0]


def a_target_address(endpoint) -> str:
    """A private address in one of the auto scaling group's subnets (inside the VPC's CIDR)."""
    group = emulator_client(endpoint, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[naming.auto_scaling_group(STACK)])["AutoScalingGroups"][0]
    subnet_id = group["VPCZoneIdentifier"].split(",")[0]
    ec2 = emulator_client(endpoint, "ec2")
    subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    vpc = ec2.describe_vpcs(VpcIds=[subnet["VpcId"]])["Vpcs"][0]
    address = ipaddress.ip_network(subnet["CidrBlock"])[17]
    assert address in ipaddress.ip_network(vpc["CidrBlock"]) and address.is_private
    return str(address)


def matcher_codes(matcher: str) -> set[int]:
    codes = set()
    for part in matcher.split(","):
        low, _, high = part.partition("-")
        codes.update(range(int(low), int(high or low) + 1))
    return codes


def test_the_health_check_answers_the_load_balancer(site):
    group = target_group(site["endpoint"])
    assert group["HealthCheckProtocol"] == "HTTP" and group["HealthCheckPort"] == "traffic-port"
    host = f"{a_target_address(site['endpoint'])}:{group['Port']}"  # the traffic port, as the ALB sends it
    headers = {"Host": host, "User-Agent": "ELB-HealthChecker/2.0", "Connection": "close"}
    status, _, _ = send(site["port"], "GET", group["HealthCheckPath"], headers)
    assert status in matcher_codes(group["Matcher"]["HttpCode"]), (status, group["Matcher"])
    # the same Host on anything but the health check is refused
    status, _, body = send(site["port"], "GET", "/v1/user/self", headers)
    assert status == 400 and json.loads(body) == {"detail": "Bad request."}


# --- (b) API traffic behind the ALB -----------------------------------------------------------
def queued_task_arguments(endpoint, queue_url) -> list[list]:
    """The arguments of the Celery tasks waiting in the stack's SQS queue (kombu's SQS envelope:
    base64 JSON whose body is base64 JSON ``[args, kwargs, embed]``)."""
    sqs = emulator_client(endpoint, "sqs")
    found = []
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        envelope = json.loads(b64decode(message["Body"]))
        args, _kwargs, _embed = json.loads(b64decode(envelope["body"]))
        found.append(args)
    return found


def test_sign_up_behind_the_alb_sends_an_https_link_to_the_stacks_domain(site):
    payload = json.dumps({"username": "Alb@Example.com", "password": PASSWORD, "first_name": "A",
                          "last_name": "Lb"}).encode()
    status, headers, body = through_the_alb(site, "POST", "/v1/user",
                                            headers={"Content-Type": "application/json"}, body=payload)
    assert status == 201, body
    assert headers["X-Request-Id"] == "Root=1-67891233-abcdef012345678912345678"
    # the queue carries the user's id only (no address, token or link: issue #17); the worker
    # builds the link on the production environment's base URL, the stack's domain over HTTPS
    (args,) = queued_task_arguments(site["endpoint"], site["production"]["CLOUDSITE_SQS_QUEUE_URL"])
    assert len(args) == 1 and "@" not in str(args[0]) and "verify" not in str(args[0]), args
    assert site["production"]["CLOUDSITE_PUBLIC_BASE_URL"] == f"https://{site['domain']}"


def login_form(site) -> tuple[str, str]:
    status, headers, body = through_the_alb(site, "GET", "/admin/login/")
    assert status == 200
    cookie = SimpleCookie()
    for value in headers.get_all("Set-Cookie"):
        cookie.load(value)
    assert cookie["csrftoken"]["secure"]  # CSRF_COOKIE_SECURE behind the ALB
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    return cookie["csrftoken"].value, token


def test_the_request_counts_as_https_behind_the_alb(site):
    """Django's CSRF check compares the browser's Origin with the scheme it thinks the request
    came by: the admin's login works through the ALB only because X-Forwarded-Proto is honoured."""
    cookie, token = login_form(site)
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": "admin@example.com",
                                   "password": PASSWORD, "next": "/admin/"}).encode()
    browser = {"Cookie": f"csrftoken={cookie}", "Origin": f"https://{site['domain']}",
               "Content-Type": "application/x-www-form-urlencoded"}
    status, headers, _ = through_the_alb(site, "POST", "/admin/login/", headers=browser, body=form)
    assert status == 302 and headers["Location"] == "/admin/"
    session = SimpleCookie()
    for value in headers.get_all("Set-Cookie"):
        session.load(value)
    assert session["sessionid"]["secure"]
    # the same request seen as plain HTTP (no X-Forwarded-Proto): the https Origin is foreign
    plain = {"Host": site["domain"], "X-Forwarded-For": CLIENT, **browser}
    status, _, _ = send(site["port"], "POST", "/admin/login/", plain, form)
    assert status == 403


def test_the_client_address_is_the_one_the_alb_saw(site):
    """The failed-login throttle counts per client address (CLOUDSITE_NUM_PROXIES=1: the last
    X-Forwarded-For entry, the one the ALB appended): a client rotating what it sends itself in
    X-Forwarded-For is still one address, and another client is not affected."""
    assert site["production"]["CLOUDSITE_NUM_PROXIES"] == "1"
    limit = int(site["env"].get("CLOUDSITE_AUTH_FAILURES_PER_ADDRESS", "50"))

    def attempt(n, client, sent_for=None):
        auth = live.basic(f"nobody{n}@example.com", "wrong-password")  # another username each time
        return through_the_alb(site, "GET", "/v1/user/self", client=client, sent_for=sent_for,
                               headers={"Authorization": auth})[0]

    answers = [attempt(n, "198.51.100.20", sent_for=f"10.9.{n}.1") for n in range(limit)]
    assert set(answers) == {401}
    assert attempt(limit, "198.51.100.20", sent_for="10.99.99.99") == 429
    assert attempt(limit + 1, "198.51.100.21") == 401


# --- (c) any other Host on an API path is refused -------------------------------------------
@pytest.mark.parametrize("host", ["attacker.example", "10.30.1.17:8000", "local.cloudsite.test.attacker.example"])
def test_an_unknown_host_on_an_api_path_is_refused(site, host):
    status, headers, body = through_the_alb(site, "GET", "/v1/user/self", headers={"Host": host})
    assert status == 400
    assert headers["Content-Type"] == "application/json" and json.loads(body) == {"detail": "Bad request."}
