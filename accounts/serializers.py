"""Sign-up, profile and verification-link validation."""
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts import unverified
from accounts.fields import StrictCharField, StrictEmailField
from accounts.models import User, username_key

READ_ONLY_FIELDS = ("id", "account_created", "account_updated", "verified", "verified_on")
NAME_FIELD = {"max_length": 150, "allow_blank": False}


class RejectUnknownFieldsMixin:
    """400 for keys the serializer does not know, instead of DRF's silent drop."""

    known_extra_fields: tuple = ()

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields) - set(self.known_extra_fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}
                )
        return super().validate(attrs)


def validate_password_for(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as error:
        raise serializers.ValidationError({"password": list(error.messages)})


class UserSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """The user object; at sign-up read-only fields in the body are ignored."""

    username = StrictEmailField(max_length=254)
    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False,
                               style={"input_type": "password"})
    first_name = StrictCharField(**NAME_FIELD)
    last_name = StrictCharField(**NAME_FIELD)

    class Meta:
        model = User
        fields = ("id", "username", "password", "first_name", "last_name", *READ_ONLY_FIELDS[1:])
        read_only_fields = READ_ONLY_FIELDS

    def validate_username(self, value):
        holder = User.objects.using("default").filter(username_key=username_key(value)).first()
        if holder is not None and not unverified.is_expired(holder):
            raise serializers.ValidationError("An account with this e-mail address already exists.")
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        candidate = User(username=attrs["username"], first_name=attrs["first_name"],
                         last_name=attrs["last_name"])
        validate_password_for(attrs["password"], candidate)
        return attrs

    def create(self, validated_data):
        # An account left unverified past the TTL gives its address up (accounts.unverified).
        unverified.release_address(validated_data["username"])
        return User.objects.create_user(**validated_data)


class UserUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """``PUT /v1/user/self``: names and password; username only if unchanged; nothing else."""

    known_extra_fields = ("username", *READ_ONLY_FIELDS)
    first_name = StrictCharField(required=False, **NAME_FIELD)
    last_name = StrictCharField(required=False, **NAME_FIELD)
    password = StrictCharField(required=False, write_only=True, max_length=128,
                               trim_whitespace=False, style={"input_type": "password"})

    def validate(self, attrs):
        attrs = super().validate(attrs)
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        errors = {name: ["Read-only field."] for name in READ_ONLY_FIELDS if name in data}
        if "username" in data:
            given = data["username"]
            if not isinstance(given, str) or username_key(given) != self.instance.username_key:
                errors["username"] = ["The username (e-mail address) cannot be changed."]
        if errors:
            raise serializers.ValidationError(errors)
        if not attrs:
            raise serializers.ValidationError(
                "Nothing to update: send first_name, last_name or password."
            )
        if "password" in attrs:
            validate_password_for(attrs["password"], self.instance)
        return attrs

    def update(self, user, validated_data):
        password = validated_data.pop("password", None)
        for name, value in validated_data.items():
            setattr(user, name, value)
        if password is not None:
            user.set_password(password)
        user.save()
        return user


class VerificationLinkSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    token = StrictCharField(max_length=128)


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer (for the OpenAPI schema)."""

    detail = serializers.CharField()
    errors = serializers.DictField(required=False, child=serializers.ListField())
