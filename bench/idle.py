"""`make bench-idle`: hook calls per MPIJob per idle hour, on the project's real control plane
(tests/e2e_k8s: etcd, kube-apiserver, controllers, kwok), the functions served locally.

    python -m bench.idle [--minutes 4] [--driver stand-in|metacontroller] [--resync-period 60]
                         [--cache-flush-interval 30m]

Three jobs are brought to rest: one finished (launcher succeeded), one running without a
deadline, one running with an active deadline of `--deadline` seconds. Then every hook call
the functions log for each job is counted for `--minutes` and scaled to calls per hour (the
figure is an extrapolation of that window; say so when quoting it). The deadline job is
counted separately: calls before its deadline, and the calls its deadline itself brings.

`--driver metacontroller` runs the real binary named by MPIFN_METACONTROLLER_BIN against the
test control plane (`-kubeconfig`), with its CRDs from MPIFN_METACONTROLLER_MANIFESTS (the
folder holding metacontroller-crds-v1.yaml). `--resync-period 60` measures the controller as
shipped before (resyncPeriodSeconds: 60). Never part of the tests: it only reports."""

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e_k8s.cluster import ANN_HOLD, Cluster, install_operator  # noqa: E402
from tests.e2e_k8s.hookdriver import HookDriver  # noqa: E402
from tests.support.server import Server, free_port, serve  # noqa: E402

NAMESPACE = "idle"
JOBS = ("finished", "running", "deadline")
SETTLE_SECONDS = 15  # no call for this long: the jobs are at rest


def job(name: str, hold: bool, deadline: int | None = None) -> dict[str, Any]:
    manifest = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text())
    manifest["metadata"] = {"name": name, "namespace": NAMESPACE}
    if hold:
        template = copy.deepcopy(manifest["spec"]["template"])
        template.setdefault("metadata", {})["annotations"] = {ANN_HOLD: "true"}
        manifest["spec"]["launcher"] = {"template": template}
    if deadline is not None:
        manifest["spec"]["runPolicy"] = {"activeDeadlineSeconds": deadline}
    return manifest


def calls(server: Server) -> Counter[str]:
    """Hook calls (sync and finalize) per job, from the functions' one log line per request."""
    counted: Counter[str] = Counter()
    for line in server.log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("function") in ("sync", "finalize") and entry.get("namespace") == NAMESPACE:
            counted[entry["job"]] += 1
    return counted


def phases(cluster: Cluster) -> dict[str, str]:
    items = cluster.get("mpijobs", namespace=NAMESPACE)
    return {item["metadata"]["name"]: (item.get("status") or {}).get("phase", "") for item in items}


def wait_at_rest(cluster: Cluster, server: Server, want: dict[str, str], timeout: float = 180) -> None:
    cluster.wait_for(lambda: phases(cluster) == want, f"phases {want}", timeout=timeout)
    give_up = time.monotonic() + timeout
    quiet_since, last = time.monotonic(), calls(server)
    while time.monotonic() - quiet_since < SETTLE_SECONDS:
        if time.monotonic() > give_up:
            raise RuntimeError(f"hook calls never stopped for {SETTLE_SECONDS} s: {dict(last)}")
        time.sleep(1)
        now = calls(server)
        if now != last:
            quiet_since, last = time.monotonic(), now


@contextmanager
def stand_in(cluster: Cluster, controller: dict[str, Any]) -> Iterator[Path | None]:
    driver = HookDriver(cluster, controller, interval=0.5).start()
    try:
        yield None
    finally:
        driver.stop()


@contextmanager
def metacontroller(cluster: Cluster, controller: dict[str, Any], flush: str) -> Iterator[Path | None]:
    binary, manifests = os.environ.get("MPIFN_METACONTROLLER_BIN"), os.environ.get("MPIFN_METACONTROLLER_MANIFESTS")
    if not binary or not manifests:
        raise SystemExit("--driver metacontroller needs MPIFN_METACONTROLLER_BIN and MPIFN_METACONTROLLER_MANIFESTS")
    crds = [d for d in yaml.safe_load_all((Path(manifests) / "metacontroller-crds-v1.yaml").read_text()) if d]
    cluster.apply(*crds)
    cluster.wait_crds_established([d["metadata"]["name"] for d in crds])
    cluster.apply(controller)
    argv = [
        binary,
        f"-kubeconfig={cluster.kubeconfig}",
        f"-cache-flush-interval={flush}",
        f"-metrics-address=127.0.0.1:{free_port()}",
        f"-health-probe-bind-address=127.0.0.1:{free_port()}",
    ]
    process = cluster.spawn_extra("metacontroller", argv)
    try:
        yield process.log_path
    finally:
        cluster.stop_extra(process)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="mpifn-idle-") as tmp,
        Cluster(nodes=2) as cluster,
        serve(Path(tmp)) as server,
    ):
        controller = install_operator(cluster, server.base_url)
        if args.resync_period:
            controller["spec"]["resyncPeriodSeconds"] = args.resync_period
        driver = (
            metacontroller(cluster, controller, args.cache_flush_interval)
            if args.driver == "metacontroller"
            else stand_in(cluster, controller)
        )
        with driver as driver_log:
            cluster.create_namespace(NAMESPACE)
            cluster.apply(job("finished", hold=False), job("running", hold=True))
            wait_at_rest(cluster, server, {"finished": "Succeeded", "running": "Running"})
            window = args.minutes * 60
            cluster.apply(job("deadline", hold=True, deadline=int(window) + SETTLE_SECONDS + 30))
            wait_at_rest(cluster, server, {"finished": "Succeeded", "running": "Running", "deadline": "Running"})
            before = calls(server)
            started = time.monotonic()
            time.sleep(window)
            during = calls(server) - before
            elapsed = time.monotonic() - started
            # The deadline job's deadline comes after the window: the calls it brings, the
            # timed one and those of the changes it makes (launcher suspended, workers gone).
            wait_at_rest(cluster, server, {"finished": "Succeeded", "running": "Running", "deadline": "Failed"})
            after_deadline = calls(server) - before - during
        errors = driver_log.read_text().count('"level":"error"') if driver_log else 0
    per_hour = {name: during[name] * 3600 / elapsed for name in JOBS}
    return {
        "driver": args.driver,
        "resyncPeriodSeconds": args.resync_period,
        "cacheFlushInterval": args.cache_flush_interval if args.driver == "metacontroller" else "(stand-in: 30m)",
        "windowSeconds": round(elapsed, 1),
        "callsInWindow": {name: during[name] for name in JOBS},
        "callsPerHour": {name: round(value, 1) for name, value in per_hour.items()},
        "deadlineJobCallsFromItsDeadline": after_deadline["deadline"],
        "metacontrollerErrorLines": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--driver", choices=("stand-in", "metacontroller"), default="stand-in")
    parser.add_argument("--resync-period", type=int, default=0, help="resyncPeriodSeconds (0: as shipped, none)")
    parser.add_argument("--cache-flush-interval", default="30m", help="the real Metacontroller's flag")
    result = measure(parser.parse_args())
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
