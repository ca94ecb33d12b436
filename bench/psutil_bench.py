"""psutil_bench.py -- what psutil needs for the same triage as one pss capture.

usage: /usr/bin/python3 bench/psutil_bench.py PID REPS

REPS rounds in this one process, on the same target; each round makes a
fresh psutil.Process(pid) and takes:
  info         as_dict of name, exe, cmdline, ppid, create_time, cpu_times,
               memory_info, num_threads (under oneshot())
  threads      p.threads()
  open_files   p.open_files()
  connections  p.connections(kind="all")   (inet and unix sockets)
  memory_maps  p.memory_maps(grouped=False)
"total" is the whole round. Output: "<name> <median ms> <min ms>" lines,
then "count <what> <n>" lines: threads, regions, the fds that exist, and
the fds psutil describes (an fd of open_files or of connections).
"""
import os
import statistics
import sys
import time

import psutil

INFO = ["name", "exe", "cmdline", "ppid", "create_time", "cpu_times",
        "memory_info", "num_threads"]


def one_round(pid, samples):
    t0 = time.perf_counter()
    p = psutil.Process(pid)
    with p.oneshot():
        info = p.as_dict(attrs=INFO)
    t1 = time.perf_counter()
    threads = p.threads()
    t2 = time.perf_counter()
    files = p.open_files()
    t3 = time.perf_counter()
    conns = p.connections(kind="all")
    t4 = time.perf_counter()
    maps = p.memory_maps(grouped=False)
    t5 = time.perf_counter()
    for name, dt in (("info", t1 - t0), ("threads", t2 - t1),
                     ("open_files", t3 - t2), ("connections", t4 - t3),
                     ("memory_maps", t5 - t4), ("total", t5 - t0)):
        samples.setdefault(name, []).append(dt * 1e3)
    return info, threads, files, conns, maps


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: psutil_bench.py PID REPS")
    pid, reps = int(sys.argv[1]), int(sys.argv[2])
    samples = {}
    one_round(pid, {})                      # warm-up
    for _ in range(reps):
        _, threads, files, conns, maps = one_round(pid, samples)
    for name, values in samples.items():
        print("%s %.3f %.3f" % (name, statistics.median(values), min(values)))
    described = {f.fd for f in files} | {c.fd for c in conns if c.fd >= 0}
    print("count threads %d" % len(threads))
    print("count regions %d" % len(maps))
    print("count fds %d" % len(os.listdir("/proc/%d/fd" % pid)))
    print("count described %d" % len(described))


if __name__ == "__main__":
    main()
