"""Django's model backend; it lives here so the admin and the API share one lookup rule.

Usernames are unique through ``User.username_key`` (lower-cased), not through the ``username``
column itself, so Django's check that ``USERNAME_FIELD`` is unique (auth.W004) is silenced in
settings: ``UserManager.get_by_natural_key`` looks users up by that key.
"""
from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    pass
