from django.shortcuts import render


def index(request):
    return render(request, "index.html", {"page": "Home"})


def about(request):
    # SCRIPT_NAME is the mount path Portico sends (/app), PATH_INFO the rest.
    return render(
        request,
        "about.html",
        {
            "page": "About",
            "script_name": request.META.get("SCRIPT_NAME", ""),
            "path_info": request.path_info,
        },
    )
