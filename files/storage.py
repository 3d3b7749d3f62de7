"""The S3 storage for pictures: django-storages' backend, streaming from Django's temporary file."""
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

MiB = 1024 * 1024


def transfer_config() -> TransferConfig:
    """Multipart above 8 MiB in 8 MiB parts.

    Parts read from a file path are read lazily from the file, so memory does not grow with the
    object; ``max_in_memory_upload_chunks`` bounds what a non-file stream may buffer (4 × 8 MiB).
    """
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=8)
    config.max_in_memory_upload_chunks = 4
    return config


class PictureS3Storage(S3Storage):
    """``S3Storage`` with botocore's standard retry mode and a file-backed multipart upload.

    django-storages uploads through ``upload_fileobj``, which makes s3transfer copy every part of a
    file object into memory. A ``TemporaryUploadedFile`` has a path, so it is handed to
    ``upload_file`` instead: each part is then read from disk while it is being sent.
    """

    def __init__(self, **options):
        options.setdefault(
            "client_config",
            Config(
                signature_version=options.get("signature_version") or "s3v4",
                s3={"addressing_style": options.get("addressing_style")},
                retries={"mode": "standard", "max_attempts": 5},
            ),
        )
        options.setdefault("transfer_config", transfer_config())
        super().__init__(**options)

    def _save(self, name, content):
        temporary_file_path = getattr(content, "temporary_file_path", None)
        if temporary_file_path is None or self.gzip:
            return super()._save(name, content)
        cleaned_name = clean_name(name)
        key = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(key, content)
        self.bucket.Object(key).upload_file(
            temporary_file_path(), ExtraArgs=params, Config=self.transfer_config
        )
        return cleaned_name
