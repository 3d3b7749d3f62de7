"""Turn a ``DATABASE_URL`` into a Django database entry with cloudsite's connection policy."""
import environ


def database_config(url: str, ca_bundle: str = "") -> dict:
    """Parse ``url`` and add persistent connections and MySQL's charset, strict mode and TLS.

    ``ca_bundle`` is the path of the RDS CA bundle; when given, MySQL connections verify the
    server certificate against it.
    """
    config = environ.Env.db_url_config(url)
    config["CONN_HEALTH_CHECKS"] = True
    if config["ENGINE"] == "django.db.backends.mysql":
        config["CONN_MAX_AGE"] = 60
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
