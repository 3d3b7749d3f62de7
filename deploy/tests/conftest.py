"""Fixtures this directory's tests share, bound here from where they are defined."""
from deploy.tests import mariadb as _mariadb

# the real MariaDB: an admin connection, the test's own databases and users (deploy/tests/mariadb.py)
mariadb = _mariadb.mariadb
