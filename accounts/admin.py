from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.throttling import BaseThrottle

from accounts import auth_throttle
from accounts.models import User


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, counted in the same failure throttle as HTTP Basic.

    Over the limit, the form is refused before any password check (``retry_after`` is then the
    seconds to wait); a failed check counts like a failed Basic attempt from the same address.
    """

    retry_after: int | None = None

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()
        address = BaseThrottle().get_ident(self.request)
        self.retry_after = auth_throttle.retry_after(username, address)
        if self.retry_after is not None:
            raise ValidationError(
                "Too many failed sign-in attempts; try again in %(seconds)s seconds.",
                code="throttled", params={"seconds": self.retry_after},
            )
        try:
            return super().clean()
        except ValidationError:
            if self.user_cache is None:  # a wrong password, not a right one for a non-staff user
                auth_throttle.record_failure(username, address)
            raise


admin.site.login_form = ThrottledAdminAuthenticationForm


def login(request, extra_context=None):
    """The admin site's login view, answering 429 with ``Retry-After`` when the throttle refused.

    Wired in ``cloudsite.urls`` at the admin's own login path, ahead of ``admin.site.urls``.
    """
    response = admin.site.login(request, extra_context)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if isinstance(form, ThrottledAdminAuthenticationForm) and form.retry_after is not None:
        response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
        response["Retry-After"] = str(form.retry_after)
    return response


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "first_name", "last_name")


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserCreationForm
    form = UserEditForm
    list_display = ("username", "first_name", "last_name", "verified", "verified_on",
                    "account_created", "account_updated", "is_staff")
    list_filter = ("verified", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "first_name", "last_name")
    ordering = ("-account_created",)
    readonly_fields = ("id", "account_created", "account_updated", "verified_on", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Verification", {"fields": ("verified", "verified_on")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups",
                                    "user_permissions")}),
        ("Dates", {"fields": ("account_created", "account_updated", "last_login")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",),
                "fields": ("username", "first_name", "last_name", "usable_password",
                           "password1", "password2")}),
    )
