"""Serializer fields that reject values of the wrong JSON type instead of coercing them."""
from rest_framework import serializers


class StrictTypeMixin:
    default_error_messages = {"not_a_string": "Must be a string, not {kind}."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string", kind=type(data).__name__)
        return super().to_internal_value(data)


class StrictCharField(StrictTypeMixin, serializers.CharField):
    pass


class StrictEmailField(StrictTypeMixin, serializers.EmailField):
    pass
