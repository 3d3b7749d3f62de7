"""The user: UUID id, the e-mail address as username (unique ignoring case), verification state."""
import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


def username_key(username: str) -> str:
    """The case-insensitive identity of a username (e-mail address)."""
    return username.strip().lower()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(username_key=username_key(username))

    def create_user(self, username, password=None, **fields):
        user = self.model(username=username, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True, verified=True)
        fields.setdefault("verified_on", timezone.now())
        return self.create_user(username, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.EmailField("e-mail address", max_length=254)
    # Lower-cased username with the unique index: portable case-insensitive uniqueness (MariaDB
    # has no functional indexes, SQLite compares case-sensitively).
    username_key = models.CharField(max_length=254, unique=True, editable=False)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    account_created = models.DateTimeField(auto_now_add=True)
    account_updated = models.DateTimeField(auto_now=True)
    verified = models.BooleanField(default=False)
    verified_on = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "username"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        ordering = ["account_created"]

    def __str__(self):
        return self.username

    def save(self, *args, **kwargs):
        self.username_key = username_key(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "username_key", "account_updated"}
        super().save(*args, **kwargs)

    def mark_verified(self):
        if not self.verified:
            self.verified = True
            self.verified_on = timezone.now()
            self.save(update_fields=["verified", "verified_on"])


class VerificationToken(models.Model):
    """A verification link's token (its SHA-256 digest) for the embedded token store."""

    digest = models.CharField(max_length=64, unique=True)
    email_key = models.CharField(max_length=254, db_index=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
