"""The db-admin Lambda's code (``handler.py``, ``users.py``), zipped by ``deploy/db_admin_zip.py``.

It runs inside the VPC, next to the database the operator's machine cannot reach, and does the SQL
that needs the master user. It calls no AWS API: the provisioning commands read the secrets and
pass the credentials in the invocation payload.
"""
