"""What a batch adds to `daily_totals`: a row per unit, day and known date, each figure at ward, province and VN."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.reporting.models import DAILY_FIGURES
from shared import units
from shared.events import Modality, Outcome, Substance

RowKey = tuple[str, date, date]  # unit, day, known_on
#: A row is its key then its figures, as `daily_totals` has them: ready to be copied as it is.
_KEY = 3
_POSITION = {figure: _KEY + n for n, figure in enumerate(DAILY_FIGURES)}
_ZEROS = [0] * len(DAILY_FIGURES)


@dataclass
class Contributions:
    """What one batch adds to `daily_totals`: a row (unit, day, known date, then the figures in `DAILY_FIGURES` order)
    per unit, day and known date, each figure counted in its ward, its province and VN at once."""

    rows: dict[RowKey, list[Any]] = field(default_factory=dict)

    def _levels(self, ward: str, day: date, known: date) -> list[list[Any]]:
        levels = []
        for unit in units.rollup(ward):
            row = self.rows.get((unit, day, known))
            if row is None:
                row = self.rows[(unit, day, known)] = [unit, day, known, *_ZEROS]
            levels.append(row)
        return levels

    def split(self, parts: int) -> list[Contributions]:
        """Disjoint shares of the rows, to be written on as many connections at once without waiting on each other's
        row locks."""
        shares = [Contributions() for _ in range(parts)]
        for key, values in self.rows.items():
            shares[hash(key) % parts].rows[key] = values
        return shares

    def count(self, figure: str, ward: str, day: date, known: date) -> None:
        position = _POSITION[figure]
        for row in self._levels(ward, day, known):
            row[position] += 1

    def admission(self, ward: str, day: date, known: date, modality: str, substance: str) -> None:
        added = _ADMISSION[modality, substance]
        for values in self._levels(ward, day, known):
            for position in added:
                values[position] += 1

    def discharge(self, ward: str, day: date, known: date, modality: str, outcome: str, vocational: bool) -> None:
        """An episode whose admission and end are both known now; `known`: the later of the two dates."""
        added = _DISCHARGE[modality, outcome, vocational]
        resident = _POSITION[f"residents.{modality}"]
        for values in self._levels(ward, day, known):
            for position in added:
                values[position] += 1
            values[resident] -= 1


#: The figures an admission adds to, by modality and primary substance.
_ADMISSION = {
    (m.value, s.value): (
        _POSITION[f"admissions.{m}"],
        _POSITION[f"admissions.primary_{s}"],
        _POSITION[f"residents.{m}"],
    )
    for m in Modality
    for s in Substance
}
#: The figures a discharge adds to, by modality, outcome and vocational training (besides one resident less).
_DISCHARGE = {
    (m.value, o.value, vocational): (
        _POSITION[f"discharges.{m}"],
        _POSITION[f"discharges.outcome_{o}"],
        *((_POSITION[f"completions.{m}"],) if o == Outcome.COMPLETED else ()),
        *((_POSITION["vocational_trained"],) if o == Outcome.COMPLETED and vocational else ()),
    )
    for m in Modality
    for o in Outcome
    for vocational in (False, True)
}
