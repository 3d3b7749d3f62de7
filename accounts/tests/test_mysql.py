"""MariaDB/MySQL only (the second pass of `make test`)."""
import threading

import pytest
from django.db import connection
from django.test import Client

from accounts.models import User
from accounts.tests.conftest import PASSWORD

pytestmark = [pytest.mark.mysql, pytest.mark.django_db(transaction=True)]


def test_connection_policy():
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.sql_mode, @@character_set_connection")
        sql_mode, charset = cursor.fetchone()
    assert "STRICT_TRANS_TABLES" in sql_mode
    assert charset == "utf8mb4"


def test_utf8mb4_round_trip():
    response = Client().post("/v1/user", {"username": "emoji@example.com", "password": PASSWORD,
                                          "first_name": "Zoë 😀", "last_name": "𝔘𝔫𝔦"},
                             content_type="application/json")
    assert response.status_code == 201
    user = User.objects.get(username_key="emoji@example.com")
    assert (user.first_name, user.last_name) == ("Zoë 😀", "𝔘𝔫𝔦")


def test_concurrent_sign_ups_with_one_address_make_one_account():
    spellings = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM"]
    barrier = threading.Barrier(20)
    results = [None] * 20

    def sign_up(i):
        try:
            barrier.wait()
            response = Client().post(
                "/v1/user",
                {"username": spellings[i % 4], "password": PASSWORD, "first_name": "R",
                 "last_name": str(i)},
                content_type="application/json",
            )
            results[i] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(code for code, _ in results)
    assert codes == [201] + [400] * 19, results
    for code, body in results:
        if code == 400:
            assert body["errors"] == {"username": ["An account with this e-mail address already exists."]}
    assert User.objects.filter(username_key="race@example.com").count() == 1
