"""The verification-mail Lambda: SNS -> this function -> SES.

Runs on the Lambda Python runtime with only boto3 (no Django). The zip built by
``deploy/lambda_zip.py`` carries this file plus the app's own e-mail composing and token digest
modules (as ``verification_emails`` and ``verification_tokens``), so the e-mail sent here is the
one the local dispatcher sends.

Environment: ``SENDER`` (the From address, a verified SES identity), ``TABLE_NAME`` (the
verification token table), ``TOKEN_TTL_SECONDS`` (for the e-mail's wording).

Each token is claimed in the table with a conditional write before sending, so a duplicate SNS
delivery (SNS delivers at least once) sends nothing twice. If sending fails the claim is
released and the error raised, so SNS retries. Malformed messages are logged and dropped.
"""
import json
import logging
import os
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from verification_emails import compose
from verification_tokens import token_digest

logger = logging.getLogger()
logger.setLevel(logging.INFO)

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
_clients = {}
CLAIM_TTL_SECONDS = 7 * 24 * 3600


def _client(service):
    if service not in _clients:
        _clients[service] = boto3.client(service, config=_CONFIG)
    return _clients[service]


class MalformedMessage(ValueError):
    pass


def parse(record) -> dict:
    """The ``{email, token, link}`` of one SNS record, or MalformedMessage."""
    try:
        message = json.loads(record["Sns"]["Message"])
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedMessage(f"not an SNS record with a JSON message ({type(error).__name__})")
    if not isinstance(message, dict):
        raise MalformedMessage("message is not a JSON object")
    for field in ("email", "token", "link"):
        if not isinstance(message.get(field), str) or not message[field]:
            raise MalformedMessage(f"message lacks a string {field!r}")
    return message


def claim(digest: str) -> bool:
    """Mark the token as sent; False when another delivery already did."""
    now = int(time.time())
    try:
        _client("dynamodb").update_item(
            TableName=os.environ["TABLE_NAME"],
            Key={"token": {"S": digest}},
            UpdateExpression="SET sent_at = :now, #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression="attribute_not_exists(sent_at)",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":now": {"N": str(now)},
                                       ":ttl": {"N": str(now + CLAIM_TTL_SECONDS)}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release(digest: str) -> None:
    _client("dynamodb").update_item(
        TableName=os.environ["TABLE_NAME"], Key={"token": {"S": digest}},
        UpdateExpression="REMOVE sent_at")


def send(message: dict) -> None:
    mail = compose(message["link"], int(os.environ.get("TOKEN_TTL_SECONDS", "300")))
    _client("sesv2").send_email(
        FromEmailAddress=os.environ["SENDER"],
        Destination={"ToAddresses": [message["email"]]},
        Content={"Simple": {
            "Subject": {"Data": mail["subject"], "Charset": "UTF-8"},
            "Body": {"Text": {"Data": mail["text"], "Charset": "UTF-8"},
                     "Html": {"Data": mail["html"], "Charset": "UTF-8"}},
        }},
    )


def lambda_handler(event, context):
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        logger.warning("Dropped an event without Records")
        return {"sent": 0, "duplicates": 0, "dropped": 1}
    sent = duplicates = dropped = 0
    for index, record in enumerate(records):
        try:
            message = parse(record)
        except MalformedMessage as error:
            logger.warning("Dropped record %d: %s", index, error)
            dropped += 1
            continue
        digest = token_digest(message["token"])
        if not claim(digest):
            logger.info("Record %d: already sent, skipped a duplicate delivery", index)
            duplicates += 1
            continue
        try:
            send(message)
        except Exception:
            release(digest)  # let SNS's retry send it
            raise
        sent += 1
    logger.info("Sent %d, skipped %d duplicates, dropped %d", sent, duplicates, dropped)
    return {"sent": sent, "duplicates": duplicates, "dropped": dropped}
