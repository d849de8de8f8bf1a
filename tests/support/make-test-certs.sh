#!/usr/bin/env bash
# Test support: generate, at run time, the TLS material the TLS tests need (no private key is
# ever committed). Everything is throw-away, valid for 2 days, EC P-256 (fast to generate).
# Usage: make-test-certs.sh DIR
# Writes into DIR:
#   ca.crt ca.key          the test CA
#   server.crt server.key  signed by the test CA, valid for IP 127.0.0.1 and DNS localhost
#   other.crt other.key    signed by the test CA, valid only for DNS other.invalid
#   rogue.crt rogue.key    an unrelated CA, which signed nothing the broker uses
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj "/CN=gridems test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -x509 "${ec[@]}" -keyout rogue.key -out rogue.crt -days 2 -subj "/CN=rogue test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
leaf() { # name subject-alt-names
    openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
leaf server "IP:127.0.0.1,DNS:localhost"
leaf other "DNS:other.invalid"
chmod 0644 ./*.crt
