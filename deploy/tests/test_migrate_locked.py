"""migrate_locked: the first instance migrates, the others wait for its lock and find nothing."""
import fcntl
import io
import threading
import time

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db
def test_a_second_run_finds_nothing_to_apply():
    out = io.StringIO()
    call_command("migrate_locked", "--deployment", "d-1", stdout=out)
    assert "d-1: no migrations to apply" in out.getvalue()  # the test database is migrated


@pytest.mark.django_db
def test_it_waits_for_another_instances_lock(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    lock = open(tmp_path / "cloudsite-migrate.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    with pytest.raises(CommandError, match="held the migration lock"):
        call_command("migrate_locked", "--lock-timeout", "0", stdout=io.StringIO())
    threading.Timer(0.6, lambda: fcntl.flock(lock, fcntl.LOCK_UN)).start()
    started = time.monotonic()
    call_command("migrate_locked", "--lock-timeout", "30", stdout=io.StringIO())
    assert time.monotonic() - started >= 0.5
    lock.close()
