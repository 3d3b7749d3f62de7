"""``[database] deletion_protection``: the database and the token table may have their deletion
protection switched off, to be deleted, only by ``teardown --allow-prod-data``."""
from __future__ import annotations

from provisioning.errors import StackError

PROTECTED_HINT = ("[database] deletion_protection is on for this stack; run teardown with "
                  "--allow-prod-data to delete its data")


def allow_unprotecting(ctx, what: str) -> None:
    """Refuse (one line saying how to go on) unless this run may switch ``what``'s protection off."""
    if not ctx.options.allow_prod_data:
        raise StackError(f"{what} has deletion protection; {PROTECTED_HINT}")
