"""A picture row's object goes when the row goes, once the deletion is committed."""
from functools import partial

from django.db import router, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from files.models import Image
from files.tasks import delete_stored_object


def remove_object_after_commit(key: str, using: str | None = None) -> None:
    transaction.on_commit(partial(delete_stored_object.delay, key), using=using)


@receiver(post_delete, sender=Image, dispatch_uid="files.image.remove_object")
def image_deleted(sender, instance, using, **kwargs):
    remove_object_after_commit(instance.key, using=using or router.db_for_write(Image))
