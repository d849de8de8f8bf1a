#!/usr/bin/env bash
# Create the mosquitto password file for a gridems site, with a new random password per user,
# and one file per user holding that password (mode 0600) to hand to the client:
# gridems.password is what gridems reads through mqtt.password_file (or LoadCredential=).
#
# Usage: make-passwords.sh OUTDIR [USER...]
#   default users: gridems utility operator, plus one per gateway given after them.
# Writes OUTDIR/gridems.passwd (for mosquitto's password_file) and OUTDIR/<user>.password.
# Needs mosquitto_passwd (package mosquitto) and openssl.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 OUTDIR [USER...]" >&2
    exit 2
fi
out=$1
shift
users=("$@")
if [ ${#users[@]} -eq 0 ]; then
    users=(gridems utility operator)
fi
passwd_tool=$(command -v mosquitto_passwd || true)
if [ -z "$passwd_tool" ]; then
    echo "$0: mosquitto_passwd not found (package mosquitto)" >&2
    exit 1
fi
umask 077
mkdir -p "$out"
: >"$out/gridems.passwd"
for u in "${users[@]}"; do
    case $u in
    *[!A-Za-z0-9_-]* | "")
        echo "$0: user names are [A-Za-z0-9_-]+, got '$u'" >&2
        exit 2
        ;;
    esac
    # 24 random bytes, base64: 32 characters without a line break or a colon.
    openssl rand -base64 24 >"$out/$u.password"
    "$passwd_tool" -b "$out/gridems.passwd" "$u" "$(cat "$out/$u.password")"
done
echo "wrote $out/gridems.passwd and ${#users[@]} password files in $out" >&2
