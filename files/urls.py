from django.urls import path

from files import views

urlpatterns = [
    path("user/self/pic", views.PictureView.as_view(), name="user-pic"),
    path("user/self/pic/download", views.PictureDownloadView.as_view(), name="user-pic-download"),
]
