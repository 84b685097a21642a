"""The agencies' own figures, read back through reporting's HTTP API after publishing the events straight to the
topics: Đồng Nai 2016 to September 2020 (seed 000) and Hà Nội, first half of 2024 (seed 003).

Other e2e tests admit people in Hà Nội in other years who stay residents, so Hà Nội's census by unit is checked
as a difference; the seven facilities of the seed are its own, and their census is checked exactly."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.aftercare.domain import opens_aftercare
from shared import units
from shared.events import AftercareOpened, Employed, Event, Support, Transferred, new_event, serialize, topic_of
from tests.builders import a_completion, an_admission
from tests.e2e.conftest import Suite, eventually

pytestmark = pytest.mark.e2e

PLAN = "Kế hoạch số 1009/KH-UBND"
DONG_NAI_WARDS = units.wards_of("75")[:40]
#: Old Đồng Nai ward codes (before July 2025) that are not current codes: counted under today's wards.
OLD_DONG_NAI = [
    c for c, w in sorted(units._legacy()[0].items()) if units.province_of(w) == "75" and not units.is_ward(c)
]
HANOI_WARDS = [w for w in units.wards_of("01") if w not in ("00070", "00073")][:30]
HANOI_FACILITIES = [f"hanoi-cs{n}" for n in range(1, 8)]
CENSUS_DAY = date(2024, 6, 14)
H1 = (date(2024, 1, 1), date(2024, 6, 30))


@dataclass
class Seed:
    rng: random.Random
    events: list[Event] = field(default_factory=list)
    residents: Counter[tuple[str, str]] = field(default_factory=Counter)  # (facility, modality) on CENSUS_DAY
    baseline: dict[str, int] = field(default_factory=dict)  # Hà Nội's census before the seed, from other tests
    #: (ward, day) of each end that aftercare answers by opening post-treatment management, announced by it
    managed: list[tuple[str, date]] = field(default_factory=list)

    def day(self, first: date, last: date) -> date:
        return first + timedelta(days=self.rng.randrange((last - first).days + 1))

    def add(self, data: Any, subject: str, on: date) -> None:
        """Recorded a few days after it happened."""
        recorded = datetime.combine(on + timedelta(days=self.rng.randrange(0, 5)), time(9), UTC)
        self.events.append(new_event(data, subject=subject, source="/vn/agency/seed", time=recorded))

    def admit(self, modality: str, first: date, last: date, wards: list[str], facility: str | None) -> Any:
        on = self.day(first, last)
        data = an_admission(
            modality=modality,
            admitted_on=on,
            unit=self.rng.choice(wards),
            facility_id=facility,
            legal_basis="Quyết định 1/QĐ-TA" if modality == "compulsory" else None,
        )
        self.add(data, f"{self.rng.getrandbits(256):064x}", on)
        return data

    def end(self, admitted: Any, on: date, trade: str | None = None) -> None:
        """Completed, home to the ward they came from."""
        end = a_completion(
            episode_id=admitted.episode_id, completed_on=on, vocational_training=trade, return_unit=admitted.unit
        )
        self.add(end, self.events[-1].subject, on)
        if opens_aftercare(admitted.modality, end.outcome):
            self.managed.append((admitted.unit, on))


def dong_nai(seed: Seed) -> None:
    """2016 to September 2020 against Kế hoạch 1009/KH-UBND, and 2011-2015 to compare with."""
    wards = DONG_NAI_WARDS + OLD_DONG_NAI[:40]
    now, before = (date(2016, 1, 1), date(2020, 9, 30)), (date(2011, 1, 1), date(2015, 12, 31))
    for modality, count, earlier in (
        ("voluntary_community", 1801, 1320),
        ("voluntary_facility", 1163, 669),
        ("compulsory", 4100, 2380),
    ):
        facility = None if modality == "voluntary_community" else "dongnai-cs"
        for _ in range(earlier):
            seed.admit(modality, *before, wards, facility)
        for n in range(count):
            admitted = seed.admit(modality, now[0], date(2018, 12, 31) if n < 825 else now[1], wards, facility)
            if modality == "compulsory" and n < 825:  # trained in a trade, then home, where aftercare takes them
                ended = seed.day(admitted.admitted_on + timedelta(days=180), admitted.admitted_on + timedelta(days=600))
                seed.end(admitted, ended, trade="may công nghiệp")
    for _ in range(2):  # a small cell elsewhere, which a published table must not show
        seed.admit("voluntary_facility", date(2017, 1, 1), date(2017, 12, 31), units.wards_of("46")[:1], "hue-cs")
    for _ in range(846):
        on = seed.day(*now)
        support = seed.rng.choice(["loan", "job_placement", "self_employment"])
        employed = Employed(
            episode_id="ep-dn-work", employed_on=on, support=Support(support), unit=seed.rng.choice(wards)
        )
        seed.add(employed, f"{seed.rng.getrandbits(256):064x}", on)


def hanoi(seed: Seed) -> None:
    """First half of 2024, and the residents of the city's seven public facilities on 14 June 2024."""
    late_2023 = (date(2023, 7, 1), date(2023, 12, 31))
    before_census = (H1[0], CENSUS_DAY)
    after_census = (CENSUS_DAY + timedelta(days=1), H1[1])

    def resident(modality: str, period: tuple[date, date], leaves_on: date | None = None) -> Any:
        facility = seed.rng.choice(HANOI_FACILITIES)
        admitted = seed.admit(modality, *period, HANOI_WARDS, facility)
        if leaves_on is not None:
            seed.end(admitted, leaves_on)
        if leaves_on is None or leaves_on > CENSUS_DAY:
            seed.residents[(facility, modality)] += 1
        return admitted

    for n in range(1579):  # compulsory since 2023, some leaving after the census day
        resident("compulsory", late_2023, date(2024, 6, 20) if n < 200 else None)
    for _ in range(300):  # compulsory since 2023, gone home before the census day
        admitted = seed.admit("compulsory", *late_2023, HANOI_WARDS, seed.rng.choice(HANOI_FACILITIES))
        seed.end(admitted, seed.day(date(2024, 2, 1), date(2024, 5, 31)))
    moved = [resident("compulsory", before_census) for _ in range(1100)]
    for _ in range(169):
        seed.admit("compulsory", *after_census, HANOI_WARDS, seed.rng.choice(HANOI_FACILITIES))
    for _ in range(282):
        resident("voluntary_facility", late_2023)
    for _ in range(380):
        resident("voluntary_facility", before_census)
    for _ in range(60):  # voluntary, a short stay over before the census day
        admitted = seed.admit("voluntary_facility", date(2024, 1, 1), date(2024, 3, 31), HANOI_WARDS, "hanoi-cs1")
        seed.end(admitted, admitted.admitted_on + timedelta(days=30))
    for _ in range(60):
        seed.admit("voluntary_facility", *after_census, HANOI_WARDS, "hanoi-cs2")
    for _ in range(181):
        seed.admit("voluntary_community", *before_census, HANOI_WARDS, None)
    for modality, count in (("temporary_stay", 261), ("methadone", 169), ("status_determination", 23)):
        for _ in range(count):
            resident(modality, (date(2024, 4, 1), CENSUS_DAY))
    for admitted in moved[:150]:  # moved to another facility: the city's count stays, the facilities' change
        to = "hanoi-cs7" if admitted.facility_id != "hanoi-cs7" else "hanoi-cs6"
        move = Transferred(
            episode_id=admitted.episode_id,
            transferred_on=CENSUS_DAY,
            from_facility_id=admitted.facility_id,
            to_facility_id=to,
            reason="điều chuyển học viên",
        )
        seed.add(move, f"{seed.rng.getrandbits(256):064x}", CENSUS_DAY)
        seed.residents[(admitted.facility_id, "compulsory")] -= 1
        seed.residents[(to, "compulsory")] += 1
    # 949 taken into post-treatment management: those the seed's own ends bring home (aftercare opens their cases
    # and announces them), and others, back from treatment the seed does not show, whom an agency announces.
    brought_home = sum(1 for ward, on in seed.managed if ward in HANOI_WARDS and H1[0] <= on <= H1[1])
    assert 0 < brought_home < 949
    for _ in range(949 - brought_home):
        on = seed.day(*H1)
        opened = AftercareOpened(episode_id="ep-hn-after", opened_on=on, unit=seed.rng.choice(HANOI_WARDS))
        seed.add(opened, f"{seed.rng.getrandbits(256):064x}", on)


async def publish(suite: Suite, producer: AIOKafkaProducer, events: list[Event]) -> None:
    prefix = suite.infra.topic_prefix
    sent = [await producer.send(topic_of(e.type, prefix), serialize(e), key=e.subject.encode()) for e in events]
    for future in sent:
        await future


async def value_of(reporting: httpx.AsyncClient, indicator: str, unit: str, period: str) -> dict[str, Any]:
    response = await reporting.get(f"/v1/indicators/{indicator}", params={"unit": unit, "period": period})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def census_of(reporting: httpx.AsyncClient, **params: str) -> dict[str, int]:
    response = await reporting.get("/v1/census", params={"on": CENSUS_DAY.isoformat(), **params})
    assert response.status_code == 200, response.text
    return {c["modality"]: c["residents"] for c in response.json()["modalities"]}


def vietnamese(pct: float, decimals: int) -> str:
    return f"{pct:.{decimals}f}".replace(".", ",")


@pytest.fixture(scope="module")
async def seeded(suite: Suite) -> Seed:
    seed = Seed(random.Random(1009))
    dong_nai(seed)
    hanoi(seed)
    producer = AIOKafkaProducer(bootstrap_servers=suite.infra.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        await _seed(suite, producer, seed)
    finally:
        await producer.stop()
    return seed


async def _seed(suite: Suite, producer: AIOKafkaProducer, seed: Seed) -> None:
    async with suite.client("reporting") as reporting:
        seed.baseline = await census_of(reporting, unit="01")
        targets = [
            ("admissions.voluntary_community", "75", "2016/2020", 750),
            ("admissions.voluntary_facility", "75", "2016/2020", 750),
            ("admissions.compulsory", "75", "2016/2020", 1500),
            ("vocational_trained", "75", "2016/2020", 700),
            ("employment_supported", "75", "2016/2020", 1500),
            ("admissions.compulsory", "01", "2024-H1", 1785),
            ("admissions.voluntary", "01", "2024-H1", 1199),
        ]
        for indicator, unit, period, target in targets:
            body = {"indicator_id": indicator, "unit": unit, "period": period, "value": target, "source_document": PLAN}
            response = await reporting.put("/v1/targets", json=body)
            assert response.status_code == 200, response.text
        await publish(suite, producer, seed.events)

        async def arrived() -> tuple[int, int, int]:  # the intake includes what aftercare announces
            trained = await value_of(reporting, "vocational_trained", "75", "2016/2020")
            dong_nai = await value_of(reporting, "aftercare_intake", "75", "2016/2020")
            hanoi = await value_of(reporting, "aftercare_intake", "01", "2024-H1")
            return trained["value"], dong_nai["value"], hanoi["value"]

        assert await eventually(arrived, (825, 825, 949), timeout=180) == (825, 825, 949)
        total = len(seed.events)

        async def all_applied() -> bool:  # the last records of other topics may still be on their way
            work = await value_of(reporting, "employment_supported", "75", "2016/2020")
            compulsory = await value_of(reporting, "admissions.compulsory", "01", "2024-H1")
            return (work["value"], compulsory["value"]) == (846, 1269)

        assert await eventually(all_applied, True, timeout=120), f"{total} events published"


async def test_dong_nai_2016_to_september_2020_against_plan_1009(suite: Suite, seeded: Seed) -> None:
    async with suite.client("reporting") as reporting:
        community = await value_of(reporting, "admissions.voluntary_community", "75", "2016/2020")
        # "Cai nghiện tự nguyện tại gia đình, cộng đồng 1.801/750 lượt người, đạt 240,13%, tăng 481 lượt người"
        assert (community["value"], community["target"], community["achievement_pct"]) == (1801, 750, 240.13)
        assert (community["previous_period"], community["previous_value"], community["change"]) == (
            "2011/2015",
            1320,
            481,
        )
        assert community["target_source_document"] == PLAN
        assert community["count_labels"]["vi"] == "lượt người"
        facilities = await value_of(reporting, "admissions.voluntary_facility", "75", "2016/2020")
        assert (facilities["value"], facilities["target"], facilities["achievement_pct"], facilities["change"]) == (
            1163,
            750,
            155.06,
            494,
        )
        compulsory = await value_of(reporting, "admissions.compulsory", "75", "2016/2020")
        assert (compulsory["value"], compulsory["target"], compulsory["achievement_pct"], compulsory["change"]) == (
            4100,
            1500,
            273.33,
            1720,
        )
        trained = await value_of(reporting, "vocational_trained", "75", "2016/2020")
        assert (trained["value"], trained["target"], trained["achievement_pct"]) == (825, 700, 117.85)
        work = await value_of(reporting, "employment_supported", "75", "2016/2020")
        assert (work["value"], work["target"], work["achievement_pct"]) == (846, 1500, 56.4)
        # "100% người hoàn thành cai nghiện ... được quản lý sau cai nghiện"
        coverage = await value_of(reporting, "aftercare_coverage_pct", "75", "2016/2020")
        assert coverage["value"] == 100.0
        # the same figures for the interval as the article counts it, to the end of September 2020
        to_september = await value_of(reporting, "admissions.voluntary_community", "75", "2016-01/2020-09")
        assert to_september["value"] == 1801


async def test_hanoi_first_half_of_2024(suite: Suite, seeded: Seed) -> None:
    async with suite.client("reporting") as reporting:
        compulsory = await value_of(reporting, "admissions.compulsory", "01", "2024-H1")
        # "đưa 1.269 người đi cai nghiện bắt buộc (đạt 71,1% kế hoạch)"
        assert compulsory["value"] == 1269
        assert vietnamese(compulsory["achievement_pct"], 1) == "71,1"
        assert (compulsory["previous_period"], compulsory["previous_value"]) == ("2023-H2", 1879)
        voluntary = await value_of(reporting, "admissions.voluntary", "01", "2024-H1")
        # "vận động 681 người cai nghiện tự nguyện (đạt 56,8% kế hoạch)"
        assert voluntary["value"] == 681
        assert vietnamese(voluntary["achievement_pct"], 1) == "56,8"
        # "tiếp nhận quản lý, chăm sóc, giúp đỡ 949 người sau cai nghiện ma túy trở về nơi cư trú"
        assert (await value_of(reporting, "aftercare_intake", "01", "2024-H1"))["value"] == 949

        # "Tính đến thời điểm ngày 14/6/2024, 7 cơ sở ... 2.679 người cai nghiện bắt buộc; 662 người cai nghiện
        # tự nguyện; 261 người lưu trú tạm thời; 169 người điều trị Methadone và 23 người theo dõi xác định
        # tình trạng nghiện" (the article's total, 3.795, is one more than the sum of its parts, 3.794)
        city: Counter[str] = Counter()
        for facility in HANOI_FACILITIES:
            here = await census_of(reporting, facility=facility)
            assert {m: n for m, n in here.items() if n} == {
                m: n for (f, m), n in seeded.residents.items() if f == facility and n
            }, facility
            city.update(here)
        assert {m: n for m, n in city.items() if n} == {
            "compulsory": 2679,
            "voluntary_facility": 662,
            "temporary_stay": 261,
            "methadone": 169,
            "status_determination": 23,
        }
        by_unit = await census_of(reporting, unit="01")
        added = {m: by_unit[m] - seeded.baseline.get(m, 0) for m in by_unit}
        # the managing unit counts every resident once, whichever facility they were moved to; and the
        # community modality too, which no facility holds
        assert added == {m: 0 for m in by_unit} | dict(city) | {"voluntary_community": 181}


async def test_csv_with_vietnamese_column_labels(suite: Suite, seeded: Seed) -> None:
    async with suite.client("reporting") as reporting:
        params = {"unit": "75", "period": "2016/2020", "format": "csv", "lang": "vi"}
        response = await reporting.get("/v1/indicators", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()  # a byte-order mark first, for Excel
    assert lines[0].startswith("Mã chỉ tiêu,Chỉ tiêu,Mã địa bàn,Kỳ báo cáo,Kết quả thực hiện,Chỉ tiêu kế hoạch")
    [row] = [line for line in lines if line.startswith("admissions.voluntary_community,")]
    assert row.startswith(
        'admissions.voluntary_community,"Cai nghiện tự nguyện tại gia đình, cộng đồng",75,2016/2020,1801,750,240.13,'
        "2011/2015,1320,481,lượt người,Đồng Nai,,Kế hoạch số 1009/KH-UBND"
    )


async def test_a_reader_sees_only_its_jurisdiction(suite: Suite, seeded: Seed) -> None:
    async with suite.client("reporting") as operator:
        issued = (await operator.post("/v1/tokens", json={"agency": "dongnai-dolisa", "units": ["75"]})).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    async with httpx.AsyncClient(base_url=suite.url("reporting"), headers=headers, timeout=10) as dong_nai_reader:
        mine = await dong_nai_reader.get("/v1/indicators", params={"unit": "75", "period": "2016/2020"})
        assert mine.status_code == 200
        for unit in ("01", "VN", HANOI_WARDS[0]):
            other = await dong_nai_reader.get("/v1/indicators", params={"unit": unit, "period": "2016/2020"})
            assert other.status_code == 403, unit
            assert "outside the jurisdiction of dongnai-dolisa" in other.json()["detail"]
        assert (await dong_nai_reader.get("/v1/census", params={"unit": "01", "on": "2024-06-14"})).status_code == 403
        # a facility's census shows only the residents this reader's units manage
        hanoi_facility = await dong_nai_reader.get("/v1/census", params={"facility": "hanoi-cs1", "on": "2024-06-14"})
        assert hanoi_facility.json()["total"] == 0
        body = {"indicator_id": "admissions.total", "unit": "01", "period": "2024", "value": 1, "source_document": "x"}
        assert (await dong_nai_reader.put("/v1/targets", json=body)).status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/v1/indicators/admissions.teleportation", {"unit": "75", "period": "2020"}, 404, "no indicator"),
        ("/v1/indicators", {"unit": "99", "period": "2020"}, 400, "not VN, a current province code"),
        ("/v1/indicators", {"unit": "02", "period": "2020"}, 400, "before 1 July 2025; it is now part of 08"),
        ("/v1/indicators", {"unit": "75", "period": "2020-H3"}, 400, "is not YYYY, YYYY-Hn, YYYY-Qn or YYYY-MM"),
        ("/v1/indicators", {"unit": "75", "period": "2020/2016"}, 400, "ends before it starts"),
        ("/v1/census", {"unit": "75"}, 422, "on"),
        ("/v1/census", {"on": "2024-06-14"}, 400, "give either unit or facility"),
        ("/v1/indicators/admissions.total/units", {"unit": "26068", "period": "2020"}, 400, "has no smaller units"),
    ],
)
async def test_what_is_wrong_with_a_request_is_said(
    suite: Suite, path: str, params: dict[str, str], status: int, message: str
) -> None:
    async with suite.client("reporting") as reporting:
        response = await reporting.get(path, params=params)
    assert response.status_code == status
    assert message in str(response.json()["detail"])


async def test_targets_are_refused_for_rates_and_unknown_indicators(suite: Suite) -> None:
    body = {"unit": "75", "period": "2016/2020", "value": 10, "source_document": PLAN}
    async with suite.client("reporting") as reporting:
        rate = await reporting.put("/v1/targets", json=body | {"indicator_id": "completion_rate_pct"})
        unknown = await reporting.put("/v1/targets", json=body | {"indicator_id": "nothing"})
    assert rate.status_code == 400 and "targets do not apply" in rate.json()["detail"]
    assert unknown.status_code == 404


async def test_published_tables_withhold_small_cells_and_their_complements(suite: Suite, seeded: Seed) -> None:
    async with suite.client("reporting") as reporting:
        params = {"unit": "VN", "period": "2016/2020", "suppress": "true"}
        table = (await reporting.get("/v1/indicators/admissions.voluntary_facility/units", params=params)).json()
        plain = (
            await reporting.get(
                "/v1/indicators/admissions.voluntary_facility/units", params=params | {"suppress": "false"}
            )
        ).json()
    values = {c["unit"]: c["value"] for c in plain["parts"]}
    hidden = {c["unit"] for c in table["parts"] if c["suppressed"]}
    assert (values["75"], values["46"]) == (1163, 2)
    assert {u for u, v in values.items() if 0 < v < 5} <= hidden  # every small cell is withheld...
    assert len(hidden) >= 2 and sum(values[u] for u in hidden) >= 5  # ...never alone, nor as the total less the rest
    assert table["total"]["value"] == plain["total"]["value"]
    assert all(c["value"] is None for c in table["parts"] if c["suppressed"])


async def test_as_of_gives_the_figures_as_they_were_known_then(suite: Suite, seeded: Seed) -> None:
    async with suite.client("reporting") as reporting:

        async def known(as_of: str) -> dict[str, Any]:
            params = {"unit": "75", "period": "2016/2020", "as_of": as_of}
            response = await reporting.get("/v1/indicators/admissions.compulsory", params=params)
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            return found

        after_the_report = await known("2020-12-31")  # everything was recorded within days
        assert (after_the_report["value"], after_the_report["previous_value"]) == (4100, 2380)
        assert after_the_report["target"] is None  # the plan was entered into the system only now
        midway = await known("2018-06-30")
        assert 0 < midway["value"] < 4100
        assert midway["previous_value"] == 2380
        assert (await known("2015-12-31"))["value"] == 0
