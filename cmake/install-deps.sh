#!/usr/bin/env bash
# Install the Debian 12 packages gridems builds, runs and tests with, when any is missing.
# Usage: cmake/install-deps.sh [extra packages...]   (GRIDEMS_DEPS=build: what building needs)
# Runs apt-get only if something is missing; needs root (or sudo) then.
set -euo pipefail
# What gridems builds and runs with (libmicrohttpd-dev: the HTTP API and dashboard;
# libsystemd-dev: sd_notify for the unit's watchdog; libmodbus-dev: the SunSpec drivers;
# libcurl4-openssl-dev: the OpenADR VEN's HTTP client).
packages=(build-essential cmake pkg-config libssl-dev libuv1-dev libpaho-mqtt-dev libcjson-dev
          libcurl4-openssl-dev libglpk-dev libsystemd-dev libmicrohttpd-dev libmodbus-dev glpk-utils mosquitto
          mosquitto-clients python3)
# What only the tests use: Check; chromium and prometheus for the browser and scrape tests;
# slurm-wlm, slurm-client and munge for the real Slurm that the Slurm tests start; pymodbus for
# the independent Modbus server; python3-scipy for the clusters' cross-check (its own reference
# LP, solved with HiGHS); openssl for the TLS test's certificates, made at run time;
# clang and libclang-rt-14-dev (libFuzzer, only recommended by clang) for tests/fuzz/run-fuzz.sh.
# GRIDEMS_DEPS=build (the demo) leaves them out.
if [ "${GRIDEMS_DEPS:-all}" != build ]; then
    packages+=(check chromium prometheus slurm-wlm slurm-client munge python3-pymodbus
               python3-serial-asyncio python3-scipy openssl clang libclang-rt-14-dev)
fi
packages+=("$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
