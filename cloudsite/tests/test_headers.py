"""HSTS behind the load balancer, and the Content-Security-Policy on every response."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
YEAR = 365 * 24 * 3600
# One request through the whole stack in a fresh process: the settings read from its environment.
HSTS_PROBE = """
import django, json
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/v1/schema", HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https", secure=%s)
print(json.dumps({"seconds": settings.SECURE_HSTS_SECONDS,
                  "hsts": response.headers.get("Strict-Transport-Security")}))
"""


def hsts_probe(tmp_path, secure: bool = False, **environment) -> dict:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DJANGO_", "CLOUDSITE_"))}
    env.update(DJANGO_SETTINGS_MODULE="cloudsite.settings", DJANGO_SECRET_KEY="hsts-probe",
               CLOUDSITE_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               **environment)
    result = subprocess.run([sys.executable, "-c", HSTS_PROBE % secure], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_behind_the_load_balancer_hsts_is_a_year_with_subdomains(tmp_path):
    probe = hsts_probe(tmp_path, DJANGO_BEHIND_PROXY="true")
    assert probe == {"seconds": YEAR, "hsts": f"max-age={YEAR}; includeSubDomains"}


def test_without_the_load_balancer_there_is_no_hsts(tmp_path):
    # even over HTTPS: TLS terminates elsewhere (or nowhere) and a year's pin would be a trap
    assert hsts_probe(tmp_path, secure=True) == {"seconds": 0, "hsts": None}



def policy(response) -> dict[str, list[str]]:
    directives = [part.split() for part in response["Content-Security-Policy"].split(";")]
    return {name: values for name, *values in directives}


@pytest.fixture
def admin_client(django_user_model):
    from django.test import Client

    admin = django_user_model.objects.create_superuser("root@example.com", "admin-secret-99-x",
                                                       first_name="R", last_name="T")
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize("path, as_admin, status", [
    ("/admin/login/", False, 200), ("/admin/", True, 200), ("/admin/accounts/user/", True, 200),
    ("/v1/docs", False, 200),
    ("/v1/user/self", False, 401),  # the browsable API's page, here for an error
])
def test_every_page_runs_scripts_only_from_here(client, admin_client, path, as_admin, status):
    response = (admin_client if as_admin else client).get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == status
    csp = policy(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]


def test_the_docs_have_no_inline_script(client):
    page = client.get("/v1/docs").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and all("src=" in attributes and not body.strip() for attributes, body in scripts)
    script_url = re.findall(r'<script src="(/v1/docs\?[^"]*)"', page)
    assert len(script_url) == 1
    script = client.get(script_url[0].replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content and b"/v1/schema" in script.content


def test_errors_carry_the_policy_too(client):
    response = client.put("/v1/user/self", HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403
    assert response["X-Content-Type-Options"] == "nosniff"
    assert policy(response)["script-src"] == ["'self'"]
