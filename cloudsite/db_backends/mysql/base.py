"""Django's MySQL backend, with the user name and password read from Secrets Manager at connect time.

Selected by ``cloudsite.databases.database_config`` when ``DATABASE_SECRET_ARN`` is set: the
settings entry then carries ``SECRET_ARN`` and ``SECRET_TTL`` and no password. Every new connection
takes its credentials from ``cloudsite.db_backends.secret`` (cached for ``SECRET_TTL`` seconds);
when the server refuses the login (1045, or 1698 on MariaDB), it retries with the secret re-read,
then with its ``AWSPENDING`` version, so a password rotation needs no restart and no redeploy.
"""
from __future__ import annotations

import logging

from django.db.backends.mysql import base as mysql
from django.db.backends.mysql.base import Database

from cloudsite.db_backends.secret import DEFAULT_TTL, Credentials, credentials_store

AUTH_ERRORS = (1045, 1698)  # ER_ACCESS_DENIED_ERROR; ER_ACCESS_DENIED_NO_PASSWORD_ERROR
log = logging.getLogger("cloudsite.db")


def refused_login(error: Exception) -> bool:
    return isinstance(error, Database.OperationalError) and bool(error.args) and error.args[0] in AUTH_ERRORS


class DatabaseWrapper(mysql.DatabaseWrapper):
    @property
    def credentials(self):
        settings = self.settings_dict
        return credentials_store(settings["SECRET_ARN"], float(settings.get("SECRET_TTL", DEFAULT_TTL)))

    def get_connection_params(self):
        params = super().get_connection_params()
        return with_credentials(params, self.credentials.get())

    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except Database.OperationalError as error:
            if not refused_login(error):
                raise
            refused, last = Credentials(conn_params.get("user", ""), conn_params.get("password", "")), error
        for candidate in self.credentials.alternatives(refused):
            try:
                connection = super().get_new_connection(with_credentials(conn_params, candidate))
            except Database.OperationalError as error:
                if not refused_login(error):
                    raise
                last = error
                continue
            self.credentials.remember(candidate)
            log.warning("database %s: login refused with the cached credentials; the re-read secret "
                        "worked", self.alias)
            return connection
        raise last


def with_credentials(params: dict, credentials: Credentials) -> dict:
    return {**params, "user": credentials.username, "password": credentials.password}
