#!/usr/bin/python3
"""Cross-check `gridems solve` against the independent reference ../shared/tools/lpref.py
(scipy's HiGHS) on scenarios from ../shared/tools/gen_scenario.py.

For each seed: the objective must match the reference's optimum to 1e-6 relative, and the
schedule must pass lpref's own --check (constraints and recomputed objective).
Exit 0 when all pass, 1 on any mismatch, 77 (skipped) when the reference tools are absent:
a user's clone has no ../shared, and this is the one test that needs it.

usage: lpref_crosscheck.py GRIDEMS_BINARY SOURCE_DIR [COUNT]"""
import importlib.util, json, os, subprocess, sys, tempfile

def with_classes(jobs):
    out = []
    for j in jobs:
        out.append(j)
        for k, scale in enumerate((1.0, 2.0, 0.5)):
            out.append(dict(j, id=f"{j['id']}-c{k}", power_max_kw=j["power_max_kw"] * scale,
                            energy_kwh=j["energy_kwh"] * scale))
        out.append(dict(j, id=f"{j['id']}-other", energy_kwh=j["energy_kwh"] * 1.1))
    return out

def main():
    gridems, source_dir = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    tools = os.path.normpath(os.path.join(source_dir, "..", "shared", "tools"))
    if not os.path.isfile(os.path.join(tools, "lpref.py")):
        print(f"SKIPPED: reference tools not found at {tools}")
        return 77
    try:
        spec = importlib.util.spec_from_file_location("lpref", os.path.join(tools, "lpref.py"))
        lpref = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lpref)
    except ImportError as e:
        print(f"SKIPPED: the reference needs python3-scipy ({e})")
        return 77
    prices = os.path.join(source_dir, "examples", "data", "jepx_kansai_2023-05-08_week.csv")
    work = tempfile.mkdtemp(prefix="gridems-crosscheck-")
    price_list = os.path.join(work, "prices.json")
    with open(prices) as f:
        next(f)
        json.dump([float(line.split(",")[1]) for line in f if line.strip()], open(price_list, "w"))
    cases = [[str(seed)] for seed in range(1, count + 1)]
    # Real Kansai prices on the canonical size, too.
    cases += [[str(seed), "--prices", price_list, "--steps", "96", "--batteries", "4",
               "--jobs", "50"] for seed in range(1000, 1010)]
    # Job classes, which the optimizer merges exactly (same window and energy/power ratio):
    # every job of a generated scenario gets copies at the same, twice and half its power and
    # energy, and one with a tenth more energy (same window, another ratio: kept apart).
    cases += [[str(seed), "--jobs", "12", "--classes"] for seed in range(2000, 2020)]
    # Hundreds of jobs: the optimizer's cold start sifts the flexible columns (sifting.h).
    cases += [[str(seed), "--steps", "96", "--batteries", "4", "--jobs", "500"]
              for seed in range(3000, 3003)]
    failures, worst = [], 0.0
    for args in cases:
        label = " ".join(a if a != price_list else "JEPX" for a in args)
        classes = "--classes" in args
        gen_args = [a for a in args if a != "--classes"]
        gen = subprocess.run([sys.executable, os.path.join(tools, "gen_scenario.py")] + gen_args,
                             capture_output=True, text=True, check=True)
        scen_path = os.path.join(work, "scenario.json")
        sched_path = os.path.join(work, "schedule.json")
        sc = json.loads(gen.stdout)
        if classes:
            sc["flexible_loads"] = with_classes(sc.get("flexible_loads", []))
        with open(scen_path, "w") as f:
            json.dump(sc, f)
        run = subprocess.run([gridems, "solve", scen_path, "-o", sched_path],
                             capture_output=True, text=True)
        if run.returncode != 0:
            failures.append(f"{label}: gridems solve exited {run.returncode}: {run.stderr.strip()}")
            continue
        sd = json.load(open(sched_path))
        ref = lpref.solve(sc)
        if ref["status"] != "optimal":
            failures.append(f"{label}: reference did not solve: {ref}")
            continue
        rel = abs(sd["objective"] - ref["objective"]) / max(1.0, abs(ref["objective"]))
        worst = max(worst, rel)
        if rel > 1e-6:
            failures.append(f"{label}: objective {sd['objective']!r} vs reference "
                            f"{ref['objective']!r} (relative {rel:.3g})")
        errs, _ = lpref.check(sc, sd)
        if errs:
            failures.append(f"{label}: schedule fails lpref --check: {errs[:3]}")
    print(f"cross-checked {len(cases)} scenarios against lpref.py (HiGHS); "
          f"worst relative objective gap {worst:.3g}")
    for line in failures[:20]:
        print("FAIL", line)
    print(f"{len(cases) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
