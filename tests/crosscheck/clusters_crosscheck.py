#!/usr/bin/python3
"""Cross-check `gridems solve` on scenarios with clusters (gridems's extension of scenario format
v1, docs/optimizer.md "Clusters") against a reference of its own: the program of the spec plus
one cap row per cluster and step, built here from the documents alone and solved with scipy's
HiGHS. The v1 reference (lpref.py) does not know clusters, so this file carries the whole
program; it needs nothing outside the project but python3-scipy.

For each generated scenario: the objective must match the reference's optimum to 1e-6 relative,
and the schedule must keep every constraint the reference has (each cluster's cap, the site's
compute cap, each load's power bound, window and energy) to 1e-6 relative.
Cases: small random sites; job classes split over two clusters (the optimizer merges loads with
the same window and energy/power ratio, never across clusters); a site large enough that the
optimizer sifts its flexible columns; and a cluster whose cap no step can reach (its rows left
out of the program).

usage: clusters_crosscheck.py GRIDEMS_BINARY [COUNT]
Exit 0 when all pass, 1 on a mismatch, 77 (skipped) without scipy."""
import json, os, random, subprocess, sys, tempfile

try:
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix
except ImportError as e:
    print(f"SKIPPED: the reference needs python3-scipy ({e})")
    sys.exit(77)

TOL = 1e-6


def scenario(rng, steps, n_batteries, n_jobs, n_clusters, classes=False, wide_cap=False):
    """A random valid scenario: 15-min steps, synthetic prices, jobs spread over clusters."""
    dt = 0.25
    price = [0.10 + 0.08 * np.sin(2 * np.pi * (t * dt - 14) / 24) + rng.uniform(0, 0.03)
             for t in range(steps)]
    load = [800 + 200 * np.sin(2 * np.pi * (t * dt - 15) / 24) + rng.uniform(-50, 50)
            for t in range(steps)]
    pv = [max(0.0, 300 * np.sin(np.pi * ((t * dt) % 24 - 6) / 12)) for t in range(steps)]
    batteries = []
    for b in range(n_batteries):
        cap = rng.uniform(200, 800)
        batteries.append({"id": f"bess-{b}", "capacity_kwh": cap, "soc_kwh": cap * rng.uniform(0.2, 0.8),
                          "soc_min_kwh": cap * 0.1, "soc_max_kwh": cap * 0.95,
                          "final_soc_min_kwh": cap * 0.5,
                          "charge_max_kw": cap * 0.5, "discharge_max_kw": cap * 0.5,
                          "charge_efficiency": 0.95, "discharge_efficiency": 0.95,
                          "cycle_cost_per_kwh": rng.uniform(0, 0.02)})
    clusters = [{"id": f"gpu-{c}", "compute_limit_kw": (1e6 if wide_cap and c == 0 else
                                                         rng.uniform(150, 600))}
                for c in range(n_clusters)]
    jobs = []
    for j in range(n_jobs):
        earliest = rng.randrange(0, int(steps * 0.6))
        deadline = min(steps, earliest + 1 + rng.randrange(int(steps * 0.2), steps - earliest))
        power = rng.uniform(50, 300)
        job = {"id": f"job-{j}", "energy_kwh": power * dt * (deadline - earliest) * rng.uniform(0.2, 0.9),
               "power_max_kw": power, "earliest_step": earliest, "deadline_step": deadline}
        if n_clusters > 0 and rng.random() < 0.85:
            job["cluster"] = clusters[rng.randrange(n_clusters)]["id"]
        jobs.append(job)
    if classes:
        # Copies at the same ratio in every cluster (and without one): merged within a cluster
        # only.
        copies = []
        for job in jobs:
            for c in range(n_clusters):
                copies.append(dict(job, id=f"{job['id']}-in{c}", cluster=clusters[c]["id"],
                                   power_max_kw=job["power_max_kw"] * (c + 1),
                                   energy_kwh=job["energy_kwh"] * (c + 1)))
            copies.append({k: v for k, v in job.items() if k != "cluster"} | {"id": f"{job['id']}-free"})
        jobs += copies
    return {"version": 1, "step_minutes": 15,
            "prices": {"import_per_kwh": price, "export_per_kwh": [p * 0.5 for p in price]},
            "site": {"base_load_kw": load, "pv_kw": pv, "import_limit_kw": 2000,
                     "export_limit_kw": 100, "demand_charge_per_kw": 5, "peak_so_far_kw": 900},
            "batteries": batteries, "flexible_loads": jobs, "events": [],
            "compute_limit_kw": 150.0 * n_jobs, "clusters": clusters}


def reference(sc):
    """The optimum of the program of docs/optimizer.md with the clusters' cap rows (HiGHS)."""
    T, dt = len(sc["site"]["base_load_kw"]), sc["step_minutes"] / 60
    site, pen = sc["site"], sc.get("penalties", {})
    unserved = pen.get("unserved_load_per_kwh", 10000)
    unmet = pen.get("unmet_flexible_per_kwh", 1000)
    short = pen.get("final_soc_shortfall_per_kwh", 1000)
    cost, lo, hi = [], [], []

    def var(c, lb, ub):
        cost.append(c)
        lo.append(lb)
        hi.append(ub)
        return len(cost) - 1

    imp = sc["prices"]["import_per_kwh"]
    exp = sc["prices"]["export_per_kwh"]
    g = [var(dt * imp[t], 0, site["import_limit_kw"]) for t in range(T)]
    x = [var(-dt * exp[t], 0, site["export_limit_kw"]) for t in range(T)]
    k = [var(0, 0, site["pv_kw"][t]) for t in range(T)]
    z = [var(dt * unserved, 0, None) for t in range(T)]
    bats = []
    for b in sc["batteries"]:
        lo_s, hi_s = min(b["soc_min_kwh"], b["soc_kwh"]), max(b["soc_max_kwh"], b["soc_kwh"])
        bats.append((b, [var(0, 0, b["charge_max_kw"]) for t in range(T)],
                     [var(dt * b["cycle_cost_per_kwh"], 0, b["discharge_max_kw"]) for t in range(T)],
                     [var(0, lo_s, hi_s) for t in range(T)], var(short, 0, None)))
    loads = []
    for j in sc["flexible_loads"]:
        p = {t: var(0, 0, j["power_max_kw"]) for t in range(j["earliest_step"], j["deadline_step"])}
        loads.append((j, p, var(unmet, 0, None)))
    P = var(site["demand_charge_per_kw"], site["peak_so_far_kw"], None)
    rows, cols, vals, eq_rhs, ub_rows, ub_cols, ub_vals, ub_rhs = [], [], [], [], [], [], [], []

    def eq(terms, rhs):
        for c, v in terms:
            rows.append(len(eq_rhs)), cols.append(c), vals.append(v)
        eq_rhs.append(rhs)

    def le(terms, rhs):
        for c, v in terms:
            ub_rows.append(len(ub_rhs)), ub_cols.append(c), ub_vals.append(v)
        ub_rhs.append(rhs)

    for t in range(T):
        terms = [(g[t], 1), (x[t], -1), (k[t], -1), (z[t], 1)]
        for b, c, d, s, f in bats:
            terms += [(d[t], 1), (c[t], -1)]
        terms += [(p[t], -1) for j, p, u in loads if t in p]
        eq(terms, site["base_load_kw"][t] - site["pv_kw"][t])
        le([(g[t], 1), (P, -1)], 0)
        le([(p[t], 1) for j, p, u in loads if t in p] or [(P, 0)], sc["compute_limit_kw"])
        for cl in sc["clusters"]:
            le([(p[t], 1) for j, p, u in loads if t in p and j.get("cluster") == cl["id"]] or [(P, 0)],
               cl["compute_limit_kw"])
    for b, c, d, s, f in bats:
        for t in range(T):
            terms = [(s[t], 1), (c[t], -dt * b["charge_efficiency"]), (d[t], dt / b["discharge_efficiency"])]
            eq(terms + ([(s[t - 1], -1)] if t > 0 else []), b["soc_kwh"] if t == 0 else 0)
        le([(s[T - 1], -1), (f, -1)], -b["final_soc_min_kwh"])
    for j, p, u in loads:
        eq([(v, dt) for v in p.values()] + [(u, 1)], j["energy_kwh"])
    n = len(cost)
    res = linprog(np.array(cost),
                  A_ub=coo_matrix((ub_vals, (ub_rows, ub_cols)), shape=(len(ub_rhs), n)).tocsr(),
                  b_ub=np.array(ub_rhs),
                  A_eq=coo_matrix((vals, (rows, cols)), shape=(len(eq_rhs), n)).tocsr(),
                  b_eq=np.array(eq_rhs), bounds=list(zip(lo, hi)), method="highs")
    if res.status != 0:
        raise RuntimeError(f"reference: {res.message}")
    return res.fun - site["demand_charge_per_kw"] * site["peak_so_far_kw"]


def check_schedule(sc, out):
    """Every cap, bound, window and energy row the reference has, on gridems' schedule."""
    T, dt = len(sc["site"]["base_load_kw"]), sc["step_minutes"] / 60
    power = {j["id"]: j["power_kw"] for j in out["flexible_loads"]}
    unmet = {j["id"]: j["unmet_kwh"] for j in out["flexible_loads"]}
    problems = []
    for j in sc["flexible_loads"]:
        p = power[j["id"]]
        for t in range(T):
            inside = j["earliest_step"] <= t < j["deadline_step"]
            if p[t] < -TOL or p[t] > (j["power_max_kw"] if inside else 0) * (1 + TOL) + TOL:
                problems.append(f"{j['id']} step {t}: {p[t]} kW outside its bound")
        delivered = dt * sum(p) + unmet[j["id"]]
        if abs(delivered - j["energy_kwh"]) > TOL * max(1.0, j["energy_kwh"]):
            problems.append(f"{j['id']}: energy {delivered}, expected {j['energy_kwh']}")
    for t in range(T):
        total = sum(power[j["id"]][t] for j in sc["flexible_loads"])
        if total > sc["compute_limit_kw"] * (1 + TOL) + TOL:
            problems.append(f"step {t}: {total} kW over the compute cap")
        for cl in sc["clusters"]:
            used = sum(power[j["id"]][t] for j in sc["flexible_loads"] if j.get("cluster") == cl["id"])
            if used > cl["compute_limit_kw"] * (1 + TOL) + TOL:
                problems.append(f"step {t}: cluster {cl['id']} runs {used} kW over its cap "
                                f"{cl['compute_limit_kw']}")
    return problems


def main():
    gridems = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    cases = [(seed, dict(steps=rng_steps, n_batteries=2, n_jobs=8, n_clusters=2))
             for seed, rng_steps in zip(range(1, count + 1), [24, 48, 96] * count)]
    cases += [(100 + seed, dict(steps=48, n_batteries=1, n_jobs=5, n_clusters=3, classes=True))
              for seed in range(5)]
    cases += [(200, dict(steps=96, n_batteries=2, n_jobs=10, n_clusters=2, wide_cap=True))]
    # Sifted: at least 5,000 flexible columns and 6 a row (sifting.h).
    cases += [(300 + seed, dict(steps=96, n_batteries=4, n_jobs=400, n_clusters=3)) for seed in range(2)]
    work = tempfile.mkdtemp(prefix="gridems-clusters-")
    failures, failed, worst = [], set(), 0.0
    for seed, shape in cases:
        sc = scenario(random.Random(seed), **shape)
        path = os.path.join(work, f"scenario-{seed}.json")
        with open(path, "w") as f:
            json.dump(sc, f)
        run = subprocess.run([gridems, "solve", path], capture_output=True, text=True)
        label = f"seed {seed} {shape}"
        if run.returncode != 0:
            failures.append(f"{label}: gridems solve exited {run.returncode}: {run.stderr.strip()}")
            failed.add(seed)
            continue
        out = json.loads(run.stdout)
        want = reference(sc)
        rel = abs(out["objective"] - want) / max(1.0, abs(want))
        worst = max(worst, rel)
        if rel > TOL:
            failures.append(f"{label}: objective {out['objective']!r}, reference {want!r} (rel {rel:.2e})")
            failed.add(seed)
        problems = check_schedule(sc, out)
        if problems:
            failures.append(f"{label}: " + "; ".join(problems[:5]))
            failed.add(seed)
    for f in failures:
        print("FAIL", f)
    print(f"{len(cases) - len(failed)} of {len(cases)} scenarios with clusters agree with the "
          f"reference (worst relative objective difference {worst:.1e})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
