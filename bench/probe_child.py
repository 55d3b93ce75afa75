"""One probe run in a fresh process, so that its peak RSS is the probe's own.

python -m bench.probe_child WORKERS PORT TIMEOUT  ->  one JSON line on stdout"""

import json
import resource
import sys
import time

from bench.ssh_listeners import TEMPLATE
from mpifn.keys import FileKeys
from mpifn.probe import Prober, parse_probe_request, report_json
from mpifn.settings import Settings


def main() -> None:
    workers, port, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    settings = Settings(worker_host_template=TEMPLATE)
    body = {"namespace": "default", "name": "bench", "replicas": workers, "minReplicas": 1, "slots": 2}
    body.update(sshPort=port, timeoutSeconds=timeout)
    prober = Prober()  # what the probe function makes when it starts
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    report = prober.probe(parse_probe_request(body, settings), settings, FileKeys(), time.time())
    answer = json.dumps(report_json(report))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    reasons: dict[str, int] = {}
    for worker in json.loads(answer)["unreachable"]:
        reasons[worker["reason"]] = reasons.get(worker["reason"], 0) + 1
    print(
        json.dumps(
            {
                "workers": workers,
                "seconds": seconds,
                "reachable": len(report.reachable),
                "unreachable": reasons,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
                "answer_bytes": len(answer),
            }
        )
    )


if __name__ == "__main__":
    main()
