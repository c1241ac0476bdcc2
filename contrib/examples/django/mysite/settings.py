"""Settings for the Portico Django example: no database, one page, static files served by
Portico."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Set DJANGO_SECRET_KEY in the environment (or in the node config's options.env.vars) for
# anything beyond trying the example.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = ["django.contrib.staticfiles"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mysite" / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# Portico's `static` path serves this directory at /static/. The URL is absolute on purpose:
# a relative STATIC_URL would get the /app script prefix, which is not where Portico serves
# it. `python3 manage.py collectstatic` copies installed apps' files here.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "static"

USE_TZ = True
