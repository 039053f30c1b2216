from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("team/", lambda r: HttpResponse("team"), name="team_home")]
