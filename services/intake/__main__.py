"""`python -m services.intake` runs the intake service."""

from services.intake.app import create_app
from services.intake.settings import Settings
from shared.runtime import serve
from shared.settings import load

serve(create_app, load(Settings))
