"""The alert state machine and the escalation decision, on plain objects (no database)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from alerts import model
from alerts.model import Actor, EscalationView, due_escalations
from store.errors import InvalidTransition, NotAuthorized, ValidationError

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
OP = Actor("kim", "operator")
SUP = Actor("park", "supervisor")


@dataclass
class FakeAlert:
    id: int = 1
    state: str = "open"
    severity: str = "major"
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    assignee: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    verdict: str | None = None
    fold_key: str | None = "k"


def test_acknowledge_records_who_and_when_and_emits_an_event():
    a = FakeAlert()

    [ev] = model.acknowledge(a, OP, T0, "seen")

    assert (a.state, a.acknowledged_by, a.acknowledged_at) == ("acknowledged", "kim", T0)
    assert isinstance(ev, model.AlertAcknowledged) and ev.kind == "acknowledged" and ev.payload() == {"comment": "seen"}


def test_double_acknowledge_is_an_invalid_transition_naming_who_did_it():
    a = FakeAlert()
    model.acknowledge(a, OP, T0)

    with pytest.raises(InvalidTransition, match="already acknowledged \\(by kim\\)"):
        model.acknowledge(a, SUP, T0)


def test_resolving_stops_folding_and_needs_a_known_verdict():
    a = FakeAlert()
    with pytest.raises(ValidationError):
        model.resolve(a, OP, T0, "maybe")

    model.resolve(a, OP, T0, "true_positive")

    assert (a.state, a.verdict, a.fold_key, a.acknowledged_by) == ("resolved", "true_positive", None, "kim")
    with pytest.raises(InvalidTransition, match="already resolved"):
        model.resolve(a, OP, T0, "true_positive")
    with pytest.raises(InvalidTransition):
        model.assign(a, OP, T0, "lee")


def test_comments_are_allowed_after_resolution_but_not_empty_or_huge():
    a = FakeAlert(state="resolved")

    assert model.comment(a, OP, T0, "follow-up")[0].kind == "commented"
    with pytest.raises(ValidationError):
        model.comment(a, OP, T0, "   ")
    with pytest.raises(ValidationError):
        model.comment(a, OP, T0, "x" * 2001)


def test_only_a_supervisor_dismisses_a_critical_alert_as_false_positive():
    with pytest.raises(NotAuthorized, match="supervisor"):
        model.resolve(FakeAlert(severity="critical"), OP, T0, "false_positive")

    model.resolve(FakeAlert(severity="major"), OP, T0, "false_positive")  # a major one: any operator
    model.resolve(FakeAlert(severity="critical"), OP, T0, "true_positive")
    assert model.resolve(FakeAlert(severity="critical"), SUP, T0, "false_positive")[0].payload()["verdict"] == "false_positive"


def test_folding_never_lowers_severity():
    assert model.raise_severity("major", "critical") == "critical"
    assert model.raise_severity("critical", "minor") == "critical"


def _view(**kw):  # type: ignore[no-untyped-def]
    base = dict(id=1, state="open", severity="critical", critical_since=T0, escalated_at=None, reminders=0, last_reminder_at=None)
    return EscalationView(**{**base, **kw})


def test_escalation_is_due_after_the_set_time_then_reminders_repeat():
    assert due_escalations([_view()], T0 + timedelta(seconds=119), 120, 120) == []
    [first] = due_escalations([_view()], T0 + timedelta(seconds=120), 120, 120)
    assert first.reminder == 0

    escalated = _view(escalated_at=T0 + timedelta(seconds=120))
    assert due_escalations([escalated], T0 + timedelta(seconds=200), 120, 120) == []
    [again] = due_escalations([escalated], T0 + timedelta(seconds=240), 120, 120)
    assert again.reminder == 1


def test_acknowledged_or_non_critical_alerts_never_escalate():
    later = T0 + timedelta(hours=1)

    assert due_escalations([_view(state="acknowledged"), _view(severity="major"), _view(state="resolved")], later, 120, 120) == []
