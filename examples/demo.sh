#!/usr/bin/env bash
# The demo, from a fresh clone: install what is missing (Debian 12), build into build/, and run
# the Sakai data center's week of real JEPX Kansai prices through the real service in lockstep
# (`gridems backtest`: a private mosquitto on a free loopback port, the simulated batteries,
# meter and GPU cluster as plugins). It prints what the site pays with gridems, without it and
# with perfect foresight: the same figures on every run and every machine.
# Options are passed on to gridems backtest (e.g. --speed 20000 to watch it live at a pace,
# --report FILE, --series FILE; see build/gridems backtest --help).
# Usage: examples/demo.sh [gridems backtest options]
set -euo pipefail
umask 022 # the plugin loader refuses group- or world-writable plugins (docs/security.md)
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GRIDEMS_DEPS=build "$src/cmake/install-deps.sh"
echo "building gridems into $src/build ..." >&2
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGRIDEMS_BUILD_TESTS="$(pkg-config --exists check && echo ON || echo OFF)" >/dev/null
cmake --build "$src/build" -j"$(nproc)" --target gridems gridems_battery_sim gridems_meter_sim \
    gridems_cluster_sim >/dev/null
exec "$src/build/gridems" backtest -c "$src/examples/sakai-site.json" \
    --prices "$src/examples/data/jepx_kansai_2023-05-08_week.csv" --price-adder 4 "$@"
