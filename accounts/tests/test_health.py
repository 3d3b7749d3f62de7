from unittest import mock

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Cache-Control"] == "no-cache"
    assert client.head("/healthz").status_code == 200


def test_ignores_credentials(client):
    response = client.get("/healthz", HTTP_AUTHORIZATION="Basic !!!")
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_are_405(client, method):
    response = getattr(client, method)("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["detail"]


def test_query_string_is_400(client):
    response = client.get("/healthz?x=1")
    assert response.status_code == 400 and response.json()["detail"]


def test_body_is_400(client):
    response = client.generic("GET", "/healthz", b"hello", content_type="text/plain")
    assert response.status_code == 400


def test_database_down_is_503(client):
    with mock.patch("cloudsite.health.connection.ensure_connection",
                    side_effect=OperationalError("gone")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Cache-Control"] == "no-cache"
    assert response.json()["detail"] == "The database does not answer."


# The ALB health-checks each target with its private IP and port as Host (ELB User Guide, target
# group health checks), which ALLOWED_HOSTS does not list.
ALB = {"HTTP_HOST": "10.0.3.17:8000", "HTTP_USER_AGENT": "ELB-HealthChecker/2.0"}


def test_load_balancer_health_check_answers_whatever_host_it_sends(client):
    assert client.get("/healthz", **ALB).status_code == 200
    assert client.head("/healthz", **ALB).status_code == 200


def test_load_balancer_health_check_still_checks_the_database(client):
    with mock.patch("cloudsite.health.connection.ensure_connection",
                    side_effect=OperationalError("gone")):
        response = client.get("/healthz", **ALB)
    assert response.status_code == 503
    assert response.json() == {"detail": "The database does not answer."}


def test_an_unlisted_host_on_an_api_path_is_400_in_the_json_shape(client):
    response = client.get("/v1/user", **ALB)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Bad request."}


@pytest.mark.parametrize("method, path", [("post", "/healthz"), ("options", "/healthz"),
                                          ("get", "/healthz/"), ("get", "/healthz/x"),
                                          ("get", "/v1/user/self")])
def test_only_get_and_head_of_the_health_check_skip_the_host_check(client, method, path):
    response = getattr(client, method)(path, **ALB)
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request."}


def test_the_health_check_is_first_before_anything_that_reads_the_host(settings):
    """Everything in front of it only logs and counts; CommonMiddleware (get_host) comes after."""
    chain = settings.MIDDLEWARE
    health = chain.index("cloudsite.middleware.HealthCheckMiddleware")
    assert set(chain[:health]) <= {"cloudsite.metrics.StatsdMiddleware",
                                   "cloudsite.request_log.RequestLogMiddleware",
                                   "cloudsite.metrics.EndpointMetricsMiddleware"}
    assert chain.index("django.middleware.common.CommonMiddleware") > health
    assert chain.index("django.middleware.security.SecurityMiddleware") > health


def test_the_path_the_middleware_serves_is_the_target_groups():
    from cloudsite.health import HEALTH_CHECK_PATH
    from provisioning.layers.compute import TargetGroup

    assert TargetGroup.HEALTH["HealthCheckPath"] == HEALTH_CHECK_PATH == "/healthz"
