"""Primary/replica routing: reads to the replica, writes and read-after-write to the primary."""
import pytest
from django.test import RequestFactory

from accounts.models import User
from accounts.tests.conftest import PASSWORD, basic
from cloudsite.db_router import (
    PrimaryPinningMiddleware,
    PrimaryReplicaRouter,
    unpin,
    use_primary,
)


@pytest.fixture
def replica_configured(monkeypatch):
    """Make the router believe a replica is configured."""
    monkeypatch.setattr("cloudsite.db_router.has_replica", lambda: True)
    unpin()


def test_without_replica_everything_is_primary():
    assert PrimaryReplicaRouter().db_for_read(User) == "default"


def test_reads_go_to_replica_until_a_write(replica_configured):
    router = PrimaryReplicaRouter()

    def view(request):
        first = router.db_for_read(User)
        router.db_for_write(User)
        return first, router.db_for_read(User)

    middleware = PrimaryPinningMiddleware(view)
    assert middleware(RequestFactory().get("/")) == ("replica", "default")
    # The next request starts unpinned again.
    next_request = PrimaryPinningMiddleware(lambda request: router.db_for_read(User))
    assert next_request(RequestFactory().get("/")) == "replica"


def test_use_primary_block(replica_configured):
    router = PrimaryReplicaRouter()
    with use_primary():
        assert router.db_for_read(User) == "default"
    assert router.db_for_read(User) == "replica"


def test_migrations_only_on_primary():
    router = PrimaryReplicaRouter()
    assert router.allow_migrate("default", "accounts")
    assert not router.allow_migrate("replica", "accounts")


@pytest.fixture
def routed_reads(monkeypatch, replica_configured):
    """Record where each read would go, while actually reading the primary."""
    decisions = []
    original = PrimaryReplicaRouter.db_for_read

    def spy(self, model, **hints):
        decisions.append(original(self, model, **hints))
        return "default"

    monkeypatch.setattr(PrimaryReplicaRouter, "db_for_read", spy)
    return decisions


@pytest.mark.django_db
def test_authentication_reads_the_primary(client, make_user, routed_reads):
    make_user()
    unpin()  # as at the start of a request
    User.objects.count()  # control: a plain read is routed to the replica
    assert routed_reads == ["replica"]
    routed_reads.clear()
    client.credentials(HTTP_AUTHORIZATION=basic("ann@example.com", PASSWORD))
    assert client.get("/v1/user/self").status_code == 200
    assert client.get("/v1/user/self").status_code == 200  # cached path too
    assert "replica" not in routed_reads
