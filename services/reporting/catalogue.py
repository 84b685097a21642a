"""The indicator catalogue, declared once: what each indicator counts, how agencies name it, what feeds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from services.reporting.domain import Group
from shared.events import Modality, Outcome, Substance, Support


class Counts(StrEnum):
    EPISODES = "episodes"  # lượt người: once per admission, discharge, support...
    PERSONS = "persons"  # người: distinct subjects
    PERCENT = "percent"


class Kind(StrEnum):
    COUNTER = "counter"  # kept as monthly totals by the projection
    SUM = "sum"  # the sum of counters
    RATIO = "ratio"  # numerator / denominator x 100
    PERSONS = "persons"  # distinct subjects admitted in the period
    FIRST_TIME = "first_time"  # distinct subjects whose first admission ever lies in the period


COUNT_LABELS = {
    Counts.EPISODES: ("lượt người", "person-times"),
    Counts.PERSONS: ("người", "persons"),
    Counts.PERCENT: ("%", "%"),
}


@dataclass(frozen=True)
class Indicator:
    """One entry of the catalogue."""

    id: str
    label_vi: str
    label_en: str
    counts: Counts
    fed_by: str
    kind: Kind = Kind.COUNTER
    targets: bool = True
    parts: tuple[str, ...] = field(default=())  # SUM: the counters added; RATIO: (numerator, denominator)


MODALITY_LABELS: dict[Modality, tuple[str, str]] = {
    Modality.COMPULSORY: ("Cai nghiện bắt buộc", "Compulsory residential treatment"),
    Modality.VOLUNTARY_FACILITY: ("Cai nghiện tự nguyện tại cơ sở", "Voluntary treatment in a facility"),
    Modality.VOLUNTARY_COMMUNITY: (
        "Cai nghiện tự nguyện tại gia đình, cộng đồng",
        "Voluntary treatment at home or in the community",
    ),
    Modality.METHADONE: ("Điều trị thay thế (Methadone)", "Opioid substitution therapy (methadone)"),
    Modality.TEMPORARY_STAY: ("Lưu trú tạm thời", "Temporary stay pending a court decision"),
    Modality.STATUS_DETERMINATION: ("Theo dõi xác định tình trạng nghiện", "Observation to determine addiction"),
}
SUBSTANCE_LABELS: dict[Substance, tuple[str, str]] = {
    Substance.ATS: ("ma túy tổng hợp (ATS)", "amphetamine-type stimulants"),
    Substance.OPIOID: ("chất dạng thuốc phiện", "opioids"),
    Substance.CANNABIS: ("cần sa", "cannabis"),
    Substance.OTHER: ("chất khác", "other substances"),
}
OUTCOME_LABELS: dict[Outcome, tuple[str, str]] = {
    Outcome.COMPLETED: ("hoàn thành", "completed"),
    Outcome.ABSCONDED: ("bỏ trốn", "absconded"),
    Outcome.TERMINATED: ("chấm dứt", "terminated"),
    Outcome.DIED: ("tử vong", "died"),
}
SUPPORT_LABELS: dict[Support, tuple[str, str]] = {
    Support.JOB_PLACEMENT: ("giới thiệu việc làm", "job placement"),
    Support.SELF_EMPLOYMENT: ("tạo việc làm, tự tạo việc làm", "self-employment"),
    Support.LOAN: ("hỗ trợ vốn vay", "loan"),
}
VOLUNTARY = (Modality.VOLUNTARY_FACILITY, Modality.VOLUNTARY_COMMUNITY)


def _admissions() -> list[Indicator]:
    by_modality = [
        Indicator(f"admissions.{m}", vi, en, Counts.EPISODES, f"admitted with modality {m}, by admitted_on, unit")
        for m, (vi, en) in MODALITY_LABELS.items()
    ]
    by_substance = [
        Indicator(
            f"admissions.primary_{s}",
            f"Lượt tiếp nhận có chất sử dụng chính là {vi}",
            f"Admissions with {en} as the primary substance",
            Counts.EPISODES,
            f"admitted whose first substance is {s}, by admitted_on, unit",
            targets=False,
        )
        for s, (vi, en) in SUBSTANCE_LABELS.items()
    ]
    return [
        *by_modality,
        Indicator(
            "admissions.total",
            "Tổng số lượt tiếp nhận cai nghiện",
            "Admissions, all modalities",
            Counts.EPISODES,
            "admitted, by admitted_on, unit",
            kind=Kind.SUM,
            parts=tuple(f"admissions.{m}" for m in Modality),
        ),
        Indicator(
            "admissions.voluntary",
            "Cai nghiện tự nguyện (tại cơ sở và tại gia đình, cộng đồng)",
            "Voluntary treatment, in facilities and in the community",
            Counts.EPISODES,
            "admitted with modality voluntary_facility or voluntary_community",
            kind=Kind.SUM,
            parts=tuple(f"admissions.{m}" for m in VOLUNTARY),
        ),
        Indicator(
            "admissions.voluntary_share_pct",
            "Tỷ lệ cai nghiện tự nguyện trên tổng số cai nghiện bắt buộc và tự nguyện",
            "Voluntary share of compulsory and voluntary admissions",
            Counts.PERCENT,
            "admitted: voluntary / (compulsory + voluntary)",
            kind=Kind.RATIO,
            targets=False,
            parts=("admissions.voluntary", "admissions.compulsory_or_voluntary"),
        ),
        Indicator(
            "admissions.compulsory_or_voluntary",
            "Cai nghiện bắt buộc và tự nguyện",
            "Compulsory and voluntary admissions",
            Counts.EPISODES,
            "admitted with modality compulsory, voluntary_facility or voluntary_community",
            kind=Kind.SUM,
            targets=False,
            parts=tuple(f"admissions.{m}" for m in (Modality.COMPULSORY, *VOLUNTARY)),
        ),
        *by_substance,
        Indicator(
            "admissions.primary_ats_pct",
            "Tỷ lệ lượt tiếp nhận sử dụng chính ma túy tổng hợp",
            "Share of admissions with ATS as the primary substance",
            Counts.PERCENT,
            "admitted: primary substance ats / all admissions",
            kind=Kind.RATIO,
            targets=False,
            parts=("admissions.primary_ats", "admissions.total"),
        ),
        Indicator(
            "persons_admitted",
            "Số người được tiếp nhận cai nghiện",
            "Persons admitted (distinct)",
            Counts.PERSONS,
            "admitted: distinct subjects admitted in the period in the unit",
            kind=Kind.PERSONS,
        ),
        Indicator(
            "first_time_entrants",
            "Số người lần đầu vào cai nghiện",
            "First-time treatment entrants (never admitted before)",
            Counts.PERSONS,
            "admitted: distinct subjects whose first admission ever lies in the period, in its unit",
            kind=Kind.FIRST_TIME,
        ),
    ]


def _discharges() -> list[Indicator]:
    fed = "completed joined with its admitted (modality, managing unit), by completed_on"
    per_modality: list[Indicator] = []
    for m, (vi, en) in MODALITY_LABELS.items():
        per_modality += [
            Indicator(f"discharges.{m}", f"Lượt ra khỏi {vi.lower()}", f"Discharges: {en}", Counts.EPISODES, fed),
            Indicator(f"completions.{m}", f"Lượt hoàn thành {vi.lower()}", f"Completions: {en}", Counts.EPISODES, fed),
            Indicator(
                f"completion_rate_pct.{m}",
                f"Tỷ lệ hoàn thành {vi.lower()}",
                f"Completion rate: {en}",
                Counts.PERCENT,
                fed,
                kind=Kind.RATIO,
                targets=False,
                parts=(f"completions.{m}", f"discharges.{m}"),
            ),
        ]
    per_outcome = [
        Indicator(
            f"discharges.outcome_{o}",
            f"Lượt kết thúc cai nghiện: {vi}",
            f"Discharges with outcome {en}",
            Counts.EPISODES,
            fed,
            targets=False,
        )
        for o, (vi, en) in OUTCOME_LABELS.items()
    ]
    return [
        Indicator(
            "discharges",
            "Tổng số lượt kết thúc cai nghiện",
            "Discharges, all outcomes",
            Counts.EPISODES,
            fed,
            kind=Kind.SUM,
            parts=tuple(f"discharges.{m}" for m in Modality),
        ),
        Indicator(
            "completions",
            "Số lượt hoàn thành cai nghiện",
            "Completions (outcome completed)",
            Counts.EPISODES,
            fed,
            kind=Kind.SUM,
            parts=tuple(f"completions.{m}" for m in Modality),
        ),
        Indicator(
            "completion_rate_pct",
            "Tỷ lệ hoàn thành cai nghiện",
            "Completion rate (completions over all discharges)",
            Counts.PERCENT,
            fed,
            kind=Kind.RATIO,
            targets=False,
            parts=("completions", "discharges"),
        ),
        *per_modality,
        *per_outcome,
        Indicator(
            "vocational_trained",
            "Số người được dạy nghề",
            "Completions with vocational training",
            Counts.EPISODES,
            "completed with outcome completed and a vocational_training trade, managing unit",
        ),
    ]


def _aftercare() -> list[Indicator]:
    by_support = [
        Indicator(
            f"employment_supported.{s}",
            f"Hỗ trợ sau cai nghiện: {vi}",
            f"Support after treatment: {en}",
            Counts.EPISODES,
            f"employed with support {s}, by employed_on, unit",
        )
        for s, (vi, en) in SUPPORT_LABELS.items()
    ]
    return [
        Indicator(
            "aftercare_intake",
            "Số người được tiếp nhận quản lý sau cai nghiện",
            "People taken into post-treatment management",
            Counts.EPISODES,
            "aftercare_opened, by opened_on, unit",
        ),
        Indicator(
            "aftercare_coverage_pct",
            "Tỷ lệ người hoàn thành cai nghiện được quản lý sau cai",
            "Share of completions taken into post-treatment management",
            Counts.PERCENT,
            "aftercare_intake / completions in the same period and unit",
            kind=Kind.RATIO,
            targets=False,
            parts=("aftercare_intake", "completions"),
        ),
        Indicator(
            "employment_supported",
            "Số người sau cai nghiện được hỗ trợ vốn, tạo việc làm",
            "People supported into work or with a loan after treatment",
            Counts.EPISODES,
            "employed, by employed_on, unit",
            kind=Kind.SUM,
            parts=tuple(f"employment_supported.{s}" for s in Support),
        ),
        *by_support,
        Indicator(
            "relapses",
            "Số người tái nghiện",
            "Relapses detected in post-treatment management",
            Counts.EPISODES,
            "relapsed, by detected_on, unit",
        ),
        Indicator(
            "relapse_rate_pct",
            "Tỷ lệ tái nghiện",
            "Relapse rate (relapses over people taken into post-treatment management)",
            Counts.PERCENT,
            "relapses / aftercare_intake in the same period and unit",
            kind=Kind.RATIO,
            targets=False,
            parts=("relapses", "aftercare_intake"),
        ),
    ]


CATALOGUE: dict[str, Indicator] = {i.id: i for i in (*_admissions(), *_discharges(), *_aftercare())}
#: The indicators the projection keeps monthly totals of; every other one is worked out from these or the facts.
COUNTERS: tuple[str, ...] = tuple(i.id for i in CATALOGUE.values() if i.kind == Kind.COUNTER)

#: The census (residents on a date) by modality, served by GET /v1/census.
CENSUS_LABELS = MODALITY_LABELS


def groups() -> list[Group]:
    """The exact additive relations between indicators of one unit and period, for complementary suppression."""
    return [Group(i.id, i.parts) for i in CATALOGUE.values() if i.kind == Kind.SUM] + [
        Group("admissions.total", tuple(f"admissions.primary_{s}" for s in Substance)),
        Group("discharges", tuple(f"discharges.outcome_{o}" for o in Outcome)),
        Group("completions", ("discharges.outcome_completed",)),
        Group("discharges.outcome_completed", ("completions",)),
    ]
