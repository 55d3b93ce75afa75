"""CPU time of a process group, from /proc (the benchmarks start their servers and
controllers in a session of their own, so the group is exactly their processes)."""

import os
from pathlib import Path


def group_cpu_seconds(group: int) -> float:
    """User + system CPU of every live process whose process group is `group`."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
