#!/usr/bin/env bash
# clang-format --dry-run -Werror over the project's C sources (.clang-format, clang-format 14).
# Checked: every *.c and *.h in the tree except the frozen ABI headers (tests/abi/frozen: copies
# of what shipped, kept byte for byte) and the files listed in tests/format-pending.txt, which
# predate the check and are formatted as their owners next touch them (then struck off the list).
# A new file is checked from its first commit. Usage: tests/check_format.sh [clang-format binary]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cf=${1:-}
if [ -z "$cf" ]; then
    for c in clang-format-14 clang-format; do
        if command -v "$c" >/dev/null; then
            cf=$c
            break
        fi
    done
fi
if [ -z "$cf" ]; then
    echo "check_format: clang-format (14) is not installed" >&2
    exit 2
fi
if ! "$cf" --version | grep -q "version 14\."; then
    echo "check_format: $("$cf" --version) is not clang-format 14; results may differ" >&2
fi
pending=()
while IFS= read -r line; do
    line=${line%%#*}
    line=${line//[[:space:]]/}
    [ -n "$line" ] && pending+=("$line")
done < tests/format-pending.txt
is_pending() {
    local f
    for f in "${pending[@]}"; do
        [ "$f" = "$1" ] && return 0
    done
    return 1
}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h')
else
    mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o \
        \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | sort)
fi
checked=0
bad=0
for f in "${files[@]}"; do
    case "$f" in tests/abi/frozen/*) continue ;; esac
    [ -f "$f" ] || continue
    if is_pending "$f"; then
        continue
    fi
    checked=$((checked + 1))
    if ! "$cf" --dry-run -Werror "$f" 2>/dev/null; then
        echo "not clang-formatted: $f (run: $cf -i $f)" >&2
        bad=$((bad + 1))
    fi
done
echo "check_format: $checked files checked, $bad not formatted, ${#pending[@]} pending"
[ "$bad" -eq 0 ]
