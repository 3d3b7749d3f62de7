"""What an emulated cloud cannot do by itself, done from outside: the builder's bake script.

moto runs no instance's user data, so a builder launched by ``provision_image`` would never write
its completion signal. ``BakeScriptStandIn`` watches the emulator for the stack's builder
instances and writes ``ok`` to each one's signal parameter, as the script would on a real
instance. Only for a ``moto_server`` on loopback (``make cloud``, the end-to-end test); it refuses
any other endpoint.
"""
from __future__ import annotations

import json
import threading
from urllib.parse import urlsplit

import boto3

from provisioning import naming
from provisioning.context import RESOURCE_TAG, STACK_TAG
from provisioning.layers.image import BUILDER

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def emulator_clients(endpoint: str, region: str, *services: str):
    """boto3 clients with fake credentials for the emulator at ``endpoint``, which must be on
    loopback: the stand-ins never talk to anything else."""
    if urlsplit(endpoint).hostname not in LOOPBACK:
        raise ValueError(f"{endpoint}: the stand-ins only talk to an emulator on loopback")
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name=region)
    return [session.client(service, endpoint_url=endpoint) for service in services]


class BakeScriptStandIn(threading.Thread):
    def __init__(self, endpoint: str, stack: str, region: str, interval: float = 0.5):
        self.ec2, self.ssm = emulator_clients(endpoint, region, "ec2", "ssm")
        super().__init__(daemon=True, name="bake-script-stand-in")
        self.stack, self.interval = stack, interval
        self.signalled: set[str] = set()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(self.interval):
            for instance_id in self.live_builders():
                if instance_id not in self.signalled:
                    self.ssm.put_parameter(Name=naming.bake_signal(self.stack, instance_id),
                                           Value="ok", Type="String", Overwrite=True)
                    self.signalled.add(instance_id)

    def live_builders(self) -> list[str]:
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=[
            {"Name": f"tag:{STACK_TAG}", "Values": [self.stack]},
            {"Name": f"tag:{RESOURCE_TAG}", "Values": [BUILDER]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def stop(self):
        self._halt.set()
        self.join(timeout=10)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class LambdaStandIn(threading.Thread):
    """Runs the verification Lambda for the emulated topic, as Lambda would (moto needs Docker to
    run a function): a queue subscribed to the topic stands in for the subscription, and each
    message is handed to the handler from the deployment zip, which sends through moto's SES.
    ``on_sent(message)`` is told of each one (``make cloud`` prints the link)."""

    def __init__(self, endpoint: str, stack: str, region: str, topic_arn: str, workdir,
                 table: str, sender: str, on_sent=None, interval: float = 0.25):
        self.sqs, sns = emulator_clients(endpoint, region, "sqs", "sns")
        super().__init__(daemon=True, name="lambda-stand-in")
        self.queue_url = self.sqs.create_queue(QueueName=f"{naming.topic(stack)}-lambda-tap")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.env = {"AWS_ENDPOINT_URL": endpoint, "TABLE_NAME": table, "SENDER": sender,
                    "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing"}
        self.workdir, self.on_sent, self.interval = workdir, on_sent, interval
        self._halt = threading.Event()

    def run(self):
        import os

        from deploy.lambda_zip import import_handler

        os.environ.update(self.env)  # the handler's boto3 clients read these, as on Lambda
        handler = import_handler(self.workdir)
        while not self._halt.is_set():
            # short polls: a long one would hold the serialised emulator (cloudsite.serial_moto)
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=0)
            if not answer.get("Messages"):
                self._halt.wait(self.interval)
            for message in answer.get("Messages", []):
                envelope = json.loads(message["Body"])
                record = {"EventSource": "aws:sns", "EventVersion": "1.0",
                          "Sns": {**envelope, "Type": "Notification"}}
                result = handler.lambda_handler({"Records": [record]}, None)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                if result.get("sent") and self.on_sent:
                    self.on_sent(json.loads(envelope["Message"]))

    def stop(self):
        self._halt.set()
        self.join(timeout=10)
