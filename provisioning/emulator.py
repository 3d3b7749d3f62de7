"""What an emulated cloud cannot do by itself, done from outside: the builder's bake script.

moto runs no instance's user data, so a builder launched by ``provision_image`` would never write
its completion signal. ``BakeScriptStandIn`` watches the emulator for the stack's builder
instances and writes ``ok`` to each one's signal parameter, as the script would on a real
instance. Only for a ``moto_server`` on loopback (``make cloud``, the end-to-end test); it refuses
any other endpoint.
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit

import boto3

from provisioning import naming
from provisioning.context import RESOURCE_TAG, STACK_TAG
from provisioning.layers.image import BUILDER

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class BakeScriptStandIn(threading.Thread):
    def __init__(self, endpoint: str, stack: str, region: str, interval: float = 0.5):
        if urlsplit(endpoint).hostname not in LOOPBACK:
            raise ValueError(f"{endpoint}: the bake stand-in only talks to an emulator on loopback")
        super().__init__(daemon=True, name="bake-script-stand-in")
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                region_name=region)
        self.ec2 = session.client("ec2", endpoint_url=endpoint)
        self.ssm = session.client("ssm", endpoint_url=endpoint)
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
