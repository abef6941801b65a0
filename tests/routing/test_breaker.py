"""The per-backend circuit breaker: closed → open → half-open → closed/open, driven by an injected clock."""

from __future__ import annotations

import pytest

from regiongate.routing.breaker import Admission, BreakerSettings, BreakerState, CircuitBreaker

T0 = 100.0
COOLDOWN = 5.0


def breaker(threshold: int = 3, cooldown: float = COOLDOWN) -> CircuitBreaker:
    return CircuitBreaker(BreakerSettings(failure_threshold=threshold, cooldown=cooldown))


def opened(threshold: int = 3, at: float = T0) -> CircuitBreaker:
    b = breaker(threshold)
    for _ in range(threshold):
        b.record_failure(at)
    assert b.state(at) is BreakerState.OPEN
    return b


@pytest.mark.parametrize(("threshold", "cooldown"), [(0, 5.0), (-1, 5.0), (3, 0.0), (3, -1.0)])
def test_settings_refuse_a_breaker_that_could_never_close_or_open(threshold: int, cooldown: float) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        BreakerSettings(failure_threshold=threshold, cooldown=cooldown)


def test_a_new_breaker_is_closed_and_lets_every_request_through() -> None:
    b = breaker()
    assert b.state(T0) is BreakerState.CLOSED
    assert [b.acquire(T0) for _ in range(10)] == [Admission.NORMAL] * 10  # closed: no probe, no limit
    assert b.available(T0)


@pytest.mark.parametrize("threshold", [1, 2, 3, 5])
def test_it_opens_on_exactly_the_threshold_th_consecutive_failure(threshold: int) -> None:
    b = breaker(threshold)
    for _ in range(threshold - 1):
        b.record_failure(T0)
        assert b.state(T0) is BreakerState.CLOSED
        assert b.available(T0)
    b.record_failure(T0)
    assert b.state(T0) is BreakerState.OPEN
    assert not b.available(T0)
    assert b.acquire(T0) is None


def test_a_success_in_between_resets_the_consecutive_count() -> None:
    b = breaker(3)
    b.record_failure(T0)
    b.record_failure(T0)
    b.record_success()
    b.record_failure(T0)
    b.record_failure(T0)
    assert b.state(T0) is BreakerState.CLOSED  # 4 failures in all, but never 3 in a row
    b.record_failure(T0)
    assert b.state(T0) is BreakerState.OPEN


def test_open_refuses_until_the_cooldown_has_passed_then_turns_half_open() -> None:
    b = opened()
    for now in (T0, T0 + 1.0, T0 + COOLDOWN - 0.001):
        assert b.state(now) is BreakerState.OPEN
        assert not b.available(now)
        assert b.acquire(now) is None
    assert b.state(T0 + COOLDOWN) is BreakerState.HALF_OPEN
    assert b.available(T0 + COOLDOWN)


def test_half_open_lets_exactly_one_probe_through() -> None:
    b = opened()
    later = T0 + COOLDOWN + 1.0
    assert b.acquire(later) is Admission.PROBE
    assert b.state(later) is BreakerState.HALF_OPEN
    assert not b.available(later)
    assert b.acquire(later) is None
    assert b.acquire(later + 3600.0) is None  # waiting longer does not admit a second probe either


def test_a_successful_probe_closes_the_breaker_with_a_fresh_failure_count() -> None:
    b = opened(threshold=2)
    later = T0 + COOLDOWN
    assert b.acquire(later) is Admission.PROBE
    b.record_success()
    assert b.state(later) is BreakerState.CLOSED
    assert [b.acquire(later) for _ in range(5)] == [Admission.NORMAL] * 5
    b.record_failure(later)
    assert b.state(later) is BreakerState.CLOSED  # one failure is not two: the count restarted
    b.record_failure(later)
    assert b.state(later) is BreakerState.OPEN


def test_a_failed_probe_reopens_at_once_with_a_fresh_cooldown() -> None:
    b = opened(threshold=3)
    probe_at = T0 + COOLDOWN + 7.0
    assert b.acquire(probe_at) is Admission.PROBE
    failed_at = probe_at + 2.0
    b.record_failure(failed_at)  # a single failure: a probe does not need the threshold again
    assert b.state(failed_at) is BreakerState.OPEN
    assert b.seconds_until_probe(failed_at) == pytest.approx(COOLDOWN)
    assert not b.available(failed_at + COOLDOWN - 0.001)  # counted from the probe's failure, not the first opening
    assert b.state(failed_at + COOLDOWN) is BreakerState.HALF_OPEN
    assert b.acquire(failed_at + COOLDOWN) is Admission.PROBE  # and the next probe may go then


def test_release_of_the_probe_frees_the_probe_slot_without_changing_the_state() -> None:
    b = opened()
    later = T0 + COOLDOWN
    assert b.acquire(later) is Admission.PROBE
    b.release(Admission.PROBE)
    assert b.state(later) is BreakerState.HALF_OPEN  # no verdict either way
    assert b.available(later)
    assert b.acquire(later) is Admission.PROBE
    assert b.acquire(later) is None


def test_release_of_a_request_admitted_while_closed_does_not_free_the_probe_slot() -> None:
    b = opened()
    later = T0 + COOLDOWN
    assert b.acquire(later) is Admission.PROBE
    b.release(Admission.NORMAL)  # an older request, admitted before the breaker opened, ends without a verdict
    assert not b.available(later)
    assert b.acquire(later) is None  # still exactly one probe out


def test_release_of_a_closed_breaker_changes_nothing() -> None:
    b = breaker(2)
    b.record_failure(T0)
    b.release(Admission.NORMAL)
    b.record_failure(T0)
    assert b.state(T0) is BreakerState.OPEN  # release did not reset the consecutive count


def test_seconds_until_probe() -> None:
    b = breaker(1, cooldown=10.0)
    assert b.seconds_until_probe(T0) == 0.0  # closed: now
    b.record_failure(T0)
    assert b.seconds_until_probe(T0) == pytest.approx(10.0)
    assert b.seconds_until_probe(T0 + 2.5) == pytest.approx(7.5)
    assert b.seconds_until_probe(T0 + 10.0) == 0.0
    assert b.seconds_until_probe(T0 + 99.0) == 0.0  # never negative
    assert b.acquire(T0 + 10.0) is Admission.PROBE
    assert b.seconds_until_probe(T0 + 10.0) == 0.0  # half-open


def test_a_late_failure_does_not_extend_an_open_breakers_cooldown() -> None:
    b = CircuitBreaker(BreakerSettings(failure_threshold=1, cooldown=5.0))
    b.record_failure(0.0)  # opens at t=0
    b.record_failure(4.0)  # a request admitted before it opened fails late
    assert b.state(5.0) is BreakerState.HALF_OPEN


# -- what a breaker tells its peers, and what it hears from them ----------------------------------------------------


def test_failures_report_only_the_one_that_opens_it() -> None:
    b = breaker(threshold=3)
    assert [b.record_failure(T0) for _ in range(3)] == [False, False, True]
    assert b.record_failure(T0 + 1) is False  # already open: no news


def test_success_reports_only_a_close_of_an_open_or_half_open_breaker() -> None:
    b = breaker(threshold=3)
    b.record_failure(T0)
    assert b.record_success() is False  # closed all along: a reset count is no news
    b = opened()
    assert b.acquire(T0 + COOLDOWN) is Admission.PROBE
    assert b.record_success() is True


def test_a_half_open_probe_failing_reports_the_reopening() -> None:
    b = opened()
    assert b.acquire(T0 + COOLDOWN) is Admission.PROBE
    assert b.record_failure(T0 + COOLDOWN, Admission.PROBE) is True
    assert b.state(T0 + COOLDOWN) is BreakerState.OPEN


def test_heard_opened_stops_traffic_for_a_cooldown_of_its_own_then_lets_one_probe() -> None:
    b = breaker()
    b.heard_opened(T0)
    assert not b.available(T0 + COOLDOWN - 0.01)
    assert b.acquire(T0 + COOLDOWN) is Admission.PROBE
    assert b.acquire(T0 + COOLDOWN) is None  # still exactly one probe


def test_heard_opened_never_prolongs_an_open_breakers_cooldown() -> None:
    b = opened(at=T0)
    b.heard_opened(T0 + 4)
    assert b.seconds_until_probe(T0 + 4) == pytest.approx(1.0)


def test_heard_closed_lets_traffic_through_again_and_keeps_a_closed_breakers_count() -> None:
    b = opened()
    b.heard_closed()
    assert b.state(T0) is BreakerState.CLOSED
    assert b.acquire(T0) is Admission.NORMAL
    c = breaker(threshold=3)
    c.record_failure(T0)
    c.record_failure(T0)
    c.heard_closed()  # a peer's success says nothing about our own two failures
    assert c.record_failure(T0) is True


def test_a_probe_failing_after_a_peer_reopened_the_breaker_frees_the_probe_slot() -> None:
    """Without it, the probe slot would stay taken and the backend would never be probed again."""
    b = opened(at=T0)
    assert b.acquire(T0 + COOLDOWN) is Admission.PROBE
    b.heard_opened(T0 + COOLDOWN)  # a peer's failing probe reopened it while ours runs
    assert b.record_failure(T0 + COOLDOWN + 1, Admission.PROBE) is False  # already open: no news
    assert b.acquire(T0 + 2 * COOLDOWN) is Admission.PROBE


def test_a_late_normal_failure_does_not_free_a_probe_slot_taken_meanwhile() -> None:
    b = opened(at=T0)
    assert b.acquire(T0 + COOLDOWN) is Admission.PROBE
    b.heard_opened(T0 + COOLDOWN)
    b.record_failure(T0 + COOLDOWN, Admission.NORMAL)  # admitted before it opened
    assert b.acquire(T0 + 2 * COOLDOWN) is None  # our probe is still out
