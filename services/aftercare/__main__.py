"""`python -m services.aftercare` runs the aftercare service."""

from services.aftercare.app import create_app
from services.aftercare.settings import Settings
from shared.runtime import serve
from shared.settings import load

serve(create_app, load(Settings))
