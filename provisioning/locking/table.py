"""The lock's DynamoDB table: ``cloudsite-<stack>-lock``, one item (key ``stack``), in the stack's
account and region, made on first use and tagged with the stack.

Every write is conditional, so exactly one of several racing runs wins (DynamoDB Developer Guide,
"Condition expressions": a conditional write succeeds only if the condition holds, atomically,
and fails with ConditionalCheckFailedException otherwise). Reads are strongly consistent: a run
that sees the lock free is never looking at an older copy.
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.errors import absent_on, error_code
from provisioning.locking.holder import Holder
from provisioning.retry import wait_until, waiter_config

RESOURCE = "stack-lock"  # its cloudsite:resource tag
KEY = "stack"
TABLE_GONE = waiter_config(5, 60)
# The attribute names are written through placeholders: DynamoDB reserves hundreds of words.
NAMES = {"#id": "lock_id", "#expires": "expires"}
FREE = "attribute_not_exists(#id)"
STILL = "#id = :seen"                      # the holder we judged dead has not changed
EXPIRED = "#id = :seen AND #expires < :now"  # ... and it has not renewed its lease since


def item(stack: str, holder: Holder) -> dict:
    fields = {KEY: {"S": stack}, "lock_id": {"S": holder.lock_id}, "command": {"S": holder.command},
              "caller": {"S": holder.caller}, "host": {"S": holder.host}, "boot": {"S": holder.boot},
              "pid": {"N": str(holder.pid)}, "since": {"N": repr(holder.since)},
              "expires": {"N": repr(holder.expires)}}
    if holder.pid_started is not None:
        fields["pid_started"] = {"N": str(holder.pid_started)}
    return fields


def holder_of(fields: dict) -> Holder:
    text = lambda name: fields.get(name, {}).get("S", "")  # noqa: E731
    number = lambda name: float(fields[name]["N"]) if name in fields else 0.0  # noqa: E731
    return Holder(text("lock_id"), text("command"), text("caller"), text("host"), text("boot"),
                  int(number("pid")), int(number("pid_started")) if "pid_started" in fields else None,
                  since=number("since"), expires=number("expires"))


class LockTable:
    def __init__(self, ctx):
        self.ctx = ctx
        self.name = naming.lock_table(ctx.stack)
        self.key = {KEY: {"S": ctx.stack}}

    @property
    def client(self):
        return self.ctx.lock_client()

    # --- reads -------------------------------------------------------------------------------
    def read(self) -> Holder | None:
        """The holder, or None when the lock is free (or its table does not exist yet)."""
        answer = absent_on(lambda: self.client.get_item(TableName=self.name, Key=self.key, ConsistentRead=True),
                           "ResourceNotFoundException")
        fields = (answer or {}).get("Item")
        return holder_of(fields) if fields else None

    def status(self) -> str | None:
        table = absent_on(lambda: self.client.describe_table(TableName=self.name)["Table"],
                          "ResourceNotFoundException")
        return table["TableStatus"] if table else None

    # --- conditional writes: True when this run's condition held ---------------------------------
    def put(self, holder: Holder, condition: str, values: dict | None = None) -> bool:
        """Write ``holder`` if ``condition`` holds; the table is made first if it is missing."""
        while True:
            try:
                return self._conditional(self.client.put_item, condition, values or {},
                                         Item=item(self.ctx.stack, holder))
            except ClientError as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise
            self.ensure()

    def renew(self, lock_id: str, expires: float) -> bool:
        return self._conditional(self.client.update_item, "#id = :mine", {":mine": lock_id},
                                 Key=self.key, UpdateExpression="SET #expires = :expires",
                                 extra_values={":expires": {"N": repr(expires)}})

    def remove(self, lock_id: str) -> bool:
        return self._conditional(self.client.delete_item, "#id = :mine", {":mine": lock_id}, Key=self.key)

    def _conditional(self, call, condition: str, values: dict, extra_values: dict | None = None, **params) -> bool:
        attribute_values = {name: ({"S": v} if isinstance(v, str) else {"N": repr(v)}) for name, v in values.items()}
        attribute_values.update(extra_values or {})
        names = {k: v for k, v in NAMES.items() if k in condition or k in params.get("UpdateExpression", "")}
        try:
            call(TableName=self.name, ConditionExpression=condition, ExpressionAttributeNames=names,
                 **({"ExpressionAttributeValues": attribute_values} if attribute_values else {}), **params)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- the table itself ------------------------------------------------------------------------
    def ensure(self) -> None:
        """Make the table if it is missing and wait until it is ACTIVE. Several runs may do this
        at once: ResourceInUseException means another made it (or is still deleting it: then it is
        made again once it is gone)."""
        def active() -> bool:
            status = self.status()
            if status is None:
                self._create()
            return status == "ACTIVE"
        wait_until(active, what=f"the lock table {self.name}", clock=self.ctx.clock, timeout=600)

    def _create(self) -> None:
        try:
            self.client.create_table(
                TableName=self.name, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}], Tags=self.ctx.tags(RESOURCE))
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":
                raise

    def drop(self) -> None:
        """Delete the table (teardown of the whole stack, as its very last change) and wait."""
        try:
            self.client.delete_table(TableName=self.name)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
        self.client.get_waiter("table_not_exists").wait(TableName=self.name, WaiterConfig=TABLE_GONE)
