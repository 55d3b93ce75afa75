"""`make soak`: sync and probe under concurrent load against real servers.

Starts `python -m mpifn.serve` on loopback (the probe's workers are fake sshd banners on
127.0.33.<i>), drives sync (a fresh job and a settled job with observed children) and
probe (JSON and text) from concurrent clients for MPIFN_SOAK_SECONDS (default 60), and
samples the server's RSS. Exit 0 only with zero errors and RSS growth under 10 % after
the warm-up (the first fifth of the run, at least 5 s). Prints the figures.

    python soak/run.py            # or: make soak; MPIFN_SOAK_SECONDS=600 for longer
"""

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit import calls  # noqa: E402
from testkit.listeners import SSH_BANNER, listening  # noqa: E402
from testkit.metacontroller import as_observed, hook_request  # noqa: E402
from testkit.server import free_port, serve  # noqa: E402

SECONDS = float(os.environ.get("MPIFN_SOAK_SECONDS", "60"))
CLIENTS = int(os.environ.get("MPIFN_SOAK_CLIENTS", "8"))
MAX_RSS_GROWTH = 0.10
WORKERS = 4


def rss_kib(pid: int) -> int:
    """Resident memory of the server and its children (gunicorn workers)."""
    total = 0
    for candidate in [pid, *children_of(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def children_of(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    result = [int(child) for child in found]
    for child in list(result):
        result += children_of(child)
    return result


def bodies(ssh_port: int) -> list[tuple[str, str, bytes]]:
    parent = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text())
    fresh = hook_request(parent)
    first = calls.sync(fresh)
    settled = hook_request({**parent, "status": first["status"]}, as_observed(first["children"]))
    probe = {"namespace": "default", "name": "hello", "replicas": WORKERS, "minReplicas": 1,
             "sshPort": ssh_port, "timeoutSeconds": 2}  # fmt: skip
    return [
        ("sync", "", json.dumps(fresh).encode()),
        ("sync", "", json.dumps(settled).encode()),
        ("probe", "", json.dumps(probe).encode()),
        ("probe", "?format=text", json.dumps(probe).encode()),
    ]


def main() -> int:
    ssh_port = free_port()
    env = {"MPIFN_WORKER_HOST_TEMPLATE": "127.0.33.{index}"}
    # the last worker has no listener: its connection is refused
    fake_workers = [(f"127.0.33.{i}", ssh_port, SSH_BANNER) for i in range(WORKERS - 1)]
    try:
        with serve(Path(tempfile.mkdtemp(prefix="mpifn-soak-")), env) as server, listening(*fake_workers):
            return drive(server.base_url, server.pid, bodies(ssh_port))
    except RuntimeError as error:
        print(f"soak: {error}")
        return 1


def drive(base: str, pid: int, calls: list[tuple[str, str, bytes]]) -> int:
    started = time.monotonic()
    stop_at = started + SECONDS
    warm_up = max(5.0, SECONDS / 5)
    lock = threading.Lock()
    counts = {name: 0 for name in ("sync", "probe")}
    latencies: dict[str, list[float]] = {name: [] for name in counts}
    errors: list[str] = []
    samples: list[tuple[float, int]] = []

    def client(number: int) -> None:
        session = requests.Session()
        index = number
        while time.monotonic() < stop_at and len(errors) < 100:
            function, query, body = calls[index % len(calls)]
            index += 1
            began = time.monotonic()
            try:
                response = session.post(f"{base}/function/{function}{query}", data=body, timeout=30)
                ok = response.status_code == 200 and (
                    "hostfile" in response.text or "slots=" in response.text or '"children"' in response.text
                )
                problem = "" if ok else f"{function}{query}: HTTP {response.status_code} {response.text[:200]}"
            except requests.RequestException as error:
                problem = f"{function}{query}: {error}"
            with lock:
                counts[function] += 1
                latencies[function].append(time.monotonic() - began)
                if problem:
                    errors.append(problem)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    while time.monotonic() < stop_at:
        samples.append((time.monotonic() - started, rss_kib(pid)))
        time.sleep(1)
    for thread in threads:
        thread.join(timeout=60)

    elapsed = time.monotonic() - started
    after_warm_up = [rss for moment, rss in samples if moment >= warm_up] or [samples[-1][1]]
    baseline, final, peak = after_warm_up[0], after_warm_up[-1], max(after_warm_up)
    growth = (peak - baseline) / baseline if baseline else 0.0
    print(f"soak: {elapsed:.0f} s, {CLIENTS} concurrent clients, warm-up {warm_up:.0f} s")
    for function in counts:
        ordered = sorted(latencies[function]) or [0.0]
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"soak: {function:5s} {counts[function]:7d} calls  {counts[function] / elapsed:7.1f}/s  "
              f"p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms")  # fmt: skip
    print(f"soak: errors {len(errors)}")
    for problem in errors[:10]:
        print(f"soak:   {problem}")
    print(f"soak: server RSS after warm-up {baseline / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
          f"end {final / 1024:.1f} MiB, growth {growth * 100:.1f}% (limit {MAX_RSS_GROWTH * 100:.0f}%)")  # fmt: skip
    ok = not errors and growth < MAX_RSS_GROWTH and all(counts.values())
    print("soak: PASS" if ok else "soak: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
