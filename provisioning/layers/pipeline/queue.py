"""SQS: Celery's broker queue with its dead-letter queue, and the verification Lambda's failure
queue."""
from __future__ import annotations

import json

from provisioning import naming
from provisioning.errors import absent_on, tolerate
from provisioning.layers.pipeline.arns import failure_queue_arn, queue_arn
from provisioning.recipe_names import DEAD_LETTER, FAILURE_QUEUE, QUEUE
from provisioning.resource import Drift, Resource

MAX_RECEIVE_COUNT = 5


class Queue(Resource):
    service, kind = "sqs", "SQS queue"

    def __init__(self, dead_letter: bool):
        self.dead_letter = dead_letter
        self.name = DEAD_LETTER if dead_letter else QUEUE
        self.depends_on = () if dead_letter else (DEAD_LETTER,)

    def queue_name(self, ctx) -> str:
        return naming.queue(ctx.stack, self.dead_letter)

    def attributes(self, ctx) -> dict[str, str]:
        if self.dead_letter:  # kept two weeks, for a person to look at
            return {"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"}
        return {
            # Celery (acks late): a task not acknowledged within this is delivered again; longer
            # than any task runs, including its retries' countdowns.
            "VisibilityTimeout": "3600", "MessageRetentionPeriod": "345600",
            "ReceiveMessageWaitTimeSeconds": "20", "SqsManagedSseEnabled": "true",
            # A message whose worker died this many times goes to the dead-letter queue.
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(ctx, dead_letter=True),
                                         "maxReceiveCount": MAX_RECEIVE_COUNT}, sort_keys=True),
        }

    @staticmethod
    def _normal(key: str, value: str | None):
        if key == "RedrivePolicy" and value:
            policy = json.loads(value)
            return {k: str(v) for k, v in policy.items()}
        return value

    def find_all(self, ctx, deps):
        sqs = ctx.client("sqs")
        url = absent_on(lambda: sqs.get_queue_url(QueueName=self.queue_name(ctx))["QueueUrl"],
                        "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
        if url is None:
            return []
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return [{"id": url, "url": url, "arn": attributes["QueueArn"],
                 "attributes": {k: attributes.get(k) for k in self.attributes(ctx)}}]

    def create(self, ctx, deps):
        sqs, want = ctx.client("sqs"), self.attributes(ctx)
        url = sqs.create_queue(QueueName=self.queue_name(ctx), Attributes=want,
                               tags=ctx.tag_dict(self.name))["QueueUrl"]
        return {"id": url, "url": url, "arn": queue_arn(ctx, self.dead_letter), "attributes": want}

    def drift(self, ctx, state, deps):
        want = self.attributes(ctx)
        return [Drift(key, state["attributes"].get(key), value) for key, value in sorted(want.items())
                if self._normal(key, state["attributes"].get(key)) != self._normal(key, value)]

    def reconcile(self, ctx, state, drift, deps):
        want = self.attributes(ctx)
        ctx.client("sqs").set_queue_attributes(QueueUrl=state["url"],
                                               Attributes={d.setting: want[d.setting] for d in drift})
        return {**state, "attributes": want}

    def delete(self, ctx, state):
        with tolerate("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            ctx.client("sqs").delete_queue(QueueUrl=state["url"])

    def outputs(self, state):
        return {"queue-url": state["url"]}


class FailureQueue(Queue):
    """The verification Lambda's on-failure destination: events SES refused after Lambda's retries
    (a sandboxed recipient, a throttle) wait here two weeks for a person, instead of being lost.
    SQS-managed SSE: Lambda's delivery needs no KMS permission."""

    def __init__(self):
        self.dead_letter, self.name, self.depends_on = True, FAILURE_QUEUE, ()

    def queue_name(self, ctx) -> str:
        return naming.lambda_failure_queue(ctx.stack)

    def attributes(self, ctx) -> dict[str, str]:
        return {"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"}

    def create(self, ctx, deps):
        return {**super().create(ctx, deps), "arn": failure_queue_arn(ctx)}
