"""The DynamoDB token store (AWS): items ``{token, email, ttl}`` in the verification table.

``token`` (the hash key) holds the token's SHA-256 digest, never the token itself; ``ttl`` is the
epoch second after which the table's TTL feature may delete the item. DynamoDB deletes expired
items lazily (up to days later), so every read checks ``ttl`` itself. A pointer item
``{token: "latest#<email>", digest}`` names the newest token of an address, so that issuing a new
link makes the older ones stop working without a scan or an index.
"""
import time

from botocore.exceptions import ClientError
from django.conf import settings

from accounts.aws import client
from accounts.models import username_key
from accounts.verification.tokens import TokenState, new_token, token_digest


def _latest_key(email: str) -> dict:
    return {"token": {"S": f"latest#{username_key(email)}"}}


class DynamoDBTokenStore:
    @property
    def table(self) -> str:
        return settings.VERIFICATION_TABLE

    def issue(self, email: str) -> str:
        token = new_token()
        digest = token_digest(token)
        expires = str(int(time.time()) + settings.VERIFICATION_TOKEN_TTL)
        dynamodb = client("dynamodb")
        dynamodb.put_item(TableName=self.table, Item={
            "token": {"S": digest}, "email": {"S": username_key(email)}, "ttl": {"N": expires}})
        dynamodb.put_item(TableName=self.table, Item={
            **_latest_key(email), "digest": {"S": digest}, "ttl": {"N": expires}})
        return token

    def check(self, email: str, token: str) -> TokenState:
        digest = token_digest(token)
        answer = client("dynamodb").batch_get_item(RequestItems={self.table: {
            "Keys": [{"token": {"S": digest}}, _latest_key(email)], "ConsistentRead": True}})
        items = {item["token"]["S"]: item for item in answer["Responses"].get(self.table, [])}
        item = items.get(digest)
        if item is None or item["email"]["S"] != username_key(email):
            return TokenState.INVALID
        if "used_at" in item:
            return TokenState.USED
        latest = items.get(_latest_key(email)["token"]["S"])
        if latest is None or latest["digest"]["S"] != digest:
            return TokenState.INVALID  # superseded by a newer link
        if int(item["ttl"]["N"]) <= time.time():
            return TokenState.INVALID
        return TokenState.VALID

    def consume(self, email: str, token: str) -> bool:
        if self.check(email, token) is not TokenState.VALID:
            return False
        now = int(time.time())
        try:
            client("dynamodb").update_item(
                TableName=self.table,
                Key={"token": {"S": token_digest(token)}},
                UpdateExpression="SET used_at = :now",
                ConditionExpression="attribute_exists(#t) AND email = :email "
                "AND attribute_not_exists(used_at) AND #ttl > :now",
                ExpressionAttributeNames={"#t": "token", "#ttl": "ttl"},
                ExpressionAttributeValues={":now": {"N": str(now)},
                                           ":email": {"S": username_key(email)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False  # consumed concurrently, or expired in between
            raise
        return True
