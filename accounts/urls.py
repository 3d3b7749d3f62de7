from django.urls import path

from accounts import views

urlpatterns = [
    path("user", views.SignUpView.as_view(), name="user-create"),
    path("user/self", views.SelfView.as_view(), name="user-self"),
    path("user/verify", views.VerifyView.as_view(), name="user-verify"),
    path("user/self/verification", views.ResendVerificationView.as_view(), name="user-resend"),
]
