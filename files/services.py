"""Storing, replacing and removing pictures. Objects never outlive rows, rows never outlive objects.

* The new object is written first, outside any transaction (a long upload holds no lock).
* Then one short transaction (the user's row locked, so concurrent uploads queue) deletes the old
  row and inserts the new one. The old row's object is removed once that commits
  (``files.signals``), by a retrying Celery task.
* If the transaction fails, the new object is removed at once, so no object is left without a row.
"""
import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import default_storage
from django.db import transaction
from rest_framework import exceptions, status

from accounts.models import User
from files.models import Image
from files.naming import object_key, sanitise_file_name
from files.tasks import delete_stored_object
from files.validation import ImageKind

logger = logging.getLogger(__name__)


class StorageUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "storage_unavailable"
    default_detail = "The picture could not be stored right now; try again shortly."


def replace_picture(user: User, upload, kind: ImageKind) -> Image:
    file_name = sanitise_file_name(upload.name, kind.extension)
    image = Image(owner=user, file_name=file_name, size=upload.size, content_type=kind.content_type)
    upload.content_type = kind.content_type  # the stored Content-Type is what the bytes are
    try:
        image.key = default_storage.save(object_key(user.pk, image.pk, file_name), upload)
    except (BotoCoreError, ClientError, OSError) as error:
        # Nothing committed and nothing changed: the previous picture, if any, stays.
        logger.warning("storing a picture failed: %r", error)
        raise StorageUnavailable() from error
    try:
        with transaction.atomic():
            list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
            for old in Image.objects.filter(owner_id=user.pk):
                old.delete()  # its object goes after the commit
            image.save(force_insert=True)
    except BaseException:
        _discard(image.key)
        raise
    return image


def remove_picture(image: Image) -> None:
    with transaction.atomic():
        image.delete()  # its object goes after the commit


def _discard(key: str) -> None:
    try:
        delete_stored_object.delay(key)
    except Exception:  # the broker is down too: say so loudly, the key is in the log
        logger.exception("could not schedule removal of orphaned object %s", key)
