#!/usr/bin/python3
"""Time HiGHS (scipy's linprog, as the independent reference lpref.py calls it) on a scenario.

usage: highs_time.py LPREF_PY SCENARIO_JSON RUNS

Runs lpref.solve(scenario) RUNS times in this one process and times only its linprog call (the
solve itself, not Python's start-up, the import of scipy or lpref's matrix building). Prints one
JSON object: median wall and CPU milliseconds of the linprog calls, and lpref's objective.
Used by bench_growth; exits 77 when lpref.py or scipy is missing."""
import importlib.util, json, statistics, sys, time


def main():
    lpref_path, scenario_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        spec = importlib.util.spec_from_file_location("lpref", lpref_path)
        lpref = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lpref)
    except (ImportError, FileNotFoundError) as e:
        print(json.dumps({"error": str(e)}))
        return 77
    wall, cpu = [], []
    real_linprog = lpref.linprog

    def timed_linprog(*args, **kwargs):
        w0, c0 = time.perf_counter(), time.process_time()
        res = real_linprog(*args, **kwargs)
        wall.append((time.perf_counter() - w0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        return res

    lpref.linprog = timed_linprog
    sc = json.load(open(scenario_path))
    out = None
    for _ in range(max(1, runs)):
        out = lpref.solve(sc)
        if out["status"] != "optimal":
            print(json.dumps({"error": out.get("message", "not optimal")}))
            return 1
    print(json.dumps({"wall_ms": statistics.median(wall), "cpu_ms": statistics.median(cpu),
                      "objective": out["objective"], "variables": out["variables"],
                      "rows": out["rows"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
