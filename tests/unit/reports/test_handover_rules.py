"""Handover rules as pure functions: notes during the shift, outgoing then a different incoming lead."""
from __future__ import annotations

from datetime import timedelta

import pytest

from reports.handover import INCOMING, OUTGOING, Signature, check_note, check_signoff
from reports.shifts import parse_range, parse_shift_id
from store.errors import Conflict, InvalidTransition, ValidationError

SHIFT = parse_shift_id("2026-11-26T07", "07-15,15-23,23-07", "Asia/Seoul")
DURING = SHIFT.start + timedelta(hours=3)
OUT = Signature(OUTGOING, "lead.park", SHIFT.end)


def test_a_note_during_the_shift_is_cleaned_and_accepted() -> None:
    assert check_note("  Bridge 3 closed \n", SHIFT, DURING, []) == "Bridge 3 closed"


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
def test_empty_or_huge_notes_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        check_note(text, SHIFT, DURING, [])


def test_no_note_before_the_shift_starts() -> None:
    with pytest.raises(InvalidTransition, match="not started"):
        check_note("early", SHIFT, SHIFT.start - timedelta(seconds=1), [])


def test_notes_close_when_the_outgoing_lead_signs() -> None:
    with pytest.raises(InvalidTransition, match="closed"):
        check_note("late", SHIFT, SHIFT.end, [OUT])


def test_a_range_that_is_not_a_shift_has_no_handover() -> None:
    rng = parse_range("2026-11-26T08:00", "2026-11-26T09:00", "Asia/Seoul")

    with pytest.raises(ValidationError, match="shift"):
        check_note("x", rng, DURING, [])
    with pytest.raises(ValidationError, match="shift"):
        check_signoff(OUTGOING, "lead.park", rng, DURING, [])


def test_outgoing_signs_first() -> None:
    check_signoff(OUTGOING, "lead.park", SHIFT, SHIFT.end, [])

    with pytest.raises(InvalidTransition, match="outgoing lead signs first"):
        check_signoff(INCOMING, "lead.han", SHIFT, SHIFT.end, [])


def test_incoming_must_be_someone_else() -> None:
    with pytest.raises(InvalidTransition, match="different person"):
        check_signoff(INCOMING, "lead.park", SHIFT, SHIFT.end, [OUT])

    check_signoff(INCOMING, "lead.han", SHIFT, SHIFT.end, [OUT])


def test_a_role_signs_once() -> None:
    with pytest.raises(Conflict, match="already signed"):
        check_signoff(OUTGOING, "lead.kim", SHIFT, SHIFT.end, [OUT])


@pytest.mark.parametrize(("role", "user"), [("witness", "lead.han"), (OUTGOING, "")])
def test_unknown_role_or_missing_signer_is_refused(role: str, user: str) -> None:
    with pytest.raises(ValidationError):
        check_signoff(role, user, SHIFT, SHIFT.end, [])


def test_no_sign_off_before_the_shift_starts() -> None:
    with pytest.raises(InvalidTransition):
        check_signoff(OUTGOING, "lead.park", SHIFT, SHIFT.start - timedelta(minutes=1), [])
