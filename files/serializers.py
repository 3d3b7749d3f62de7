"""The image object, and validation of an uploaded picture."""
from rest_framework import serializers

from files import services
from files.models import Image
from files.uploads import IMAGE_FIELD, PictureTooLarge, upload_limit
from files.validation import NotAnImage, identify


class ImageSerializer(serializers.ModelSerializer):
    """The image object of the contract."""

    url = serializers.CharField(source="location", read_only=True,
                                help_text="<bucket>/<user id>/<image id>/<file_name> in S3, "
                                          "the media path locally.")
    user_id = serializers.UUIDField(source="owner_id", read_only=True)

    class Meta:
        model = Image
        fields = ["id", "file_name", "url", "upload_date", "user_id"]
        read_only_fields = fields


class ImageUploadSerializer(serializers.Serializer):
    """``image``: a PNG, JPEG, GIF or WebP picture, judged by its bytes, within the size limit."""

    image = serializers.FileField(allow_empty_file=False, use_url=False)

    def validate_image(self, upload):
        if upload.size > upload_limit():  # the parser stops earlier; this is the last line
            raise PictureTooLarge()
        return upload

    def validate(self, attrs):
        try:
            attrs["kind"] = identify(attrs[IMAGE_FIELD])
        except NotAnImage as error:
            raise serializers.ValidationError({IMAGE_FIELD: [str(error)]})
        return attrs

    def create(self, validated_data):
        return services.replace_picture(
            self.context["user"], validated_data[IMAGE_FIELD], validated_data["kind"]
        )
