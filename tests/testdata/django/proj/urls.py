import json

from django.http import HttpResponse
from django.urls import path, reverse


def hello(request):
    body = {
        "reverse": reverse("hello"),
        "absolute": request.build_absolute_uri(reverse("hello")),
        "path": request.path,
        "path_info": request.path_info,
        "script_name": request.META.get("SCRIPT_NAME"),
    }
    return HttpResponse(json.dumps(body), content_type="application/json")


urlpatterns = [
    path("hello/", hello, name="hello"),
]
