#!/usr/bin/env bash
# HTTP transfer load with wrk (a C load generator, so the server gets the cores),
# against one or more running `lucid serve` processes sharing one database.
#
#   scripts/bench/http-load.sh [--customers 200] [--connections 64] [--duration 20]
#                              [--operator-token TOKEN] URL [URL…]
#
# Creates the customers through the first URL (the server must accept many sign-ins from
# one address: start it with a config whose login_rate_limit is high, and with
# --insecure-fast-password-hashing), then runs one wrk per URL at the same time, splitting
# the connections, and prints transfers/s and latency per server and in total.
#
# The customers sign in from one device, "wrk-load". With risk monitoring on, a hundred
# transfers a customer in seconds is a velocity burst and gets challenged; given an operator
# token (`lucid operator create --role risk`), the script puts that device on the allow list
# first, so every transfer is still decided in full (features, rules, the decision stored)
# and then allowed — the figure `lucid bench http` reports with risk on.
set -euo pipefail
customers=200 connections=64 duration=20 operator_token=""
while [ $# -gt 0 ]; do
    case $1 in
        --operator-token) operator_token=$2; shift 2 ;;
        --customers) customers=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--customers N] [--connections N] [--duration S] [--operator-token T] URL [URL…]" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$1" "$customers" "$work/customers.txt" "$operator_token" <<'PY'
import json, sys, time, urllib.request
base, count, out, operator = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
device = "wrk-load"
def call(path, body, token=None, key=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if token: req.add_header("Authorization", "Bearer " + token)
    if key: req.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
run = int(time.time() * 1000)
if operator:
    call("/v1/ops/risk/lists", {"kind": "device", "value": device, "verdict": "allow", "note": "scripts/bench/http-load.sh"}, operator)
    print(f"device {device} is on the allow list", file=sys.stderr)
with open(out, "w") as f:
    for i in range(count):
        email = f"wrk-{run}-{i}@example.com"
        call("/v1/users", {"email": email, "password": "steady lantern river", "display_name": "Load Tester", "country": "CN"})
        token = call("/v1/sessions", {"login": email, "password": "steady lantern river", "device_id": device})["token"]
        call("/v1/topups", {"amount": 10_000_000, "currency": "CNY"}, token, f"fund-{run}-{i}")
        f.write(f"{token} {email}\n")
print(f"created {count} customers", file=sys.stderr)
PY
per=$(( connections / $# )); [ $per -ge 1 ] || per=1
pids=()
for url in "$@"; do
    wrk -t 1 -c $per -d ${duration}s --latency -s "$here/wrk-transfers.lua" "$url" -- "$work/customers.txt" > "$work/$(echo "$url" | tr -c 'a-z0-9' _).out" &
    pids+=($!)
done
wait "${pids[@]}"
total=0
for url in "$@"; do
    out="$work/$(echo "$url" | tr -c 'a-z0-9' _).out"
    rps=$(awk '/Requests\/sec/ {print $2}' "$out")
    echo "$url: $rps requests/s; $(grep -E '^p(50|90|99) ' "$out" | tr '\n' ' '); $(grep '^requests' "$out")"
    total=$(python3 -c "print(round($total + $rps, 1))")
done
echo "total: $total transfers/s over $connections connections"
