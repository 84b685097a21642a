"""`python -m services.reporting` runs the reporting service."""

from services.reporting.app import create_app
from services.reporting.settings import Settings
from shared.runtime import serve
from shared.settings import load

serve(create_app, load(Settings))
