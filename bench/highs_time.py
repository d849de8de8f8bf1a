#!/usr/bin/python3
"""Time HiGHS (scipy's linprog, as the independent reference lpref.py calls it) on a scenario.

usage: highs_time.py LPREF_PY SCENARIO_JSON RUNS
       highs_time.py LPREF_PY --serve

Runs lpref.solve(scenario) RUNS times in this one process and times only its linprog call (the
solve itself, not Python's start-up, the import of scipy or lpref's matrix building). Prints one
JSON object: median wall and CPU milliseconds of the linprog calls, and lpref's objective.
With --serve it reads requests "SCENARIO_JSON RUNS" from standard input, a line each, and answers
each with one such JSON line, until end of input: bench_growth keeps one helper and alternates
its own solves with HiGHS's, so that both see the same moments of a noisy machine.
Used by bench_growth; exits 77 when lpref.py or scipy is missing."""
import importlib.util, json, statistics, sys, time


def load_lpref(lpref_path):
    spec = importlib.util.spec_from_file_location("lpref", lpref_path)
    lpref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lpref)
    return lpref


def timed(lpref, scenario_path, runs):
    """One answer: lpref.solve run `runs` times, the medians of its linprog calls."""
    wall, cpu = [], []
    real_linprog = lpref.linprog

    def timed_linprog(*args, **kwargs):
        w0, c0 = time.perf_counter(), time.process_time()
        res = real_linprog(*args, **kwargs)
        wall.append((time.perf_counter() - w0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        return res

    lpref.linprog = timed_linprog
    try:
        sc = json.load(open(scenario_path))
        out = None
        for _ in range(max(1, runs)):
            out = lpref.solve(sc)
            if out["status"] != "optimal":
                return {"error": out.get("message", "not optimal")}
    finally:
        lpref.linprog = real_linprog
    return {"wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu),
            "objective": out["objective"], "variables": out["variables"], "rows": out["rows"]}


def main():
    try:
        lpref = load_lpref(sys.argv[1])
    except (ImportError, FileNotFoundError) as e:
        print(json.dumps({"error": str(e)}))
        return 77
    if sys.argv[2] == "--serve":
        for line in sys.stdin:
            path, runs = line.rsplit(None, 1)
            print(json.dumps(timed(lpref, path, int(runs))), flush=True)
        return 0
    answer = timed(lpref, sys.argv[2], int(sys.argv[3]))
    print(json.dumps(answer))
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main())
