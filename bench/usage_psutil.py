"""usage_psutil.py -- psutil's memory usage per region, as bench/usage.lua's.

usage: /usr/bin/python3 bench/usage_psutil.py PID REPS

REPS rounds in this one process, on the same target, after one that warms
it up; each round times psutil.Process(pid).memory_maps(grouped=False)
(psutil reads /proc/PID/smaps and parses it in Python: one named tuple per
mapping with its path, address, permissions and the rss, size, pss,
shared/private clean/dirty, referenced, anonymous and swap figures).
Output: "memory_maps <median ms> <min ms>", then "count <what> <n>": the
mappings, and the sums of their rss, pss and swap in kB.
"""
import statistics
import sys
import time

import psutil


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: usage_psutil.py PID REPS")
    pid, reps = int(sys.argv[1]), int(sys.argv[2])
    maps = psutil.Process(pid).memory_maps(grouped=False)   # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        maps = psutil.Process(pid).memory_maps(grouped=False)
        times.append((time.perf_counter() - t0) * 1e3)
    print("memory_maps %.3f %.3f" % (statistics.median(times), min(times)))
    print("count regions %d" % len(maps))
    for field in ("rss", "pss", "swap"):
        print("count %s_kb %d" % (field, sum(getattr(m, field) for m in maps) // 1024))


if __name__ == "__main__":
    main()
