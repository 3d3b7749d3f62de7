"""What the pipeline layer's tests build first: the network, data, image and compute layers,
applied for real in moto (with the hosted zone the compute layer finds, and a stack whose buckets
have no TLS-only policy: moto answers 403 to every object call under one). ``make_prerequisites``
makes only the names the deploy command needs, directly, for its quicker tests."""
from __future__ import annotations

import boto3

from provisioning import naming

ACCOUNT = "123456789012"
REGION = "us-east-1"
PREREQUISITE_LAYERS = ("network", "data", "image", "compute")
EMULATED_DATA = "\n[data]\ntls_only_bucket_policy = false\n"


def emulated_stack(path):
    """Turn the TLS-only bucket policy off in a test stack file (see docs/moto.md)."""
    path.write_text(path.read_text() + EMULATED_DATA)
    return path


def make_prerequisites(stack: str = "dev", region: str = REGION) -> dict:
    s3 = boto3.client("s3", region_name=region)
    bucket = naming.bucket(stack, "deploy", ACCOUNT, region)
    s3.create_bucket(Bucket=bucket)
    return {"bucket": bucket}
