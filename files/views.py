"""The ``…/self/pic`` endpoints of ``docs/API.md``, and the download link. Views stay thin."""
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView
from storages.backends.s3 import S3Storage

from accounts.views import AUTH_ERRORS, errors
from files import services
from files.models import Image
from files.serializers import ImageSerializer, ImageUploadSerializer
from files.uploads import IMAGE_FIELD, PictureUploadParser, check_content_length


class NoPicture(exceptions.NotFound):
    default_detail = "There is no profile picture."


def own_picture(user) -> Image:
    image = Image.objects.filter(owner_id=user.pk).first()
    if image is None:
        raise NoPicture()
    return image


class PictureView(APIView):
    parser_classes = [PictureUploadParser]
    # The picture's limit (FILES_UPLOAD_MAX_BYTES, files.uploads) replaces the site-wide multipart
    # cap of cloudsite.middleware.RequestBodyLimitMiddleware here.
    own_multipart_limit = True

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":
            check_content_length(request)  # 413 before anything reads the body
        super().initial(request, *args, **kwargs)

    @extend_schema(responses={200: ImageSerializer, **errors(404, *AUTH_ERRORS)},
                   summary="The profile picture.")
    def get(self, request):
        return Response(ImageSerializer(own_picture(request.user)).data)

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer},
        responses={201: ImageSerializer, **errors(400, 413, 503, *AUTH_ERRORS)},
        summary="Upload the profile picture (PNG, JPEG, GIF or WebP); replaces any previous one.",
    )
    def post(self, request):
        try:
            data = request.data
        except exceptions.UnsupportedMediaType:
            raise exceptions.ValidationError(
                {IMAGE_FIELD: ["Send the picture as multipart/form-data, in a part named 'image'."]}
            )
        serializer = ImageUploadSerializer(data=data, context={"user": request.user})
        serializer.is_valid(raise_exception=True)
        image = serializer.save()
        return Response(ImageSerializer(image).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(404, *AUTH_ERRORS)},
                   summary="Delete the profile picture and its stored object.")
    def delete(self, request):
        services.remove_picture(own_picture(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PictureDownloadView(APIView):
    @extend_schema(
        responses={
            (200, "image/*"): OpenApiResponse(description="The picture, streamed (file-system mode)."),
            302: OpenApiResponse(description="Redirect to a short-lived presigned S3 URL (S3 mode)."),
            **errors(404, *AUTH_ERRORS),
        },
        summary="Download the profile picture.",
    )
    def get(self, request):
        image = own_picture(request.user)
        disposition = content_disposition_header(False, image.file_name)
        if isinstance(default_storage, S3Storage):
            url = default_storage.url(
                image.key,
                parameters={"ResponseContentDisposition": disposition,
                            "ResponseContentType": image.content_type},
                expire=settings.FILES_DOWNLOAD_URL_TTL,
            )
            response = HttpResponseRedirect(url)
        else:
            try:
                stream = default_storage.open(image.key, "rb")
            except FileNotFoundError:
                raise exceptions.NotFound("The stored picture is missing.")
            response = FileResponse(stream, content_type=image.content_type)
            response["Content-Disposition"] = disposition
            response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
