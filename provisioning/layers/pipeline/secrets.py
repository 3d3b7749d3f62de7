"""The Django secret key (Secrets Manager, generated, never printed)."""
from __future__ import annotations

import secrets

from provisioning import naming
from provisioning.recipe_names import DJANGO_SECRET
from provisioning.recipes.secret import GeneratedSecret


class DjangoSecret(GeneratedSecret):
    """Generated here, stored in Secrets Manager, read by the deploy hook; never printed."""

    def __init__(self):
        super().__init__(DJANGO_SECRET, naming.django_secret, "DJANGO_SECRET_KEY (signing and HMAC key)",
                         lambda ctx: secrets.token_urlsafe(50))
