"""The cluster suites tell what a stop of the hook driver cuts off from a hook failure
(testkit/driver.py): a real Metacontroller, stopped, cancels the syncs in flight and
records each as a SyncError event "context canceled"; that is no error of the operator."""

from __future__ import annotations

from testkit.driver import Call, Shutdown, cancelled_by_shutdown, cut_off_call

# A stop from 1000.0 to 1002.5 (monotonic), 2026-12-06T12:00:00.4Z to 12:00:02.9Z (wall clock).
NOON = 1796558400.0
STOP = Shutdown(began=1000.0, ended=1002.5, began_wall=NOON + 0.4, ended_wall=NOON + 2.9)
CANCELLED = 'Sync error: sync hook failed: http error: Post "http://127.0.0.1:40000/function/sync": context canceled'


def event(message: str, first: str, last: str | None = None) -> dict:
    return {"reason": "SyncError", "message": message, "firstTimestamp": first, "lastTimestamp": last or first}


def test_a_sync_cancelled_while_the_driver_stops_is_its_shutdowns():
    assert cancelled_by_shutdown(event(CANCELLED, "2026-12-06T12:00:01Z"), [STOP])
    # times are cut to the second: 12:00:00 is within the stop that began at 12:00:00.4
    assert cancelled_by_shutdown(event(CANCELLED, "2026-12-06T12:00:00Z", "2026-12-06T12:00:02Z"), [STOP])


def test_a_hook_failure_during_a_stop_is_an_error():
    failed = "Sync error: sync hook failed: http error: status code 500"
    assert not cancelled_by_shutdown(event(failed, "2026-12-06T12:00:01Z"), [STOP])


def test_a_cancellation_outside_every_stop_is_an_error():
    assert not cancelled_by_shutdown(event(CANCELLED, "2026-12-06T12:00:10Z"), [STOP])
    assert not cancelled_by_shutdown(event(CANCELLED, "2026-12-06T12:00:01Z", "2026-12-06T12:00:10Z"), [STOP])
    assert not cancelled_by_shutdown(event(CANCELLED, "2026-12-06T12:00:01Z"), [])
    assert not cancelled_by_shutdown({"reason": "SyncError", "message": CANCELLED}, [STOP])  # no time: not known


def test_a_call_the_driver_hung_up_on_while_stopping_is_cut_off():
    held = Call("sync", "ns/hello", 0, at=1003.0, started=999.0)  # in flight across the stop, answer taken by no one
    assert cut_off_call(held, [STOP])


def test_a_call_failed_or_hung_up_on_outside_a_stop_is_not():
    assert not cut_off_call(Call("sync", "ns/hello", 500, at=1001.0, started=999.0), [STOP])
    assert not cut_off_call(Call("sync", "ns/hello", 0, at=999.5, started=999.0), [STOP])  # before the stop
    assert not cut_off_call(Call("sync", "ns/hello", 0, at=1004.0, started=1003.0), [STOP])  # after it
