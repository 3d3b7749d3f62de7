"""A user's profile picture: one row per stored object."""
import posixpath
import uuid

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone


class Image(models.Model):
    """The profile picture. One per user; the object lives at ``key`` in the default storage.

    Deleting a row (directly, through the API, the admin or a cascade from the user) removes its
    object once the transaction commits (see ``files.signals``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="picture")
    file_name = models.CharField(max_length=255, help_text="As uploaded, sanitised.")
    key = models.CharField("storage key", max_length=512, editable=False)
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    content_type = models.CharField(max_length=32)
    upload_date = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-upload_date"]
        verbose_name = "profile picture"

    def __str__(self):
        return f"{self.file_name} ({self.owner_id})"

    @property
    def location(self) -> str:
        """Where the object lives: ``<bucket>/<key>`` in S3, the media path locally."""
        bucket = getattr(default_storage, "bucket_name", None)  # S3 storages have one
        prefix = bucket if bucket else settings.MEDIA_URL.strip("/")
        return posixpath.join(prefix, self.key)
