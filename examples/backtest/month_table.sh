#!/usr/bin/env bash
# The README's table of month-long backtests: the demo's Sakai site and its jobs pattern over a
# month of real prices, on each market of the closed-loop issue. Needs the market data of
# ../shared/data (a user's clone has none: the script says so and stops).
# Usage: examples/backtest/month_table.sh [OUT_DIR]   (default: build/backtest-months)
#        SEEDS="1 2 3" examples/backtest/month_table.sh   (each month with each meter-noise seed)
# Prints a Markdown table; the reports (JSON) and summaries stay in OUT_DIR. With several seeds
# a second table gives each month's capture over the seeds (mean, lowest, highest): one half
# hour sets a month's peak, so a single run says less than it seems.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="$src/../shared/data"
out="${1:-$src/build/backtest-months}"
gridems="$src/build/gridems"
if [ ! -d "$data/jepx_spot_30min" ]; then
    echo "month_table.sh: the market data ($data) is not here; nothing to run" >&2
    exit 77
fi
[ -x "$gridems" ] || { echo "month_table.sh: build first ($gridems missing)" >&2; exit 1; }
mkdir -p "$out"

# A site config for a market: the Sakai site in another currency and time zone.
site_for() { # NAME CURRENCY OFFSET DEMAND_CHARGE CYCLE_COST
    /usr/bin/python3 - "$src/examples/sakai-site.json" "$out/site-$1.json" "$2" "$3" "$4" "$5" <<'PY'
import json, sys, os
src, dst, cur, off, charge, cycle = sys.argv[1:7]
d = json.load(open(src))
d["site"]["currency"] = cur
d["site"]["utc_offset"] = off
d["site"]["demand_charge_per_kw"] = float(charge)
sign = 1 if off[0] == "+" else -1
for p in d["plugins"]:
    o = p["options"]
    for k in ("profile", "jobs"):
        if k in o and not o[k].startswith("/"):
            o[k] = os.path.join(os.path.dirname(os.path.abspath(src)), o[k])
    if p["plugin"] == "meter_sim":
        o["utc_offset_hours"] = sign * int(off[1:3])
    if p["plugin"] == "battery_sim":
        o["cycle_cost_per_kwh"] = float(cycle)
json.dump(d, open(dst, "w"), indent=2)
PY
}

seeds="${SEEDS:-1}"
first_seed="${seeds%% *}"
run() { # NAME PRICES START DAYS OFFSET SITE EXTRA...
    local name=$1 prices=$2 start=$3 days=$4 offset=$5 site=$6
    shift 6
    /usr/bin/python3 "$src/examples/backtest/jobs_pattern.py" "$start" "$days" "$offset" \
        > "$out/jobs-$name.csv"
    for seed in $seeds; do
        local tag="$name"
        [ "$seed" = "$first_seed" ] || tag="$name-seed$seed"
        "$gridems" backtest -c "$site" --prices "$prices" --start "${start}T00:00:00$offset" \
            --days "$days" --jobs "$out/jobs-$name.csv" --seed "$seed" --quiet \
            --report "$out/$tag.json" "$@" > "$out/$tag.txt"
    done
}

site_for jpy JPY +09:00 1800 1.5
site_for ercot USD -05:00 15 0.01
site_for caiso USD -07:00 15 0.01
jepx="$data/jepx_spot_30min/jepx_spot_2023.csv"
run jepx-2023-01 "$jepx" 2023-01-01 31 +09:00 "$out/site-jpy.json" --price-column kansai_jpy_per_kwh --price-adder 4
run jepx-2023-05 "$jepx" 2023-05-01 31 +09:00 "$out/site-jpy.json" --price-column kansai_jpy_per_kwh --price-adder 4
run jepx-2023-08 "$jepx" 2023-08-01 31 +09:00 "$out/site-jpy.json" --price-column kansai_jpy_per_kwh --price-adder 4
run ercot-2023-08 "$data/ercot_dam_hourly/ercot_dam_hb_hubavg_2023.csv" 2023-08-01 31 -05:00 \
    "$out/site-ercot.json" --price-column price_usd_per_mwh --price-unit MWh --price-adder 0.027
run caiso-2023-04 "$data/caiso_dam_hourly/caiso_dam_th_np15_2023.csv" 2023-04-01 30 -07:00 \
    "$out/site-caiso.json" --price-column price_usd_per_mwh --price-unit MWh --price-adder 0.027

/usr/bin/python3 - "$out" "$seeds" <<'PY'
import json, sys, os
out, seeds = sys.argv[1], sys.argv[2].split()
names = ["jepx-2023-01", "jepx-2023-05", "jepx-2023-08", "ercot-2023-08", "caiso-2023-04"]
print("| period | currency | gridems | no gridems | perfect foresight | capture total / energy / demand | peak kW (gridems / none / PF) | jobs on time | weeks worse than baseline | wall s |")
print("| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: |")
for n in names:
    r = json.load(open(os.path.join(out, n + ".json")))
    g, b, p, c = r["gridems"], r["baseline"], r["perfect_foresight"], r["capture"]
    worse = sum(1 for w in r["weeks"] if w["gridems_total"] > w["baseline_total"])
    print(f"| {n} | {r['inputs']['currency']} | {g['total']:,.0f} | {b['total']:,.0f} | {p['total']:,.0f} | "
          f"{c['total']:.3f} / {c['energy']:.3f} / {c['demand']:.3f} | "
          f"{g['peak_kw']:,.0f} / {b['peak_kw']:,.0f} / {p['peak_kw']:,.0f} | "
          f"{g['jobs_on_time']}/{g['jobs']} | {worse} of {len(r['weeks'])} | {r['run']['wall_s']:.1f} |")
if len(seeds) > 1:
    print()
    print(f"| period | capture total over seeds {', '.join(seeds)}: mean (lowest .. highest) | demand part: mean |")
    print("| --- | --- | --- |")
    for n in names:
        tags = [n] + [f"{n}-seed{s}" for s in seeds[1:]]
        caps = [json.load(open(os.path.join(out, t + ".json")))["capture"] for t in tags]
        tot = [c["total"] for c in caps]
        dem = [c["demand"] for c in caps]
        print(f"| {n} | {sum(tot)/len(tot):.3f} ({min(tot):.3f} .. {max(tot):.3f}) | {sum(dem)/len(dem):.3f} |")
PY
