"""Parking on the real database: an event that follows one not yet seen waits, in the transaction that claimed
it, and is applied in the one that applies its predecessor; past the timeout it is dead-lettered as `unmatched`."""

from __future__ import annotations

import asyncio
import json

from shared.events import EVENT_ADAPTER
from tests.builders import a_completion, a_relapse, a_subject, an_admission, an_event
from tests.integration.conftest import HarnessOf


async def test_a_completion_before_its_admission_waits_and_is_applied_when_the_admission_arrives(
    harness_of: HarnessOf,
) -> None:
    aftercare = await harness_of("aftercare")
    subject, admitted = a_subject(), an_admission()
    completed = a_completion(episode_id=admitted.episode_id)

    await aftercare.deliver(an_event(completed, subject))
    assert await aftercare.count("aftercare_cases") == 0
    [parked] = await aftercare.rows("SELECT awaiting, event_type FROM parked_events")
    assert parked == {"awaiting": f"episode:{admitted.episode_id}", "event_type": "vn.rehab.completed.v1"}
    assert aftercare.metrics.parked._value.get() == 1

    await aftercare.deliver(an_event(admitted, subject))
    [case] = await aftercare.rows("SELECT episode_id, unit, opened_on FROM aftercare_cases")
    assert case == {
        "episode_id": admitted.episode_id,
        "unit": completed.return_unit,
        "opened_on": completed.completed_on,
    }
    assert await aftercare.count("parked_events") == 0
    assert aftercare.metrics.parked._value.get() == 0
    assert aftercare.dead == []


async def test_what_waits_and_what_it_waits_for_may_come_in_one_batch_in_either_order(harness_of: HarnessOf) -> None:
    aftercare = await harness_of("aftercare")
    subject, admitted = a_subject(), an_admission()
    completed = an_event(a_completion(episode_id=admitted.episode_id), subject)
    relapsed = an_event(a_relapse(episode_id=admitted.episode_id), subject)

    await aftercare.deliver(relapsed, completed, an_event(admitted, subject))

    [case] = await aftercare.rows("SELECT closed_reason FROM aftercare_cases")
    assert case == {"closed_reason": "relapsed"}
    assert await aftercare.count("parked_events") == 0
    assert await aftercare.count("outbox") == 1  # aftercare_opened, once


async def test_a_redelivered_parked_event_is_not_parked_twice_and_waits_since_it_was_first_parked(
    harness_of: HarnessOf,
) -> None:
    aftercare = await harness_of("aftercare")
    subject, admitted = a_subject(), an_admission()
    relapsed = an_event(a_relapse(episode_id=admitted.episode_id), subject)
    await aftercare.deliver(relapsed)
    [before] = await aftercare.rows("SELECT parked_at FROM parked_events")

    await aftercare.deliver(relapsed, relapsed)
    # Its admission arrives, but no case was opened: it waits on, still since it was first parked.
    await aftercare.deliver(an_event(admitted, subject))
    assert await aftercare.rows("SELECT parked_at FROM parked_events") == [before]


async def test_an_event_left_waiting_past_the_timeout_is_dead_lettered_as_unmatched_and_may_be_replayed(
    harness_of: HarnessOf,
) -> None:
    aftercare = await harness_of("aftercare", timeout_seconds=0.01)
    subject, admitted = a_subject(), an_admission()
    completed = an_event(a_completion(episode_id=admitted.episode_id), subject)
    await aftercare.deliver(completed)
    await asyncio.sleep(0.05)

    assert await aftercare.parking.sweep() == 1

    [(reason, detail, value)] = aftercare.dead
    assert reason == "unmatched"
    assert f"for episode:{admitted.episode_id}, which never arrived" in detail
    assert EVENT_ADAPTER.validate_json(value) == completed
    assert subject not in detail and "return_unit" not in json.dumps(detail)
    assert await aftercare.count("parked_events") == 0
    assert aftercare.metrics.deadlettered.labels("unmatched")._value.get() == 1
    # Forgotten by the inbox: replayed from the dead-letter topic once its admission is in, it applies.
    await aftercare.deliver(an_event(admitted, subject), completed)
    assert await aftercare.count("aftercare_cases") == 1


async def test_the_sweep_applies_what_another_replica_made_applicable_and_keeps_the_young_waiting(
    harness_of: HarnessOf,
) -> None:
    aftercare = await harness_of("aftercare")
    subject, admitted, orphan = a_subject(), an_admission(), an_admission()
    await aftercare.deliver(
        an_event(a_completion(episode_id=admitted.episode_id), subject),
        an_event(a_completion(episode_id=orphan.episode_id)),
    )
    # Another replica applied the admission in a transaction that saw nothing parked yet.
    await aftercare.execute(
        "INSERT INTO episodes (episode_id, subject, modality, unit, admitted_on) "
        "VALUES (:e, :s, 'compulsory', '00070', '2024-03-01')",
        e=admitted.episode_id,
        s=subject,
    )
    assert await aftercare.parking.sweep() == 0
    assert await aftercare.count("aftercare_cases") == 1
    [waiting] = await aftercare.rows("SELECT awaiting FROM parked_events")
    assert waiting == {"awaiting": f"episode:{orphan.episode_id}"}
    assert aftercare.dead == []


async def test_an_expired_event_is_retried_a_last_time_before_it_is_dead_lettered(harness_of: HarnessOf) -> None:
    aftercare = await harness_of("aftercare", timeout_seconds=2)
    subject, admitted = a_subject(), an_admission()
    await aftercare.deliver(an_event(a_completion(episode_id=admitted.episode_id), subject))
    assert await aftercare.parking.sweep() == 0  # retried once, in vain: it is not expired yet
    await aftercare.execute(
        "INSERT INTO episodes (episode_id, subject, modality, unit, admitted_on) "
        "VALUES (:e, :s, 'compulsory', '00070', '2024-03-01')",
        e=admitted.episode_id,
        s=subject,
    )
    await asyncio.sleep(2.1)
    assert await aftercare.parking.sweep() == 0
    assert (await aftercare.count("aftercare_cases"), aftercare.dead) == (1, [])
