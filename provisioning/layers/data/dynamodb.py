"""The DynamoDB verification token table."""
from __future__ import annotations

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import StackError, absent_on, error_code
from provisioning.layers.data.protection import allow_unprotecting
from provisioning.recipe_names import TOKEN_TABLE
from provisioning.resource import Drift, Resource
from provisioning.retry import delete_once_free, retry_on, waiter_config

TABLE_WAIT = waiter_config(5, 60)


class TokenTable(Resource):
    name, service, kind = TOKEN_TABLE, "dynamodb", "DynamoDB table"
    HASH_KEY, TTL_ATTRIBUTE = "token", "ttl"

    def __init__(self, config: StackConfig):
        self.deletion_protection = config.database.deletion_protection

    def table_name(self, ctx):
        return naming.token_table(ctx.stack)

    @staticmethod
    def _state(table):
        return {"id": table["TableName"], "name": table["TableName"], "arn": table["TableArn"],
                "status": table["TableStatus"],
                "billing": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
                "keys": [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]],
                "deletion_protection": table.get("DeletionProtectionEnabled", False)}

    def find_all(self, ctx, deps):
        table = absent_on(lambda: ctx.client("dynamodb").describe_table(TableName=self.table_name(ctx))["Table"],
                          "ResourceNotFoundException")
        if table is None:
            return []
        return [self._state(table)]

    def _wait_active(self, ctx, name):
        ctx.client("dynamodb").get_waiter("table_exists").wait(TableName=name, WaiterConfig=TABLE_WAIT)
        return self._state(ctx.client("dynamodb").describe_table(TableName=name)["Table"])

    def create(self, ctx, deps):
        ddb, name = ctx.client("dynamodb"), self.table_name(ctx)
        try:
            ddb.create_table(
                TableName=name, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": self.HASH_KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": self.HASH_KEY, "KeyType": "HASH"}],
                DeletionProtectionEnabled=self.deletion_protection, Tags=ctx.tags(self.name))
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":  # created meanwhile
                raise
        # TTL and point-in-time recovery: reconcile
        return self._wait_active(ctx, name)

    def drift(self, ctx, state, deps):
        ddb, drift = ctx.client("dynamodb"), []
        if state["status"] == "DELETING":
            return [Drift("status", "DELETING", "ACTIVE", fixable=False)]
        if state["status"] != "ACTIVE":
            drift.append(Drift("status", state["status"], "ACTIVE"))
        if state["keys"] != [(self.HASH_KEY, "HASH")]:
            drift.append(Drift("key schema", state["keys"], [(self.HASH_KEY, "HASH")], fixable=False))
        if state["billing"] != "PAY_PER_REQUEST":
            drift.append(Drift("billing mode", state["billing"], "PAY_PER_REQUEST"))
        if state["deletion_protection"] != self.deletion_protection:
            drift.append(Drift("deletion protection", state["deletion_protection"], self.deletion_protection))
        ttl = ddb.describe_time_to_live(TableName=state["id"])["TimeToLiveDescription"]
        ttl_have = (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName"))
        if ttl_have[0] not in ("ENABLED", "ENABLING") or ttl_have[1] != self.TTL_ATTRIBUTE:
            drift.append(Drift("ttl", " ".join(filter(None, ttl_have)), f"ENABLED {self.TTL_ATTRIBUTE}"))
        backups = ddb.describe_continuous_backups(TableName=state["id"])["ContinuousBackupsDescription"]
        pitr = (backups.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus", "DISABLED")
        if pitr != "ENABLED":
            drift.append(Drift("point-in-time recovery", pitr, "ENABLED"))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        ddb, settings = ctx.client("dynamodb"), {d.setting for d in drift}
        name = state["id"]
        changes = {}
        if "billing mode" in settings:
            changes["BillingMode"] = "PAY_PER_REQUEST"
        if "deletion protection" in settings:
            changes["DeletionProtectionEnabled"] = self.deletion_protection
        if changes:
            ddb.update_table(TableName=name, **changes)
        if changes or "status" in settings:
            state = self._wait_active(ctx, name)
        if "ttl" in settings:
            try:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": self.TTL_ATTRIBUTE})
            except ClientError as error:
                if error_code(error) == "ValidationException" and "already" in str(error).lower():
                    raise StackError(f"{name}: TTL is being changed already (AWS allows one change an hour "
                                     "or so); run the command again later") from None
                raise
        if "point-in-time recovery" in settings:
            # a table just created answers ContinuousBackupsUnavailable for a little while
            retry_on(["ContinuousBackupsUnavailableException"],
                     lambda: ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                         "PointInTimeRecoveryEnabled": True}), timeout=600, delay=10, clock=ctx.clock)
        return state

    def delete(self, ctx, state):
        ddb, name = ctx.client("dynamodb"), state["id"]
        if state["status"] != "DELETING":
            if state["deletion_protection"]:
                allow_unprotecting(ctx, f"table {name}")
                ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
                self._wait_active(ctx, name)
            delete_once_free(lambda: ddb.delete_table(TableName=name), gone="ResourceNotFoundException",
                             busy=["ResourceInUseException"], delay=10, clock=ctx.clock)
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=TABLE_WAIT)

    def outputs(self, state):
        return {"table": state["name"]}
