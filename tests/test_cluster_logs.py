"""What the cluster harness keeps of a run's component logs (MPIFN_E2E_LOG_DIR), without
starting a cluster: .ci/run reads them after a failed run."""

from pathlib import Path

from testkit.cluster import Cluster


def stopped_cluster(folder: Path, logs: dict[str, str]) -> Cluster:
    """A cluster stopped after a run that left these component logs in its folder."""
    cluster = Cluster()
    cluster.dir = folder
    (folder / "logs").mkdir(parents=True)
    for name, text in logs.items():
        (folder / "logs" / name).write_text(text)
    cluster.stop()
    return cluster


def test_each_clusters_logs_are_kept_in_a_folder_of_their_own(tmp_path, monkeypatch):
    kept = tmp_path / "kept"
    monkeypatch.setenv("MPIFN_E2E_LOG_DIR", str(kept))
    stopped_cluster(tmp_path / "mpifn-e2e-k8s-one", {"etcd.log": "first", "metacontroller.log": "mc"})
    stopped_cluster(tmp_path / "mpifn-e2e-k8s-two", {"etcd.log": "second"})
    assert (kept / "mpifn-e2e-k8s-one" / "etcd.log").read_text() == "first"
    assert (kept / "mpifn-e2e-k8s-one" / "metacontroller.log").read_text() == "mc"
    assert (kept / "mpifn-e2e-k8s-two" / "etcd.log").read_text() == "second"
    assert not (tmp_path / "mpifn-e2e-k8s-one").exists()  # the cluster's own folder is removed


def test_without_the_variable_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("MPIFN_E2E_LOG_DIR", raising=False)
    monkeypatch.delenv("MPIFN_E2E_KEEP", raising=False)
    stopped_cluster(tmp_path / "mpifn-e2e-k8s-one", {"etcd.log": "first"})
    assert list(tmp_path.iterdir()) == []
