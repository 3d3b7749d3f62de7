"""The database credentials (two generated secrets), the app user made through the db-admin
function, and invoking that function."""
from __future__ import annotations

import json
import secrets
import string

from provisioning import db_admin_invoke, naming
from provisioning.errors import StackError, absent_on, tolerate
from provisioning.recipe_names import APP_SECRET, APP_USER, DB_ADMIN_FUNCTION, MASTER_SECRET, PRIMARY, RDS_KEY
from provisioning.recipes.secret import GeneratedSecret
from provisioning.resource import Drift, Resource, planned

# RDS CreateDBInstance, MasterUserPassword for MySQL: 8 to 41 printable ASCII characters, not
# '/', '"', '@' or a space. The app user's password is made the same way.
PASSWORD_LENGTH = 40
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#$%&()*+,-.:;<=>?[]^_{|}~"
APP_USER_TAG = "cloudsite:app-user"


def new_password() -> str:
    """40 characters RDS takes in a master password (none of '/', '"', '@', space)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def credentials_secret(name: str, purpose: str, username: str, description: str) -> GeneratedSecret:
    """``{"username", "password"}``, generated once, encrypted with the RDS key."""
    return GeneratedSecret(name, lambda stack: naming.db_secret(stack, purpose), description,
                           lambda ctx: json.dumps({"username": username, "password": new_password()}),
                           key=RDS_KEY)


def grants_version() -> str:
    """Names the app user's grant set (``deploy.db_admin.users.APP_PRIVILEGES``): a new set makes
    the app-user recipe drift, and its reconcile grants it."""
    import hashlib

    from deploy.db_admin.users import APP_PRIVILEGES

    return "grants-" + hashlib.sha256(",".join(sorted(APP_PRIVILEGES)).encode()).hexdigest()[:12]


class DbAppUser(Resource):
    """The app's database user, made by the db-admin function with the master user's credentials.

    Observable from AWS without SQL: after a successful invocation the app secret is tagged
    ``cloudsite:app-user = <grant set version>@<the primary's DbiResourceId>``; a new grant set or
    a new primary (a re-created instance has a new resource id) drifts, and the reconcile invokes
    again (idempotent: it creates the user if missing, sets the password, grants exactly)."""
    name, service, kind = APP_USER, "lambda", "database app user (via the db-admin function)"
    depends_on = (PRIMARY, MASTER_SECRET, APP_SECRET, DB_ADMIN_FUNCTION)

    def __init__(self, master: GeneratedSecret, app: GeneratedSecret):
        self.master, self.app = master, app

    def wanted(self, deps) -> str:
        from provisioning.layers import data  # the package's grants_version, at call time (tests replace it)

        primary = deps.get(PRIMARY)
        return f"{data.grants_version()}@{primary['resource_id'] if primary else planned(PRIMARY)}"

    def find_all(self, ctx, deps):
        secret = absent_on(lambda: ctx.client("secretsmanager").describe_secret(
            SecretId=self.app.secret_name(ctx.stack)), "ResourceNotFoundException")
        if secret is None:
            return []
        applied = {t["Key"]: t["Value"] for t in secret.get("Tags", [])}.get(APP_USER_TAG)
        if secret.get("DeletedDate") or not applied:
            return []
        return [{"id": f"{naming.DB_APP_USER}@{naming.DB_NAME}", "applied": applied, "secret": secret["ARN"]}]

    def create(self, ctx, deps):
        return self.ensure(ctx, deps)

    def drift(self, ctx, state, deps):
        want = self.wanted(deps)
        return [] if state["applied"] == want else [Drift("app user", state["applied"], want)]

    def reconcile(self, ctx, state, drift, deps):
        return self.ensure(ctx, deps)

    def ensure(self, ctx, deps) -> dict:
        primary, admin, user = deps[PRIMARY], self.master.read(ctx), self.app.read(ctx)
        invoke_db_admin(ctx, {
            "action": "ensure_app_user", "host": primary["endpoint"], "port": int(primary["port"]),
            "database": naming.DB_NAME, "tls": True,
            "admin": {"username": admin["username"], "password": admin["password"]},
            "user": {"username": user["username"], "password": user["password"]}})
        applied = self.wanted(deps)
        arn = deps[APP_SECRET]["arn"]
        ctx.client("secretsmanager").tag_resource(SecretId=arn, Tags=[{"Key": APP_USER_TAG, "Value": applied}])
        return {"id": f"{naming.DB_APP_USER}@{naming.DB_NAME}", "applied": applied, "secret": arn}

    def delete(self, ctx, state):
        """The user goes with the instance; what this recipe made in AWS is the tag."""
        with tolerate("ResourceNotFoundException", "InvalidRequestException"):
            ctx.client("secretsmanager").untag_resource(SecretId=state["secret"], TagKeys=[APP_USER_TAG])

    def outputs(self, state):
        return {"user": naming.DB_APP_USER, "applied": state["applied"]}


def invoke_db_admin(ctx, event: dict) -> dict:
    """Invoke the db-admin function synchronously; a function error or ``ok: false`` is a
    StackError of one line, with the event's passwords masked (the handler masks them too)."""
    name = naming.db_admin_function(ctx.stack)
    result, function_error = db_admin_invoke.invoke(ctx.client("lambda"), name, event, clock=ctx.clock)
    if function_error or not isinstance(result, dict) or result.get("ok") is not True:
        detail = result.get("error") or result.get("errorMessage") if isinstance(result, dict) else result
        kind = f" ({function_error})" if function_error else ""
        raise StackError(f"{name}: {event['action']} failed{kind}: "
                         f"{db_admin_invoke.mask(str(detail or 'no answer'), event)}")
    return result
