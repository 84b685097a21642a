"""Pseudonymising national IDs."""

from __future__ import annotations

from services.intake.domain import pseudonymise


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
