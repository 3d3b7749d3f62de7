"""Storage configuration for profile pictures, built from plain values (imported by settings).

Kept free of Django and boto3 imports so that ``cloudsite.settings`` can use it.
"""


def s3_storage(bucket: str, region: str, kms_key_id: str = "", url_ttl: int = 300) -> dict:
    """The ``STORAGES["default"]`` entry for the S3 mode.

    Objects are private (no ACL is ever sent: the bucket owner enforces ownership), encrypted with
    SSE-KMS (the configured key, else the account's ``aws/s3`` key), signed with SigV4. No
    ``endpoint_url`` is set on purpose: boto3 then honours the standard ``AWS_ENDPOINT_URL`` /
    ``AWS_ENDPOINT_URL_S3`` variables, as every other client in the process does.
    """
    object_parameters = {"ServerSideEncryption": "aws:kms"}
    if kms_key_id:
        object_parameters["SSEKMSKeyId"] = kms_key_id
    return {
        "BACKEND": "files.storage.PictureS3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "region_name": region,
            "default_acl": None,
            "object_parameters": object_parameters,
            "signature_version": "s3v4",
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": url_ttl,
        },
    }
