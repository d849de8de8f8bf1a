#!/usr/bin/python3
"""The backtest's perfect-foresight column against the independent reference
../shared/tools/lpref.py (scipy's HiGHS): a short backtest writes its perfect-foresight scenario
(--pf-scenario); the reference solves the same LP; the objectives must agree to 1e-6 relative.
Exit 0 on agreement, 1 on a mismatch, 77 (skipped) when the reference tools or scipy are absent.

usage: backtest_pf_crosscheck.py GRIDEMS_BINARY SOURCE_DIR"""
import importlib.util, json, os, subprocess, sys, tempfile

def main():
    gridems, source_dir = sys.argv[1], sys.argv[2]
    tools = os.path.normpath(os.path.join(source_dir, "..", "shared", "tools"))
    if not os.path.isfile(os.path.join(tools, "lpref.py")):
        print(f"SKIPPED: reference tools not found at {tools}")
        return 77
    try:
        import scipy  # noqa: F401
    except ImportError as e:
        print(f"SKIPPED: the reference needs python3-scipy ({e})")
        return 77
    work = tempfile.mkdtemp(prefix="gridems-pf-crosscheck-")
    scenario = os.path.join(work, "pf.json")
    report = os.path.join(work, "report.json")
    run = subprocess.run([gridems, "backtest", "-c", os.path.join(source_dir, "examples", "sakai-site.json"),
                          "--prices", os.path.join(source_dir, "examples", "data", "jepx_kansai_2023-05-08_week.csv"),
                          "--price-adder", "4", "--days", "3", "--warmup-days", "1", "--quiet",
                          "--report", report, "--pf-scenario", scenario],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"FAILED: gridems backtest exited {run.returncode}: {run.stderr}")
        return 1
    ours = json.load(open(report))["perfect_foresight"]["objective"]
    ref = subprocess.run([sys.executable, os.path.join(tools, "lpref.py"), scenario],
                         capture_output=True, text=True)
    if ref.returncode != 0:
        print(f"FAILED: lpref.py exited {ref.returncode}: {ref.stderr}")
        return 1
    theirs = json.loads(ref.stdout)["objective"]
    # The report rounds money to 0.01; the objective is about 1e7 here.
    gap = abs(ours - theirs) / max(1.0, abs(theirs))
    print(f"perfect foresight objective: gridems {ours:.2f}, lpref {theirs:.2f}, relative gap {gap:.2e}")
    if gap > 1e-6:
        print("1 failed, 0 passed: objectives differ")
        return 1
    print("1 passed, 0 failed")
    return 0

if __name__ == "__main__":
    sys.exit(main())
