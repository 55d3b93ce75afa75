"""How the probe names worker hosts from MPIFN_WORKER_HOST_TEMPLATE."""

from mpifn.probe import ProbeRequest, worker_hosts


def job(replicas: int) -> ProbeRequest:
    return ProbeRequest("team-a", "big", replicas, 1, 1, 2222, "OpenMPI", 1.0)


def test_default_fields_name_the_job_namespace_and_index():
    assert worker_hosts(job(2), "{job}-worker-{index}.{job}-worker.{namespace}.svc") == [
        "big-worker-0.big-worker.team-a.svc",
        "big-worker-1.big-worker.team-a.svc",
    ]


def test_index_hi_and_lo_split_the_index_into_address_octets():
    hosts = worker_hosts(job(4096), "127.20.{index_hi}.{index_lo}")
    assert hosts[:2] == ["127.20.0.0", "127.20.0.1"]
    assert hosts[255:257] == ["127.20.0.255", "127.20.1.0"]
    assert hosts[-1] == "127.20.15.255"
    assert len(set(hosts)) == 4096
