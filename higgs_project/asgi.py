"""ASGI entry point: gunicorn with the uvicorn worker, or uvicorn alone, serves this."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "higgs_project.settings")

application = get_asgi_application()
