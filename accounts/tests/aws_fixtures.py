"""moto-backed AWS fixtures for the verification flow (in-process ``mock_aws``)."""
import json

import boto3
import pytest
from moto import mock_aws

from accounts import aws, verification

TABLE = "cloudsite-test-verification"


def make_table(dynamodb, name=TABLE):
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "token", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "token", "KeyType": "HASH"}])
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "ttl"})


def make_topic_with_queue(sns, sqs, name="cloudsite-test-verification"):
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name + "-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


def drain(sqs, queue_url, wait=0):
    """The SNS messages (decoded ``Message`` JSON) waiting in the tap queue."""
    answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                 WaitTimeSeconds=wait)
    return [json.loads(json.loads(m["Body"])["Message"]) for m in answer.get("Messages", [])]


def reset_clients():
    aws.client.cache_clear()
    verification._load.cache_clear()


@pytest.fixture
def aws_verification(settings):
    """DynamoDB token store and SNS dispatcher, on moto, with a queue tapping the topic."""
    with mock_aws():
        reset_clients()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        make_table(dynamodb)
        topic, queue_url = make_topic_with_queue(sns, sqs)
        settings.AWS_REGION = "us-east-1"
        settings.VERIFICATION_TABLE = TABLE
        settings.VERIFICATION_TOPIC_ARN = topic
        settings.VERIFICATION_TOKEN_STORE = "accounts.verification.dynamodb_store.DynamoDBTokenStore"
        settings.VERIFICATION_DISPATCHER = "accounts.verification.sns_dispatch.SNSDispatcher"
        yield {"dynamodb": dynamodb, "sns": sns, "sqs": sqs, "topic": topic,
               "queue_url": queue_url}
        reset_clients()
