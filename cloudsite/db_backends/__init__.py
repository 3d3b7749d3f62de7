"""cloudsite's database backends (``ENGINE = "cloudsite.db_backends.mysql"``)."""
