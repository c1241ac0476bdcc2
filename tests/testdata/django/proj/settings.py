# Minimal Django settings for the mount test: no database, one app-less URLconf.
SECRET_KEY = "portico-e2e-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "proj.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
USE_TZ = True
