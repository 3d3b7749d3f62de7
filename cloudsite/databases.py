"""Turn a ``DATABASE_URL`` into a Django database entry with cloudsite's connection policy."""
import environ
from django.core.exceptions import ImproperlyConfigured

MYSQL = "django.db.backends.mysql"
SECRET_BACKEND = "cloudsite.db_backends.mysql"


def database_config(url: str, ca_bundle: str = "", secret_arn: str = "", secret_ttl: int = 300,
                    conn_max_age: int = 60) -> dict:
    """Parse ``url`` and add persistent connections and MySQL's charset, strict mode and TLS.

    ``ca_bundle`` is the path of the RDS CA bundle; when given, MySQL connections verify the
    server certificate against it. ``secret_arn`` names a Secrets Manager secret
    ``{"username", "password"}``: the entry then uses ``cloudsite.db_backends.mysql``, which reads
    the credentials at connect time (cached ``secret_ttl`` seconds), and any password in the URL is
    dropped. ``conn_max_age``: seconds a MySQL connection is kept between requests.
    """
    config = environ.Env.db_url_config(url)
    config["CONN_HEALTH_CHECKS"] = True
    if secret_arn:
        if config["ENGINE"] != MYSQL:
            raise ImproperlyConfigured("DATABASE_SECRET_ARN needs a mysql:// database URL")
        config.update(ENGINE=SECRET_BACKEND, SECRET_ARN=secret_arn, SECRET_TTL=secret_ttl, PASSWORD="")
    if config["ENGINE"] in (MYSQL, SECRET_BACKEND):
        config["CONN_MAX_AGE"] = conn_max_age
        options = config.setdefault("OPTIONS", {})
        options.update(
            {
                "charset": "utf8mb4",
                "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
                "isolation_level": "read committed",
            }
        )
        if ca_bundle:
            options["ssl"] = {"ca": ca_bundle}
            options["ssl_mode"] = "VERIFY_IDENTITY"
        config.setdefault("TEST", {})["CHARSET"] = "utf8mb4"
    return config
