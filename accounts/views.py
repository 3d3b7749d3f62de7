"""The user endpoints of ``docs/API.md``. Serializers validate; views stay thin."""
import time

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User, username_key
from accounts.serializers import (
    ErrorSerializer,
    UserSerializer,
    UserUpdateSerializer,
    VerificationLinkSerializer,
)
from accounts.throttles import SignUpThrottle, VerifyThrottle
from accounts.verification import send_link, token_store
from accounts.verification.tokens import TokenState


def errors(*codes):
    """OpenAPI responses for the error codes an endpoint really answers."""
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


AUTH_ERRORS = (401, 403, 405, 413, 429)


class SignUpView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [SignUpThrottle]

    @extend_schema(
        request=UserSerializer,
        responses={201: UserSerializer, **errors(400, 405, 413, 429)},
        summary="Create an account; a verification e-mail is sent.",
    )
    def post(self, request):
        serializer = UserSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                user = serializer.save()
                send_link(user)
        except IntegrityError:  # a concurrent sign-up with the same address won the race
            raise exceptions.ValidationError(
                {"username": ["An account with this e-mail address already exists."]}
            )
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class SelfView(APIView):
    @extend_schema(responses={200: UserSerializer, **errors(*AUTH_ERRORS)})
    def get(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        request=UserUpdateSerializer,
        responses={204: None, **errors(400, *AUTH_ERRORS)},
        summary="Update first_name, last_name or password.",
    )
    def put(self, request):
        serializer = UserUpdateSerializer(request.user, data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(status=status.HTTP_204_NO_CONTENT)


class VerifyView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [VerifyThrottle]

    @extend_schema(
        parameters=[VerificationLinkSerializer],
        responses={
            200: inline_serializer("Verified", {"verified": serializers.BooleanField()}),
            **errors(400, 405, 429),
        },
        summary="Follow the link from the verification e-mail.",
    )
    def get(self, request):
        link = VerificationLinkSerializer(data=request.query_params)
        link.is_valid(raise_exception=True)
        email, token = link.validated_data["email"], link.validated_data["token"]
        store = token_store()
        with transaction.atomic():
            user = User.objects.using("default").select_for_update().filter(
                username_key=username_key(email)
            ).first()
            if user is not None and store.consume(email, token):
                user.mark_verified()
                return Response({"verified": True})
            if user is not None and user.verified and store.check(email, token) == TokenState.USED:
                return Response({"verified": True})
        raise exceptions.ValidationError(
            {"token": ["This verification link is unknown, expired or superseded."]}
        )


class ResendVerificationView(APIView):
    permission_classes = [IsAuthenticated]  # the one call an unverified account may make

    @extend_schema(
        request=None,
        responses={202: ErrorSerializer, **errors(400, 401, 405, 413, 429)},
        summary="Send a fresh verification link; older links stop working.",
    )
    def post(self, request):
        user = request.user
        if user.verified:
            raise exceptions.ValidationError("This account is already verified.")
        wait = _resend_cooldown(user)
        if wait:
            raise exceptions.Throttled(wait=wait, detail="A link was sent recently; try again later.")
        with transaction.atomic():
            send_link(user)
        return Response({"detail": "A new verification link was sent."}, status=status.HTTP_202_ACCEPTED)


def _resend_cooldown(user: User) -> int:
    """Seconds left in the cool-down; 0 (and the cool-down started) when a resend may go."""
    cooldown = settings.VERIFICATION_RESEND_COOLDOWN
    if cooldown <= 0:
        return 0
    key = f"verification-resend:{user.pk}"
    now = time.time()
    if cache.add(key, now, timeout=cooldown):
        return 0
    sent_at = cache.get(key, now)
    return max(1, int(cooldown - (now - sent_at)) + 1)
