"""Reporting's routes, in process: what each refuses and with which answer, and what the figures say once events
are consumed into the views (as the service's consumer does, without the broker).

The views live as long as the session's schema: each test counts in wards of its own (`a_ward`), and reads a
province or the country as the difference its own events make."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, date, datetime
from typing import Any

import httpx
import openpyxl

from services.reporting.catalogue import CATALOGUE
from shared import units
from shared.events import Event, Modality
from tests.api.conftest import Api
from tests.builders import HANOI_WARD, a_completion, a_subject, an_admission, an_event

DANANG = "48"
HANOI = "01"
PLAN = "Kế hoạch số 1009/KH-UBND"
NOT_A_UNIT = "unit is not VN, a current province code (2 digits) or a current ward code (5 digits)"
NO_INDICATOR = "no indicator has that indicator_id; see GET /v1/catalogue"

_counted_in: set[str] = set()


def a_ward(province: str = HANOI) -> str:
    """A ward of `province` that no other test of this session counts in."""
    ward = secrets.choice([w for w in units.wards_of(province) if w not in _counted_in])
    _counted_in.add(ward)
    return ward


def admitted(
    ward: str,
    modality: str = "voluntary_community",
    on: date = date(2024, 3, 1),
    facility_id: str = "hn-cs3",
    time: datetime | None = None,
) -> Event:
    """An admission in `ward`, as intake announces it (recorded now unless `time` says when)."""
    residential = modality in ("compulsory", "voluntary_facility", "temporary_stay", "status_determination")
    data = an_admission(
        modality=modality,
        admitted_on=on,
        unit=ward,
        facility_id=facility_id if residential else None,
        legal_basis="Quyết định 12/QĐ-TA" if modality == "compulsory" else None,
    )
    return an_event(data, a_subject(), time=time)


def ended(admission: Event, on: date = date(2024, 9, 1), outcome: str = "completed") -> Event:
    data = admission.data
    end = a_completion(episode_id=data.episode_id, completed_on=on, outcome=outcome, return_unit=data.unit)  # type: ignore[union-attr]
    return an_event(end, admission.subject)


async def read(reporting: Api, path: str, headers: dict[str, str] | None = None, /, **params: Any) -> httpx.Response:
    return await reporting.client.get(path, params=params, headers=headers or reporting.as_operator())


async def value(reporting: Api, indicator_id: str, unit: str, period: str = "2024", **params: Any) -> Any:
    answer = await read(reporting, f"/v1/indicators/{indicator_id}", unit=unit, period=period, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


async def values(reporting: Api, indicator_id: str, *unit_list: str, period: str = "2024") -> list[Any]:
    return [await value(reporting, indicator_id, u, period) for u in unit_list]


def table(answer: httpx.Response) -> list[dict[str, str]]:
    """A CSV answer's rows by column header (a byte-order mark, if any, is not part of the first header)."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv"), answer.headers["content-type"]
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def a_target(unit: str, **overrides: Any) -> dict[str, Any]:
    return {
        "indicator_id": "admissions.voluntary_community",
        "unit": unit,
        "period": "2024",
        "value": 3,
        "source_document": f"{PLAN} ({secrets.token_hex(4)})",
    } | overrides


def fields(answer: httpx.Response) -> list[list[str]]:
    return [e["loc"] for e in answer.json()["detail"]]


READS = [
    ("/v1/indicators", {"period": "2024"}),
    ("/v1/indicators/admissions.total", {"period": "2024"}),
    ("/v1/indicators/admissions.total/units", {"period": "2024"}),
    ("/v1/census", {"on": "2024-06-14"}),
    ("/v1/discharges", {"period": "2024"}),
]


async def test_every_route_but_the_dashboard_asks_for_a_valid_token(reporting: Api) -> None:
    routes = [("GET", path) for path, _ in READS] + [("GET", "/v1/catalogue"), ("GET", "/v1/units")]
    for method, path in [*routes, ("PUT", "/v1/targets")]:
        for headers, detail in [
            ({}, "a bearer token is required"),
            ({"Authorization": "Bearer not-a-token"}, "the bearer token is not valid"),
        ]:
            answer = await reporting.client.request(method, path, json={}, headers=headers)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json() == {"detail": detail}, (method, path)


async def test_the_dashboard_is_a_page_anyone_may_load(reporting: Api) -> None:
    answer = await reporting.client.get("/dashboard")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html" in answer.text.lower()


async def test_every_route_this_module_covers_is_in_the_openapi(reporting: Api) -> None:
    paths = (await reporting.client.get("/openapi.json")).json()["paths"]

    listed = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert {
        ("GET", "/v1/indicators"),
        ("GET", "/v1/indicators/{indicator_id}"),
        ("GET", "/v1/indicators/{indicator_id}/units"),
        ("GET", "/v1/census"),
        ("GET", "/v1/discharges"),
        ("PUT", "/v1/targets"),
        ("GET", "/v1/catalogue"),
        ("GET", "/v1/units"),
        ("GET", "/dashboard"),
    } <= listed


async def test_an_unknown_query_parameter_is_refused_naming_what_the_route_takes(reporting: Api) -> None:
    reads = {"unit", "period", "format", "lang", "as_of"}
    for path, params, takes in [
        ("/v1/indicators", {"unit": "VN", "period": "2024", "asof": "2024-01-01"}, reads | {"suppress"}),
        ("/v1/indicators/admissions.total", {"unit": "VN", "period": "2024", "unti": "01"}, reads | {"suppress"}),
        ("/v1/indicators/admissions.total/units", {"unit": "VN", "period": "2024", "supress": "1"}, reads),
        ("/v1/census", {"unit": "VN", "on": "2024-06-14", "date": "x"}, {"unit", "facility", "on", "suppress"}),
        ("/v1/discharges", {"unit": "VN", "period": "2024", "suppress": "true"}, reads),
        ("/v1/catalogue", {"lang": "vi"}, set()),
        ("/v1/units", {"unit": "VN"}, {"within"}),
    ]:
        answer = await read(reporting, path, **params)
        assert answer.status_code == 422, (path, answer.text)
        [error] = answer.json()["detail"]
        assert (error["loc"], error["type"]) == (["query"], "extra"), path
        prefix, _, taken = error["msg"].partition("; this endpoint takes: ")
        assert prefix == "unknown query parameter", path
        assert takes <= set(taken.split(", ")) if takes else taken == "none", (path, taken)
    put = await reporting.client.put(
        "/v1/targets", params={"dry": "1"}, json=a_target("VN"), headers=reporting.as_operator()
    )
    assert put.status_code == 422 and fields(put) == [["query"]]


async def test_a_unit_outside_the_callers_jurisdiction_is_refused_on_every_route(reporting: Api) -> None:
    danang = await reporting.token(DANANG, agency="danang-police")
    refused = {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang-police"}

    for path, params in READS:
        answer = await read(reporting, path, danang, unit=HANOI if path.endswith("/units") else HANOI_WARD, **params)
        assert answer.status_code == 403, (path, answer.text)
        if not path.endswith("/units"):
            assert answer.json() == refused, path
    within = await read(reporting, "/v1/units", danang, within=HANOI)
    target = await reporting.client.put("/v1/targets", json=a_target(HANOI_WARD), headers=danang)

    assert within.status_code == 403 and within.json() == {
        "detail": "unit 01 is outside the jurisdiction of danang-police"
    }
    assert target.status_code == 403 and target.json() == refused


async def test_a_province_reads_itself_and_its_wards_but_not_the_country(reporting: Api) -> None:
    danang = await reporting.token(DANANG, agency="danang-police")
    ward = a_ward(DANANG)

    own = [
        await read(reporting, "/v1/indicators/admissions.total", danang, unit=u, period="2024") for u in (ward, DANANG)
    ]
    country = await read(reporting, "/v1/indicators/admissions.total", danang, unit="VN", period="2024")
    breakdown = await read(reporting, "/v1/indicators/admissions.total/units", danang, unit="VN", period="2024")

    assert [a.status_code for a in own] == [200, 200]
    assert (country.status_code, breakdown.status_code) == (403, 403)
    assert country.json() == {"detail": "unit VN is outside the jurisdiction of danang-police"}


async def test_a_malformed_unit_is_refused_saying_what_is_wrong_never_echoing_it(reporting: Api) -> None:
    for unit, detail in [
        ("99999", NOT_A_UNIT),
        ("ABC", NOT_A_UNIT),
        ("30", "unit is a province code from before 1 July 2025; it is now part of 31"),
        ("00001", "unit is a ward code from before 1 July 2025; it is now part of ward 00097"),
    ]:
        for path, params in READS:
            answer = await read(reporting, path, unit=unit, **params)
            assert answer.status_code == 400, (unit, path, answer.text)
            assert answer.json() == {"detail": detail}, (unit, path)
        target = await reporting.client.put("/v1/targets", json=a_target(unit), headers=reporting.as_operator())
        assert target.status_code == 400 and target.json() == {"detail": detail}, unit
    within = await read(reporting, "/v1/units", within="99999")
    too_long = await read(reporting, "/v1/indicators", unit="123456789", period="2024")

    assert within.status_code == 400
    assert within.json() == {"detail": NOT_A_UNIT.replace("unit", "within", 1)}
    assert "99999" not in within.text
    assert too_long.status_code == 422 and fields(too_long) == [["query", "unit"]]


async def test_a_malformed_period_is_refused_saying_why(reporting: Api) -> None:
    for period, detail in [
        ("2024-13", "period names a month that does not exist"),
        ("2024-H3", "period is not YYYY, YYYY-Hn, YYYY-Qn or YYYY-MM"),
        ("last year", "period is not YYYY, YYYY-Hn, YYYY-Qn or YYYY-MM"),
        ("1800", "period is before 1900"),
        ("2020/2016", "period ends before it starts"),
    ]:
        for path in ("/v1/indicators", "/v1/indicators/admissions.total", "/v1/indicators/admissions.total/units"):
            answer = await read(reporting, path, unit="VN", period=period)
            assert (answer.status_code, answer.json()) == (400, {"detail": detail}), (period, path)
        discharges = await read(reporting, "/v1/discharges", unit="VN", period=period)
        target = await reporting.client.put(
            "/v1/targets", json=a_target("VN", period=period), headers=reporting.as_operator()
        )
        assert (discharges.status_code, discharges.json()) == (400, {"detail": detail}), period
        assert (target.status_code, target.json()) == (400, {"detail": detail}), period


async def test_a_date_is_written_yyyy_mm_dd(reporting: Api) -> None:
    for params, field in [
        ({"unit": "VN", "on": "14/06/2024"}, ["query", "on"]),
        ({"unit": "VN", "on": "2024-02-30"}, ["query", "on"]),
        ({"unit": "VN"}, ["query", "on"]),
        ({"unit": "VN", "on": "2024-06-14", "as_of": "0"}, ["query", "as_of"]),
    ]:
        answer = await read(reporting, "/v1/census", **params)
        assert answer.status_code == 422, (params, answer.text)
        assert fields(answer) == [field], params
    as_of = await read(reporting, "/v1/indicators", unit="VN", period="2024", as_of="2024-6-1")
    assert as_of.status_code == 422 and fields(as_of) == [["query", "as_of"]]


async def test_an_unknown_indicator_is_not_found(reporting: Api) -> None:
    for path in ("/v1/indicators/admissions.everything", "/v1/indicators/admissions.everything/units"):
        answer = await read(reporting, path, unit="VN", period="2024")
        assert (answer.status_code, answer.json()) == (404, {"detail": NO_INDICATOR}), path
    target = await reporting.client.put(
        "/v1/targets", json=a_target("VN", indicator_id="admissions.everything"), headers=reporting.as_operator()
    )
    assert (target.status_code, target.json()) == (404, {"detail": NO_INDICATOR})


async def test_a_format_or_language_not_offered_is_refused(reporting: Api) -> None:
    for path, params, field in [
        ("/v1/indicators", {"format": "pdf"}, "format"),
        ("/v1/indicators/admissions.total", {"format": "xlsx"}, "format"),
        ("/v1/indicators/admissions.total/units", {"format": "xlsx"}, "format"),
        ("/v1/discharges", {"lang": "fr"}, "lang"),
    ]:
        answer = await read(reporting, path, unit="VN", period="2024", **params)
        assert answer.status_code == 422, (path, answer.text)
        assert fields(answer) == [["query", field]], path


async def test_admissions_count_for_their_ward_its_province_and_the_country(reporting: Api) -> None:
    ward, other_ward = a_ward(), a_ward()
    indicator = "admissions.voluntary_community"
    before = await values(reporting, indicator, HANOI, "VN")

    applied = await reporting.consume_into_views(
        admitted(ward), admitted(ward), admitted(other_ward), admitted(ward, "methadone")
    )

    assert len(applied) == 4
    assert await values(reporting, indicator, ward, other_ward) == [2, 1]
    assert await values(reporting, "admissions.total", ward) == [3]
    assert await values(reporting, "admissions.methadone", ward) == [1]
    after = await values(reporting, indicator, HANOI, "VN")
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 3]


async def test_an_event_delivered_twice_counts_once(reporting: Api) -> None:
    ward = a_ward()
    admission = admitted(ward)

    first = await reporting.consume_into_views(admission)
    again = await reporting.consume_into_views(admission)

    assert (len(first), again) == (1, [])
    assert await values(reporting, "admissions.voluntary_community", ward) == [1]


async def test_a_completion_counts_as_a_discharge_of_the_ward_that_admitted(reporting: Api) -> None:
    ward = a_ward()
    done, left, staying = admitted(ward), admitted(ward), admitted(ward, on=date(2024, 4, 1))

    await reporting.consume_into_views(done, left, staying)
    await reporting.consume_into_views(ended(done), ended(left, date(2024, 5, 1), "absconded"))

    assert await values(reporting, "discharges.voluntary_community", ward) == [2]
    assert await values(reporting, "completions.voluntary_community", ward) == [1]
    assert await values(reporting, "completion_rate_pct", ward) == [50.0]
    discharges = await read(reporting, "/v1/discharges", unit=ward, period="2024")
    assert discharges.status_code == 200, discharges.text
    assert [(r["modality"], r["outcome"], r["discharges"], r["median_days"]) for r in discharges.json()["rows"]] == [
        ("voluntary_community", "absconded", 1, 61.0),
        ("voluntary_community", "completed", 1, 184.0),
    ]
    [community] = [m for m in discharges.json()["by_modality"] if m["modality"] == "voluntary_community"]
    assert community == {
        "modality": "voluntary_community",
        "discharges": 2,
        "completions": 1,
        "completion_rate_pct": 50.0,
        "median_days_completed": 184.0,
    }


async def test_a_completion_before_its_admission_waits_for_it(reporting: Api) -> None:
    ward = a_ward()
    admission = admitted(ward)

    await reporting.consume_into_views(ended(admission))
    waiting = await values(reporting, "discharges.voluntary_community", ward)
    await reporting.consume_into_views(admission)

    assert waiting == [0]
    assert await values(reporting, "discharges.voluntary_community", ward) == [1]


async def test_the_indicator_list_gives_the_whole_catalogue_for_a_unit_and_period(reporting: Api) -> None:
    ward = a_ward()
    await reporting.consume_into_views(admitted(ward), admitted(ward, "compulsory"))

    answer = await read(reporting, "/v1/indicators", unit=ward, period="2024-01/2024-06")

    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert (listed["unit"], listed["unit_name"], listed["period"]) == (ward, units.name(ward), "2024-H1")
    assert [i["indicator_id"] for i in listed["indicators"]] == list(CATALOGUE)
    by_id = {i["indicator_id"]: i for i in listed["indicators"]}
    assert by_id["admissions.total"]["value"] == 2 and by_id["admissions.total"]["previous_period"] == "2023-H2"
    assert by_id["admissions.voluntary_share_pct"]["value"] == 50.0
    assert by_id["persons_admitted"]["value"] == 2


async def test_a_value_is_compared_with_the_period_before(reporting: Api) -> None:
    ward = a_ward()
    await reporting.consume_into_views(
        admitted(ward, on=date(2023, 5, 1)), admitted(ward, on=date(2024, 2, 1)), admitted(ward, on=date(2024, 7, 1))
    )

    answer = await read(reporting, "/v1/indicators/admissions.total", unit=ward, period="2024")

    assert answer.status_code == 200, answer.text
    assert {k: answer.json()[k] for k in ("period", "value", "previous_period", "previous_value", "change")} == {
        "period": "2024",
        "value": 2,
        "previous_period": "2023",
        "previous_value": 1,
        "change": 1,
    }


async def test_as_of_gives_the_figures_as_they_were_known_then(reporting: Api) -> None:
    ward = a_ward()
    early = admitted(ward, time=datetime(2024, 3, 5, 9, tzinfo=UTC))
    late = admitted(ward, on=date(2024, 3, 2), time=datetime(2024, 6, 1, 9, tzinfo=UTC))
    await reporting.consume_into_views(early, late)

    then = await value(reporting, "admissions.total", ward, as_of="2024-04-01")
    before_any = await value(reporting, "admissions.total", ward, as_of="2024-03-01")
    now = await value(reporting, "admissions.total", ward)

    assert (before_any, then, now) == (0, 1, 2)


async def test_a_breakdown_gives_the_unit_and_each_of_its_parts(reporting: Api) -> None:
    ward = a_ward(DANANG)
    path = "/v1/indicators/admissions.voluntary_community/units"
    before = await read(reporting, path, unit=DANANG, period="2024")
    await reporting.consume_into_views(admitted(ward), admitted(ward))

    province = await read(reporting, path, unit=DANANG, period="2024")
    country = await read(reporting, path, unit="VN", period="2024")
    of_a_ward = await read(reporting, path, unit=ward, period="2024")

    assert province.status_code == country.status_code == 200
    found = province.json()
    assert [p["unit"] for p in found["parts"]] == units.wards_of(DANANG)
    assert found["total"]["value"] == sum(p["value"] for p in found["parts"])
    assert found["total"]["value"] - before.json()["total"]["value"] == 2
    assert {p["unit"]: p["value"] for p in found["parts"]}[ward] == 2
    assert [p["unit"] for p in country.json()["parts"]] == sorted(units.provinces())
    assert {p["unit"]: p["value"] for p in country.json()["parts"]}[DANANG] == found["total"]["value"]
    assert (of_a_ward.status_code, of_a_ward.json()) == (400, {"detail": "unit is a ward: it has no smaller units"})


async def test_a_rate_is_never_suppressed_in_a_breakdown(reporting: Api) -> None:
    answer = await read(reporting, "/v1/indicators/completion_rate_pct/units", unit=HANOI, period="2024", suppress=True)

    assert answer.status_code == 400
    assert answer.json() == {"detail": "completion_rate_pct is a rate; suppression applies to counts"}


async def test_small_counts_are_withheld_on_request(reporting: Api) -> None:
    ward = a_ward()
    await reporting.consume_into_views(admitted(ward), admitted(ward, "methadone"))

    plain = await read(reporting, "/v1/indicators/admissions.methadone", unit=ward, period="2024")
    withheld = await read(reporting, "/v1/indicators/admissions.methadone", unit=ward, period="2024", suppress=True)
    census = await read(reporting, "/v1/census", unit=ward, on="2024-06-14", suppress=True)

    assert (plain.json()["value"], plain.json()["suppressed"]) == (1, False)
    assert (withheld.json()["value"], withheld.json()["suppressed"]) == (None, True)
    assert census.json()["total"] is None
    assert {c["modality"]: c["residents"] for c in census.json()["modalities"] if c["suppressed"]} == {
        "methadone": None,
        "voluntary_community": None,
    }


async def test_the_census_counts_residents_on_a_day_by_modality(reporting: Api) -> None:
    ward = a_ward()
    gone = admitted(ward, on=date(2024, 1, 10))
    await reporting.consume_into_views(
        admitted(ward), admitted(ward, "methadone"), admitted(ward, on=date(2024, 7, 1)), gone
    )
    await reporting.consume_into_views(ended(gone, date(2024, 5, 1)))

    answer = await read(reporting, "/v1/census", unit=ward, on="2024-06-14")

    assert answer.status_code == 200, answer.text
    census = answer.json()
    assert (census["unit"], census["facility_id"], census["on"], census["total"]) == (ward, None, "2024-06-14", 2)
    assert {c["modality"]: c["residents"] for c in census["modalities"]} == {
        str(m): {"voluntary_community": 1, "methadone": 1}.get(m, 0) for m in Modality
    }


async def test_the_census_is_of_a_unit_or_of_a_facility(reporting: Api) -> None:
    for params in ({"on": "2024-06-14"}, {"on": "2024-06-14", "unit": "VN", "facility": "hn-cs3"}):
        answer = await read(reporting, "/v1/census", **params)
        assert (answer.status_code, answer.json()) == (400, {"detail": "give either unit or facility"}), params
    malformed = await read(reporting, "/v1/census", on="2024-06-14", facility="-bad id-")
    assert malformed.status_code == 422 and fields(malformed) == [["query", "facility"]]


async def test_a_facility_census_counts_only_the_residents_a_reader_may_see(reporting: Api) -> None:
    facility = f"f-{secrets.token_hex(6)}"
    await reporting.consume_into_views(
        admitted(a_ward(HANOI), "compulsory", facility_id=facility),
        admitted(a_ward(DANANG), "compulsory", facility_id=facility),
        admitted(a_ward(DANANG), "voluntary_facility", facility_id=facility),
    )
    danang = await reporting.token(DANANG, agency="danang-police")

    everyone = await read(reporting, "/v1/census", facility=facility, on="2024-06-14")
    theirs = await read(reporting, "/v1/census", danang, facility=facility, on="2024-06-14")

    assert (everyone.status_code, theirs.status_code) == (200, 200)
    assert (everyone.json()["facility_id"], everyone.json()["total"], theirs.json()["total"]) == (facility, 3, 2)
    assert {c["modality"]: c["residents"] for c in theirs.json()["modalities"] if c["residents"]} == {
        "compulsory": 1,
        "voluntary_facility": 1,
    }


async def test_every_read_answers_csv_on_request(reporting: Api) -> None:
    ward = a_ward()
    admission = admitted(ward)
    await reporting.consume_into_views(admission, admitted(ward, "methadone"))
    await reporting.consume_into_views(ended(admission))

    listed = table(await read(reporting, "/v1/indicators", unit=ward, period="2024", format="csv"))
    one = table(await read(reporting, "/v1/indicators/admissions.total", unit=ward, period="2024", format="csv"))
    parts = table(
        await read(reporting, "/v1/indicators/admissions.total/units", unit=HANOI, period="2024", format="csv")
    )
    census = table(await read(reporting, "/v1/census", unit=ward, on="2024-06-14", format="csv"))
    discharges = table(await read(reporting, "/v1/discharges", unit=ward, period="2024", format="csv"))

    assert list(listed[0]) == [
        "indicator_id", "label", "unit", "period", "value", "target", "achievement_pct", "previous_period",
        "previous_value", "change", "counts", "unit_name", "as_of", "source_document",
    ]  # fmt: skip
    assert [r["indicator_id"] for r in listed] == list(CATALOGUE)
    assert {r["indicator_id"]: r["value"] for r in listed}["admissions.total"] == "2"
    assert [(r["indicator_id"], r["unit"], r["value"], r["target"]) for r in one] == [
        ("admissions.total", ward, "2", "")
    ]
    assert list(parts[0]) == ["indicator_id", "unit", "unit_name", "period", "value", "suppressed"]
    assert [r["unit"] for r in parts] == [HANOI, *units.wards_of(HANOI)]
    assert {r["unit"]: r["value"] for r in parts}[ward] == "2"
    assert {r["modality"]: r["residents"] for r in census} == {str(m): "0" for m in Modality} | {
        "voluntary_community": "1",  # ended only in September
        "methadone": "1",
        "total": "2",
    }
    assert [(r["modality"], r["outcome"], r["discharges"]) for r in discharges] == [
        ("voluntary_community", "completed", "1")
    ]


async def test_a_table_in_vietnamese_has_vietnamese_headers_and_labels(reporting: Api) -> None:
    ward = a_ward()

    rows = table(
        await read(reporting, "/v1/indicators/admissions.total", unit=ward, period="2024", format="csv", lang="vi")
    )

    assert list(rows[0])[:5] == ["Mã chỉ tiêu", "Chỉ tiêu", "Mã địa bàn", "Kỳ báo cáo", "Kết quả thực hiện"]
    assert rows[0]["Chỉ tiêu"] == CATALOGUE["admissions.total"].label_vi
    assert rows[0]["Đơn vị tính"] == "lượt người"


async def test_the_indicator_list_is_a_workbook_on_request(reporting: Api) -> None:
    ward = a_ward()
    await reporting.consume_into_views(admitted(ward))

    answer = await read(reporting, "/v1/indicators", unit=ward, period="2024", format="xlsx")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert answer.headers["content-disposition"] == f'attachment; filename="hoinhap-{ward}-2024.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert header[:5] == ["indicator_id", "label", "unit", "period", "value"]
    assert {r[0]: r[4] for r in rows}["admissions.total"] == 1  # a number, not text


async def test_the_catalogue_lists_every_indicator_and_whether_it_takes_targets(reporting: Api) -> None:
    answer = await read(reporting, "/v1/catalogue")

    assert answer.status_code == 200, answer.text
    entries = {e["indicator_id"]: e for e in answer.json()["indicators"]}
    assert list(entries) == list(CATALOGUE)
    assert entries["admissions.total"]["kind"] == "sum"
    assert entries["admissions.total"]["parts"] == [f"admissions.{m}" for m in Modality]
    assert (entries["admissions.compulsory"]["targets"], entries["completion_rate_pct"]["targets"]) == (True, False)
    assert set(answer.json()["census_modalities"]) == {str(m) for m in Modality}


async def test_a_reader_chooses_among_its_units_and_those_within_them(reporting: Api) -> None:
    danang = await reporting.token(DANANG, "01", agency="two-provinces")

    own = await read(reporting, "/v1/units", danang)
    wards = await read(reporting, "/v1/units", danang, within=DANANG)
    provinces = await read(reporting, "/v1/units", within="VN")
    of_a_ward = await read(reporting, "/v1/units", within=HANOI_WARD)

    assert own.json() == {
        "within": None,
        "units": [{"code": "01", "name": units.name("01")}, {"code": DANANG, "name": units.name(DANANG)}],
    }
    assert [u["code"] for u in wards.json()["units"]] == units.wards_of(DANANG)
    assert [u["code"] for u in provinces.json()["units"]] == sorted(units.provinces())
    assert (of_a_ward.status_code, of_a_ward.json()) == (400, {"detail": "within is a ward: it has no smaller units"})


async def test_a_target_shows_against_its_indicator_with_the_achievement(reporting: Api) -> None:
    ward = a_ward()
    hanoi = await reporting.token(HANOI, agency=f"hanoi-dolisa-{secrets.token_hex(3)}")
    target = a_target(ward, value=3)
    await reporting.consume_into_views(admitted(ward), admitted(ward))

    put = await reporting.client.put("/v1/targets", json=target, headers=hanoi)
    read_back = await read(reporting, "/v1/indicators/admissions.voluntary_community", unit=ward, period="2024")
    other_period = await read(reporting, "/v1/indicators/admissions.voluntary_community", unit=ward, period="2024-H1")

    assert put.status_code == 200, put.text
    assert {k: v for k, v in put.json().items() if k != "set_at"} == target
    assert datetime.fromisoformat(put.json()["set_at"]).date() == datetime.now(UTC).date()
    shown = read_back.json()
    assert (shown["value"], shown["target"], shown["target_source_document"]) == (2, 3, target["source_document"])
    assert shown["achievement_pct"] == 66.66  # cut, not rounded, as agencies do
    assert (other_period.json()["target"], other_period.json()["achievement_pct"]) == (None, None)


async def test_a_new_target_replaces_the_last_and_both_are_kept(reporting: Api) -> None:
    ward = a_ward()
    first, second = a_target(ward, value=10), a_target(ward, value=4)

    for body in (first, second):
        put = await reporting.client.put("/v1/targets", json=body, headers=reporting.as_operator())
        assert put.status_code == 200, put.text
    shown = (await read(reporting, "/v1/indicators/admissions.voluntary_community", unit=ward, period="2024")).json()

    assert (shown["target"], shown["target_source_document"], shown["achievement_pct"]) == (
        4,
        second["source_document"],
        0.0,
    )
    stored = await reporting.rows("SELECT value FROM targets WHERE unit = :u ORDER BY set_at", u=ward)
    assert stored == [{"value": 10}, {"value": 4}]


async def test_a_target_period_is_kept_in_its_shortest_form(reporting: Api) -> None:
    ward = a_ward()

    put = await reporting.client.put(
        "/v1/targets", json=a_target(ward, period="2024-01/2024-06"), headers=reporting.as_operator()
    )
    shown = await read(reporting, "/v1/indicators/admissions.voluntary_community", unit=ward, period="2024-H1")

    assert put.status_code == 200 and put.json()["period"] == "2024-H1"
    assert shown.json()["target"] == 3


async def test_a_target_setting_is_audited(reporting: Api) -> None:
    ward = a_ward()
    agency = f"hanoi-dolisa-{secrets.token_hex(3)}"

    put = await reporting.client.put(
        "/v1/targets", json=a_target(ward, period="2024-Q2"), headers=await reporting.token(HANOI, agency=agency)
    )

    assert put.status_code == 200, put.text
    audited = await reporting.rows("SELECT agency, action, target FROM audit_log WHERE agency = :a", a=agency)
    assert audited == [
        {"agency": agency, "action": "set_target", "target": f"admissions.voluntary_community {ward} 2024-Q2"}
    ]


async def test_a_target_for_an_indicator_plans_do_not_set_is_refused(reporting: Api) -> None:
    ward = a_ward()

    put = await reporting.client.put(
        "/v1/targets", json=a_target(ward, indicator_id="completion_rate_pct"), headers=reporting.as_operator()
    )

    assert put.status_code == 400
    assert put.json() == {"detail": "completion_rate_pct is not planned: targets do not apply to it"}
    assert await reporting.rows("SELECT value FROM targets WHERE unit = :u", u=ward) == []


async def test_a_target_refused_stores_and_audits_nothing(reporting: Api) -> None:
    ward = a_ward()
    danang = await reporting.token(DANANG, agency=f"danang-{secrets.token_hex(3)}")

    put = await reporting.client.put("/v1/targets", json=a_target(ward), headers=danang)

    assert put.status_code == 403
    assert await reporting.rows("SELECT value FROM targets WHERE unit = :u", u=ward) == []
    assert await reporting.rows("SELECT id FROM audit_log WHERE target LIKE :t", t=f"% {ward} %") == []


async def test_a_malformed_target_is_refused_naming_the_field(reporting: Api) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"value": -1}, "value"),
        ({"value": "many"}, "value"),
        ({"source_document": ""}, "source_document"),
        ({"source_document": "Kế hoạch\x00"}, "source_document"),
        ({"indicator_id": None}, "indicator_id"),
    ]
    for overrides, field in cases:
        put = await reporting.client.put(
            "/v1/targets", json=a_target("VN", **overrides), headers=reporting.as_operator()
        )
        assert put.status_code == 422, (overrides, put.text)
        assert fields(put) == [["body", field]], overrides
    missing = await reporting.client.put("/v1/targets", json={}, headers=reporting.as_operator())
    assert sorted(fields(missing)) == [
        ["body", f] for f in ("indicator_id", "period", "source_document", "unit", "value")
    ]


async def test_a_read_kept_by_the_cache_is_renewed_by_a_batch_and_by_a_target(reporting: Api) -> None:
    ward = a_ward()
    cache = reporting.app.state.read_cache
    path = "/v1/indicators/admissions.voluntary_community"
    cache.listening = True  # as when the service hears of view changes (its lifespan does not run here)
    try:
        kept = await read(reporting, path, unit=ward, period="2024")
        await reporting.consume_into_views(admitted(ward))
        after_batch = await read(reporting, path, unit=ward, period="2024")
        put = await reporting.client.put("/v1/targets", json=a_target(ward, value=2), headers=reporting.as_operator())
        after_target = await read(reporting, path, unit=ward, period="2024")
    finally:
        cache.listening = False
        cache.changed()

    assert put.status_code == 200, put.text
    assert (kept.json()["value"], after_batch.json()["value"]) == (0, 1)
    assert (after_target.json()["target"], after_target.json()["achievement_pct"]) == (2, 50.0)
