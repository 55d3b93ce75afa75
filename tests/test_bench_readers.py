"""What the benchmarks read from their tools: wrk's summary, the apiserver's audit log and
Metacontroller's metrics."""

import json

from bench import race, wrk

WRK_SUMMARY = """Running 4s test @ http://127.0.0.1:40000/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.23ms    5.12ms  81.89ms   80.00%
    Req/Sec   872.00    100.00     1.00k    70.00%
  Latency Distribution
     50%   15.23ms
     75%   17.00ms
     90%   20.00ms
     99%   81.89ms
  3488 requests in 4.00s, 36.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:    872.00
Transfer/sec:      9.00MB
"""


def test_wrk_summary_gives_requests_errors_and_latencies():
    result = wrk.parse(WRK_SUMMARY)
    assert (result.requests, result.seconds, result.errors) == (3488, 4.0, 10)
    assert (result.p50_ms, result.p99_ms, result.rps) == (15.23, 81.89, 872.0)


def test_wrk_latencies_in_microseconds_and_seconds():
    text = WRK_SUMMARY.replace("50%   15.23ms", "50%  870.00us").replace("99%   81.89ms", "99%    1.20s")
    result = wrk.parse(text.replace("  Socket errors: connect 0, read 2, write 1, timeout 3\n", ""))
    assert (result.p50_ms, result.p99_ms, result.errors) == (0.87, 1200.0, 4)


def event(verb, resource, agent, when, subresource="", stage="ResponseComplete"):
    ref = {"resource": resource, **({"subresource": subresource} if subresource else {})}
    return {"stage": stage, "verb": verb, "objectRef": ref, "userAgent": agent, "stageTimestamp": when}


def test_audit_writes_are_counted_by_resource_and_client(tmp_path):
    log = tmp_path / "audit.log"
    events = [
        event("create", "pods", "kube-controller-manager/v1.36.3 (linux/amd64)", "2026-11-29T03:00:01.500000Z"),
        event("update", "mpijobs", "metacontroller-v4.17.2/v0.0.0", "2026-11-29T03:00:02.000000Z", "status"),
        event("update", "mpijobs", "metacontroller-v4.17.2/v0.0.0", "2026-11-29T03:00:03.250000Z", "status"),
        event("create", "pods", "kube-controller-manager", "2026-11-29T03:00:04.000000Z", stage="ResponseStarted"),
        event("get", "pods", "kubectl/v1.36.3", "2026-11-29T03:00:04.000000Z"),
        event("update", "leases", "kwok/v0.8.0", "2026-11-29T03:00:05.000000Z"),
        event("create", "pods", "kube-controller-manager/v1.36.3", "2026-11-29T02:59:59.000000Z"),  # before
        event("create", "pods", "kube-controller-manager/v1.36.3", "2026-11-29T03:01:00.000000Z"),  # after
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    found = race.writes(log, "2026-11-29T03:00:00.000000Z", "2026-11-29T03:00:30.000000Z")
    assert race.count_writes(found) == {
        "total": 4,
        "without_leases": 3,
        "by_resource": {"update mpijobs/status": 2, "create pods": 1, "update leases": 1},
        "by_client": {"kube-controller-manager": 1, "metacontroller-v4.17.2": 2, "kwok": 1},
    }
    many = found * 10
    assert race.milestones(many, "2026-11-29T03:00:00.000000Z") == {"metacontroller-v4.17.2 update mpijobs/status": 3.2}


def test_the_race_starts_its_clock_once_an_operator_watches_mpijobs(tmp_path):
    log = tmp_path / "audit.log"
    assert not race.watching_mpijobs(log)  # no log yet
    pods = event("watch", "pods", "metacontroller", "2026-11-29T03:00:01Z", stage="ResponseStarted")
    log.write_text(json.dumps(pods))
    assert not race.watching_mpijobs(log)
    watch = event("watch", "mpijobs", "metacontroller", "2026-11-29T03:00:02Z", stage="ResponseStarted")
    log.write_text(log.read_text() + "\n" + json.dumps(watch) + "\n" + '{"stage": "Resp')  # a line being written
    assert race.watching_mpijobs(log)


def test_the_writes_are_read_once_the_marker_written_after_them_is_in_the_log(tmp_path):
    log = tmp_path / "audit.log"
    marker = event("create", "configmaps", "python-urllib", "2026-11-29T03:00:09Z")
    log.write_text(json.dumps({**marker, "stage": "ResponseStarted"}) + "\n")
    assert not race.holds_marker(log)
    marker["objectRef"]["name"] = race.AUDIT_MARKER
    log.write_text(json.dumps(marker) + "\n")
    assert race.holds_marker(log)


METRICS = """# HELP workqueue_adds_total Total number of adds handled by workqueue
# TYPE workqueue_adds_total counter
workqueue_adds_total{controller="",name="CompositeController-mpifn-mpijob"} 29
workqueue_adds_total{controller="",name="CompositeController-mpifn-explain"} 0
# HELP workqueue_depth Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{controller="",name="CompositeController-mpifn-mpijob"} 3
"""


def test_metacontroller_queue_adds_are_read_by_queue_name():
    assert race.queue_adds(METRICS) == {
        "CompositeController-mpifn-mpijob": 29.0,
        "CompositeController-mpifn-explain": 0.0,
    }
    assert race.queue_adds("") == {}


def test_the_race_reads_running_from_either_operators_status_conditions():
    def job(*conditions):
        return {"status": {"conditions": [dict(zip(("type", "status"), pair, strict=True)) for pair in conditions]}}

    # Ours writes every condition with its status; Kubeflow's adds them as they happen.
    assert race.says_running(job(("Created", "True"), ("Running", "True"), ("Succeeded", "False")))
    assert race.says_running(job(("Created", "True"), ("Running", "True")))
    assert not race.says_running(job(("Created", "True"), ("Running", "False")))
    assert not race.says_running(job(("Created", "True")))
    assert not race.says_running({"status": None}) and not race.says_running({})


def test_the_working_cpu_is_what_was_spent_less_the_idle_rate_over_the_same_time():
    spent = {"metacontroller": 6.0, "functions": 1.5}
    idle = {"metacontroller": 0.002, "functions": 0.0}
    assert race.working_cpu(spent, idle, 500.0) == {"metacontroller": 5.0, "functions": 1.5}


def test_the_audit_tail_reads_each_complete_line_once(tmp_path):
    log = tmp_path / "audit.log"
    tail = race.AuditTail(log)
    assert tail.new_events() == []  # no log yet
    first = event("patch", "configmaps", "metacontroller/v4.17.2", "2026-11-29T03:00:01.000000Z")
    second = event("update", "mpijobs", "metacontroller/v4.17.2", "2026-11-29T03:00:02.000000Z", "status")
    log.write_text(json.dumps(first) + "\n" + json.dumps(second)[:20])  # the second still being written
    assert tail.new_events() == [first]
    assert tail.new_events() == []
    log.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    assert tail.new_events() == [second]


def test_an_operators_writes_are_its_own_completed_ones_without_leases():
    events = [
        event("patch", "configmaps", "metacontroller/v4.17.2", "2026-11-29T03:00:01.000000Z"),
        event("update", "mpijobs", "metacontroller/v4.17.2", "2026-11-29T03:00:02.000000Z", "status"),
        event("update", "leases", "metacontroller/v4.17.2", "2026-11-29T03:00:03.000000Z"),
        event("patch", "configmaps", "metacontroller/v4.17.2", "2026-11-29T03:00:04.000000Z", stage="ResponseStarted"),
        event("get", "mpijobs", "metacontroller/v4.17.2", "2026-11-29T03:00:05.000000Z"),
        event("create", "pods", "kube-controller-manager/v1.36.3", "2026-11-29T03:00:06.000000Z"),
    ]
    assert race.operator_writes(events, "metacontroller") == 2
    assert race.operator_writes(events, "mpi-operator") == 0
