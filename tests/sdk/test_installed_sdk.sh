#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The installed SDK and service, end to end, the way a plugin vendor uses them:
#   1. `cmake --install` the build tree into a temporary prefix P and check the layout;
#   2. copy examples/plugin-hello-battery out of the tree and build it against P only, with
#      CMake (find_package(GridemsPlugin), CMAKE_PREFIX_PATH=P; then installed into P's plugin
#      dir) and with make + pkg-config (PKG_CONFIG_PATH=P/lib/pkgconfig);
#   3. a host stand-in (hello_battery_check.c) drives the plugin's physics;
#   4. P/bin/gridems plugin-info on both .so files and by name (the installed default plugin
#      dir), and P/bin/gridems run --check on configs using the plugin (exit 0), and on a bad
#      option (exit 2).
# A sanitized host (GRIDEMS_SANITIZE) refuses a plugin built without the same sanitizer (the
# build signature says san=asan), so the example is then built with the same -fsanitize flags.
#
# usage: test_installed_sdk.sh BUILD_DIR SOURCE_DIR LIBDIR C_COMPILER [SANITIZE]
# Prints "test_installed_sdk: PASS ..." or "test_installed_sdk: FAIL: ..." last; exit 0 or 1.
set -u

build=${1:?build dir}
src=${2:?source dir}
libdir=${3:?libdir, e.g. lib}
cc=${4:?C compiler}
sanitize=${5:-}
cmake=${CMAKE:-cmake}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gridems-sdk.XXXXXX") || { echo "test_installed_sdk: FAIL: mktemp"; exit 1; }
trap 'rm -rf "$tmp"' EXIT
P=$tmp/prefix
log=$tmp/log
checks=0

fail() {
    echo "--- last output:"
    tail -n 40 "$log" 2>/dev/null
    echo "test_installed_sdk: FAIL: $*"
    exit 1
}
ok() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}

flags="-O2 -g -Wall -Wextra -Werror"
ldflags=""
if [ -n "$sanitize" ]; then
    flags="$flags -fsanitize=$sanitize -fno-omit-frame-pointer"
    ldflags="-fsanitize=$sanitize"
    echo "# sanitized host ($sanitize): the example is built with -fsanitize=$sanitize too"
fi

# 1. Install and check the layout.
"$cmake" --install "$build" --prefix "$P" >"$log" 2>&1 || fail "cmake --install $build --prefix $P"
for f in bin/gridems "$libdir"/gridems/plugins/gridems_battery_sim.so \
    include/gridems/plugin.h include/gridems/errors.h "$libdir"/pkgconfig/gridems-plugin.pc \
    "$libdir"/cmake/GridemsPlugin/GridemsPluginConfig.cmake \
    "$libdir"/cmake/GridemsPlugin/GridemsPluginConfigVersion.cmake \
    lib/systemd/system/gridems.service etc/gridems/gridems.example.json; do
    [ -e "$P/$f" ] || fail "not installed: $f"
done
ok "cmake --install: binary, plugins, headers, pkg-config, CMake package, unit, example config"
grep -q '^ExecStart=.*/gridems run -c /etc/gridems/gridems.json$' "$P/lib/systemd/system/gridems.service" ||
    fail "the systemd unit has no ExecStart running the service"
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$tmp/unit"
    sed -e "s|=[^ ]*/bin/gridems |=$P/bin/gridems |" "$P/lib/systemd/system/gridems.service" >"$tmp/unit/gridems.service"
    systemd-analyze verify "$tmp/unit/gridems.service" >"$log" 2>&1 || fail "systemd-analyze verify gridems.service"
    [ -s "$log" ] && fail "systemd-analyze verify gridems.service complains"
    ok "systemd unit (systemd-analyze verify)"
else
    ok "systemd unit (systemd-analyze not installed: not verified)"
fi

# 2. Build the example out of the tree, against P only.
cp -R "$src/examples/plugin-hello-battery" "$tmp/hello" || fail "copy the example"
"$cmake" -S "$tmp/hello" -B "$tmp/hello-cmake" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$flags" \
    -DCMAKE_MODULE_LINKER_FLAGS="$ldflags" >"$log" 2>&1 || fail "cmake configure of the example"
"$cmake" --build "$tmp/hello-cmake" >"$log" 2>&1 || fail "cmake build of the example"
so_cmake=$tmp/hello-cmake/gridems_battery_hello.so
[ -f "$so_cmake" ] || fail "cmake built no $so_cmake"
"$cmake" --install "$tmp/hello-cmake" --prefix "$P" >"$log" 2>&1 || fail "cmake --install of the example"
[ -f "$P/$libdir/gridems/plugins/gridems_battery_hello.so" ] || fail "the example did not install into the plugin dir"
ok "find_package(GridemsPlugin) build and install"

mkdir -p "$tmp/hello-make"
PKG_CONFIG_PATH=$P/$libdir/pkgconfig make -C "$tmp/hello-make" -f "$tmp/hello/Makefile" CC="$cc" \
    CFLAGS="$flags" LDFLAGS="$ldflags" >"$log" 2>&1 || fail "make (pkg-config) build of the example"
so_make=$tmp/hello-make/gridems_battery_hello.so
[ -f "$so_make" ] || fail "make built no $so_make"
ok "pkg-config build"

# 3. The installed binary loads it.
for so in "$so_cmake" "$so_make" battery_hello; do
    "$P/bin/gridems" plugin-info "$so" >"$log" 2>&1 || fail "gridems plugin-info $so"
    grep -Eq '^plugin: +battery_hello$' "$log" || fail "plugin-info $so does not name battery_hello"
    grep -q 'capacity_kwh' "$log" || fail "plugin-info $so does not list capacity_kwh"
done
ok "plugin-info on both builds, and by name from the installed plugin dir"

# The plugin's physics, through a host stand-in built against the installed headers only.
"$cc" -std=c11 $flags -I"$P/include" -o "$tmp/hello_check" "$src/tests/sdk/hello_battery_check.c" \
    $ldflags -ldl -lm >"$log" 2>&1 || fail "build tests/sdk/hello_battery_check.c"
"$tmp/hello_check" "$so_cmake" >"$log" 2>&1 || fail "hello_battery_check: the plugin's physics"
ok "hello-battery physics: limits, efficiency, watchdog, safe mode, option range check"

sed -e "s|/tmp/gridems-hello/state|$tmp/state|" "$tmp/hello/hello-site.json" >"$tmp/by-name.json"
"$P/bin/gridems" run --check -c "$tmp/by-name.json" >"$log" 2>&1 || fail "run --check (plugin by name)"
sed -e "s|\"plugin\": \"battery_hello\"|\"path\": \"$so_make\"|" "$tmp/by-name.json" >"$tmp/by-path.json"
"$P/bin/gridems" run --check -c "$tmp/by-path.json" >"$log" 2>&1 || fail "run --check (plugin by path)"
ok "run --check with the plugin by name and by path"

sed -e 's|"capacity_kwh": 200|"capacity_kwh": "big"|' "$tmp/by-name.json" >"$tmp/bad.json"
"$P/bin/gridems" run --check -c "$tmp/bad.json" >"$log" 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "run --check on a bad option: exit $rc, expected 2"
grep -q 'plugins\[0\]\.options\.capacity_kwh: ' "$log" || fail "run --check does not name plugins[0].options.capacity_kwh"
ok "run --check refuses a bad option, naming the key"

echo "test_installed_sdk: PASS ($checks checks)"
