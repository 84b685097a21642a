"""Facility's rules: who becomes a resident."""

from __future__ import annotations

from shared.events import RESIDENTIAL, Admitted, Modality


def becomes_resident(admitted: Admitted) -> bool:
    """Residential modalities, and methadone when it is dispensed at a facility."""
    return admitted.modality in RESIDENTIAL or (
        admitted.modality == Modality.METHADONE and admitted.facility_id is not None
    )
