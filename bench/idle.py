"""`make bench-idle`: hook calls per MPIJob per idle hour, on the project's real control plane
(tests/e2e_k8s: etcd, kube-apiserver, controllers, kwok), the functions served locally.

    python -m bench.idle [--minutes 4] [--resync-period 60] [--flag -cache-flush-interval=1m]

Three jobs are brought to rest: one finished (launcher succeeded), one running without a
deadline, one running with an active deadline that ends after the window. Then every hook
call for each job (the recording proxy of testkit/driver.py, in front of the
functions) is counted for `--minutes` and scaled to calls per hour (an extrapolation of
that window; say so when quoting it). The deadline job is then followed until it has
failed and is at rest again.

The driver is the one switch of the cluster suites: MPIFN_METACONTROLLER_BIN (with
MPIFN_METACONTROLLER_MANIFESTS) runs the real Metacontroller against the test control
plane, else the stand-in. `--resync-period 60` measures the controller as shipped before
(resyncPeriodSeconds: 60); `--flag` passes a flag to the real binary. Never part of the
tests: it only reports."""

import argparse
import copy
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit.cluster import Cluster  # noqa: E402
from testkit.driver import Driver, HookProxy  # noqa: E402
from testkit.kwok import ANN_HOLD  # noqa: E402
from testkit.manifests import install_operator  # noqa: E402
from testkit.server import serve  # noqa: E402

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


def calls(proxy: HookProxy) -> Counter[str]:
    """Hook calls per job (every hook, answered or not)."""
    return Counter(c.parent.split("/", 1)[1] for c in list(proxy.calls) if c.parent.startswith(f"{NAMESPACE}/"))


def phases(cluster: Cluster) -> dict[str, str]:
    items = cluster.get("mpijobs.mpifn.dev", namespace=NAMESPACE)
    return {item["metadata"]["name"]: (item.get("status") or {}).get("phase", "") for item in items}


def wait_at_rest(cluster: Cluster, proxy: HookProxy, want: dict[str, str], timeout: float = 180) -> None:
    cluster.wait_for(lambda: phases(cluster) == want, f"phases {want}", timeout=timeout)
    give_up = time.monotonic() + timeout
    quiet_since, last = time.monotonic(), calls(proxy)
    while time.monotonic() - quiet_since < SETTLE_SECONDS:
        if time.monotonic() > give_up:
            raise RuntimeError(f"hook calls never stopped for {SETTLE_SECONDS} s: {dict(last)}")
        time.sleep(1)
        now = calls(proxy)
        if now != last:
            quiet_since, last = time.monotonic(), now


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="mpifn-idle-") as tmp,
        Cluster(nodes=2) as cluster,
        serve(Path(tmp)) as server,
    ):
        proxy = HookProxy(server.base_url).start()
        try:
            controllers = install_operator(cluster, proxy.base_url)
            driver = Driver(cluster, controllers, proxy, args.resync_period or None, tuple(args.flag)).start()
            try:
                rest = {"finished": "Succeeded", "running": "Running"}
                cluster.create_namespace(NAMESPACE)
                cluster.apply(job("finished", hold=False), job("running", hold=True))
                wait_at_rest(cluster, proxy, rest)
                window = args.minutes * 60
                cluster.apply(job("deadline", hold=True, deadline=int(window) + SETTLE_SECONDS + 30))
                wait_at_rest(cluster, proxy, {**rest, "deadline": "Running"})
                before = calls(proxy)
                started = time.monotonic()
                time.sleep(window)
                during = calls(proxy) - before
                elapsed = time.monotonic() - started
                # After the window the deadline passes: the calls it brings, the timed one and
                # those of the changes it makes (launcher suspended, workers removed).
                wait_at_rest(cluster, proxy, {**rest, "deadline": "Failed"})
                after_deadline = calls(proxy) - before - during
                failed = [c for c in list(proxy.calls) if c.parent.startswith(f"{NAMESPACE}/") and not c.ok]
                sync_errors = driver.sync_errors(NAMESPACE)
            finally:
                driver.stop()
        finally:
            proxy.stop()
    return {
        "driver": driver.kind,
        "resyncPeriodSeconds": args.resync_period or None,
        "flags": args.flag,
        "windowSeconds": round(elapsed, 1),
        "callsInWindow": {name: during[name] for name in JOBS},
        "callsPerHour": {name: round(during[name] * 3600 / elapsed, 1) for name in JOBS},
        "deadlineJobCallsFromItsDeadline": after_deadline["deadline"],
        "failedHookCalls": len(failed),
        "syncErrorEvents": sync_errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--resync-period", type=int, default=0, help="resyncPeriodSeconds (0: as shipped, none)")
    parser.add_argument("--flag", action="append", default=[], help="a flag for the real Metacontroller binary")
    print(json.dumps(measure(parser.parse_args()), indent=1))


if __name__ == "__main__":
    main()
