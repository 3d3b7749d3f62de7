from rest_framework.permissions import BasePermission


class IsVerified(BasePermission):
    """Signed in with a verified e-mail address (unauthenticated requests get 401, not 403)."""

    message = (
        "Verify your e-mail address first: follow the link we sent, or ask for a new one "
        "with POST /v1/user/self/verification."
    )

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "verified", False))
