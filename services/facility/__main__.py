"""`python -m services.facility` runs the facility service."""

from services.facility.app import create_app
from services.facility.settings import Settings
from shared.runtime import serve
from shared.settings import load

serve(create_app, load(Settings))
