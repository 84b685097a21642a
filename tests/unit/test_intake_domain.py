"""Intake's rules: pseudonyms, where each modality takes place, who may be admitted, what a re-admission follows."""

from __future__ import annotations

from datetime import date

import pytest

from services.intake.domain import (
    DateOrderError,
    EpisodeAtFacilityError,
    EpisodeEndedError,
    EpisodeState,
    FacilityNotRegisteredError,
    ModalityNotOfferedError,
    PreviousEpisodeError,
    ResidentialEpisodeOpenError,
    check_community_completion,
    check_facility,
    check_no_open_residential,
    place_problem,
    previous_episode,
    pseudonymise,
)


def test_the_same_person_always_gets_the_same_subject() -> None:
    assert pseudonymise("079123456789", b"k" * 32) == pseudonymise(" 079123456789 ", b"k" * 32)


def test_different_people_and_different_keys_give_different_subjects() -> None:
    key = b"k" * 32
    assert pseudonymise("079123456789", key) != pseudonymise("079123456788", key)
    assert pseudonymise("079123456789", key) != pseudonymise("079123456789", b"j" * 32)


def test_the_subject_does_not_contain_the_id() -> None:
    subject = pseudonymise("079123456789", b"k" * 32)
    assert "079123456789" not in subject
    assert len(subject) == 64


def test_community_treatment_takes_a_service_point() -> None:
    assert place_problem("voluntary_community", None, None) == (
        "service_point_id",
        "is required for voluntary_community treatment: the commune service point",
    )
    assert place_problem("voluntary_community", None, "sp-1") is None


@pytest.mark.parametrize(("facility", "point"), [(None, None), ("f1", "sp-1")])
def test_methadone_is_dispensed_at_a_facility_or_a_service_point_not_both_nor_neither(
    facility: str | None, point: str | None
) -> None:
    problem = place_problem("methadone", facility, point)
    assert problem is not None
    assert problem[0] == "facility_id"


@pytest.mark.parametrize(("facility", "point"), [("f1", None), (None, "sp-1")])
def test_methadone_at_one_place_is_fine(facility: str | None, point: str | None) -> None:
    assert place_problem("methadone", facility, point) is None


def test_residential_treatment_takes_no_service_point() -> None:
    assert place_problem("compulsory", "f1", "sp-1") == (
        "service_point_id",
        "is only for treatment in the community, not for compulsory",
    )
    assert place_problem("compulsory", "f1", None) is None


def test_a_facility_must_be_registered_and_offer_the_modality() -> None:
    with pytest.raises(FacilityNotRegisteredError, match="facility_id is not registered"):
        check_facility("compulsory", "f1", None)
    with pytest.raises(ModalityNotOfferedError, match="f1 does not offer compulsory"):
        check_facility("compulsory", "f1", ["voluntary_facility", "methadone"])
    check_facility("compulsory", "f1", ["compulsory"])
    check_facility("voluntary_community", None, None)


def episode(episode_id: str = "e1", modality: str = "compulsory", **fields: object) -> EpisodeState:
    return EpisodeState(episode_id, modality, date(2024, 1, 1), **fields)  # type: ignore[arg-type]


def test_a_person_holds_one_open_residential_episode_at_most() -> None:
    with pytest.raises(ResidentialEpisodeOpenError, match="still in residential episode e1"):
        check_no_open_residential("voluntary_facility", [episode("e1", "temporary_stay")])
    check_no_open_residential("voluntary_facility", [episode("e1", ended_on=date(2024, 2, 1))])


def test_treatment_in_the_community_does_not_count_as_residential() -> None:
    check_no_open_residential("methadone", [episode("e1", "compulsory")])
    check_no_open_residential("compulsory", [episode("e1", "methadone"), episode("e2", "voluntary_community")])


def test_a_readmission_follows_the_latest_relapsed_episode_not_yet_followed() -> None:
    history = [
        episode("e1", relapsed_on=date(2022, 5, 1)),
        episode("e2", previous_episode_id="e1", relapsed_on=date(2023, 5, 1)),
        episode("e3", "methadone"),
    ]
    assert previous_episode(None, history) == "e2"
    assert previous_episode(None, [*history, episode("e4", previous_episode_id="e2")]) is None
    assert previous_episode(None, [episode("e1")]) is None


def test_a_readmission_may_name_the_episode_it_follows_if_it_is_the_persons_own() -> None:
    history = [episode("e1"), episode("e2", relapsed_on=date(2023, 5, 1))]
    assert previous_episode("e1", history) == "e1"
    with pytest.raises(PreviousEpisodeError, match="not an episode of this person"):
        previous_episode("someone-elses", history)


def test_intake_ends_only_community_episodes_once_and_not_before_they_began() -> None:
    community = episode("e1", "voluntary_community")
    check_community_completion(community, date(2024, 6, 1))
    check_community_completion(episode("e2", "methadone"), date(2024, 6, 1))
    with pytest.raises(EpisodeAtFacilityError, match="the facility service discharges it"):
        check_community_completion(episode("e3", "methadone", facility_id="f1"), date(2024, 6, 1))
    with pytest.raises(EpisodeAtFacilityError):
        check_community_completion(episode("e4", "compulsory", facility_id="f1"), date(2024, 6, 1))
    with pytest.raises(EpisodeEndedError, match="already ended"):
        check_community_completion(episode("e5", "voluntary_community", ended_on=date(2024, 3, 1)), date(2024, 6, 1))
    with pytest.raises(DateOrderError, match="completed_on is before"):
        check_community_completion(community, date(2023, 12, 31))
