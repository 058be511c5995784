#!/usr/bin/env bash
# Regenerates every figure in BENCHMARKS.md (issue 7) with one command:
#
#   scripts/bench.sh            # measure; results in target/bench-results/report.md
#   scripts/bench.sh --write    # and replace the generated section of BENCHMARKS.md
#
# Builds the function binaries with `cargo lambda build --release` (x86_64, and arm64 through zig
# unless BENCH_ARM64=0), then runs the criterion micro-benchmarks, the vault bench, the per-event
# latency run (directly and through the 0.25 ms proxy, on each connection path: direct with named
# statements, unnamed calls of the event routines, through PgBouncer), the sustained load through PgBouncer (issue
# 16: 100 deliveries a second for 60 s from 20 instances, 4 server connections; needs pgbouncer),
# the cold-start/size/memory run and the reconcile run (the release `clerk-sync reconcile` against
# the fake Backend API). The database is a throwaway PostgreSQL cluster (see tests/src/postgres.rs)
# unless TEST_DATABASE_URL or DATABASE_URL names a server where the user may CREATE DATABASE.
#
# Knobs: BENCH_EVENTS (2000 per family), BENCH_WARMUP (200), BENCH_DELAYS_US (0,250),
# BENCH_PATHS (direct,routines,pgbouncer,pgbouncer-role), BENCH_BURST (1; 0 skips the sustained load),
# BENCH_BURST_SECONDS (60), BENCH_COLD_RUNS (20), BENCH_RSS_EVENTS (10000), BENCH_ARM64 (1; 0 skips the arm64 build),
# BENCH_SKIP_BUILD (0; 1 measures the binaries already in target/bench/), BENCH_RECONCILE (1; 0 skips
# the reconcile run), BENCH_REPORT_ONLY (0; 1 only reassembles the report from the results already
# in target/bench-results/).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${BENCH_RESULTS_DIR:-$ROOT/target/bench-results}
export BENCH_RESULTS_DIR=$OUT
X86=$ROOT/target/bench/lambda-x86_64
ARM=$ROOT/target/bench/lambda-arm64
FUNCTIONS=(clerk-users clerk-organizations clerk-memberships clerk-invitations clerk-domains clerk-roles sync-status seller-accounts clerk-replay)
WRITE=0
[[ ${1:-} == --write ]] && WRITE=1

mkdir -p "$OUT"
if [[ ${BENCH_REPORT_ONLY:-0} != 1 ]]; then
rm -f "$OUT"/*.md "$OUT"/*.json

if ! cargo lambda --version >/dev/null 2>&1; then
    echo "== installing cargo-lambda (pip)"
    pip install cargo-lambda
fi

packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); done

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    echo "== building the functions (x86_64)"
    cargo lambda build --release "${packages[@]}" --lambda-dir "$X86"
    # The references: bare lambda_http + svix, the same with the Secrets Manager client, and
    # clerk-users without it (bench/references/, a crate of their own so they get the functions' features).
    cargo lambda build --release -p clerk-sync-references --bin lambda-reference --bin lambda-reference-secrets \
        --bin clerk-users-no-secrets --lambda-dir "$X86"
    if [[ ${BENCH_ARM64:-1} == 1 ]]; then
        echo "== building the functions (arm64, through zig)"
        cargo lambda build --release --arm64 "${packages[@]}" --lambda-dir "$ARM"
    fi
fi
# arm64 sizes come from the last arm64 build there is.
[[ -f $ARM/clerk-users/bootstrap ]] && export BENCH_LAMBDA_DIR_ARM64=$ARM

echo "== micro-benchmarks"
cargo bench -p clerk-sync-bench --bench micro
cargo bench -p clerk-sync --bench vault

echo "== per-event latency against the floor (each connection path), sustained load through PgBouncer"
cargo bench -p clerk-sync-bench --bench latency

# The same run on a server that makes commits durable (fsync=on, synchronous_commit=on, as RDS
# does), which the harness's throwaway cluster does not: a second throwaway cluster (local-postgres,
# the launcher `clerk-sync dev` and the test harness use), removed after.
echo "== per-event latency, durable commits"
cargo run -q -p local-postgres -- --set fsync=on --set synchronous_commit=on -- \
    env BENCH_LATENCY_NAME=latency_durable BENCH_CRITERION=0 BENCH_BURST=0 BENCH_PATHS=direct,pgbouncer,pgbouncer-role \
    cargo bench -p clerk-sync-bench --bench latency

echo "== sizes, cold start, memory"
BENCH_LAMBDA_DIR=$X86 cargo bench -p clerk-sync-bench --bench functions

# Reconcile, backfill and repair: the release `clerk-sync reconcile --json`, a child process, against
# the fake Backend API (50 ms per request, 100,000 users, 10,000 organizations, 200,000
# memberships), on a throwaway cluster with the server's defaults (durable commits, as RDS) and
# pg_stat_statements loaded, for the time per statement.
if [[ ${BENCH_RECONCILE:-1} == 1 ]]; then
    echo "== reconcile: backfill and repair"
    # Built on its own, as an operator builds it (no feature of the bench's dependencies unified in).
    cargo build --release -p clerk-sync-cli
    cargo build --release -p clerk-sync-bench --bin reconcile-bench
    cargo run -q -p local-postgres -- --set shared_preload_libraries=pg_stat_statements -- \
        "$ROOT/target/release/reconcile-bench" --binary "$ROOT/target/release/clerk-sync"
fi

fi # BENCH_REPORT_ONLY

# criterion's means (target/criterion/<group>/<bench>/new/estimates.json) as tables.
python3 - "$ROOT/target/criterion" "$OUT/micro.md" <<'PY'
import json, pathlib, sys

root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

def fmt(ns):
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"

rows = []
def natural(path):
    name = path.parent.parent.name
    digits = "".join(c for c in name if c.isdigit())
    return (int(digits) if digits and name[0].isdigit() else 0, name)

for group in ("verify_signature", "parse_and_plan", "vault_1KiB", "vault_first_use", "deliver"):
    for est in sorted((root / group).glob("*/new/estimates.json"), key=natural):
        bench = est.parent.parent.relative_to(root / group).as_posix()
        mean = json.loads(est.read_text())["mean"]["point_estimate"]
        info = json.loads((est.parent / "benchmark.json").read_text())
        throughput = info.get("throughput") or {}
        rate = ""
        if "Bytes" in throughput:
            rate = f"{throughput['Bytes'] / mean * 1e9 / 2**20:.0f} MiB/s"
        rows.append(f"| {group} | {bench} | {fmt(mean)} | {rate} |")
out.write_text("| group | benchmark | mean | throughput |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
PY

{
    echo "Measured on: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r),"
    echo "$(rustc -V), $(pg_config --version 2>/dev/null || echo 'PostgreSQL (see the tables)'); $(date -u +%Y-%m-%d)."
    echo
    echo "### Per-event latency (\`cargo bench -p clerk-sync-bench --bench latency\`)"
    echo
    cat "$OUT/latency.md"
    echo
    echo "The same on a server with durable commits (\`fsync=on\`, \`synchronous_commit=on\`, as RDS; direct and through PgBouncer):"
    echo
    cat "$OUT/latency_durable.md"
    echo
    if [[ -f $OUT/pooler_burst.md ]]; then
        echo "### Sustained load through PgBouncer (\`cargo bench -p clerk-sync-bench --bench latency\`, issue 16)"
        echo
        cat "$OUT/pooler_burst.md"
        echo
    fi
    echo "### Cold start (\`BENCH_LAMBDA_DIR=target/bench/lambda-x86_64 cargo bench -p clerk-sync-bench --bench functions\`)"
    echo
    cat "$OUT/cold_start.md"
    echo
    cat "$OUT/cold_start_no_tls.md"
    echo
    echo "### Binary sizes (\`cargo lambda build --release [--arm64]\`)"
    echo
    cat "$OUT/sizes.md"
    echo
    echo "### Memory"
    echo
    cat "$OUT/memory.md"
    echo
    if [[ -f $OUT/reconcile.md ]]; then
        echo "### Reconcile (backfill and repair)"
        echo
        echo "Reproduce: \`cargo build --release -p clerk-sync-cli\`, \`cargo build --release -p clerk-sync-bench --bin reconcile-bench\`, then \`cargo run -p local-postgres -- --set shared_preload_libraries=pg_stat_statements -- target/release/reconcile-bench --binary target/release/clerk-sync\` (what \`scripts/bench.sh\` runs; \`BENCH_RECONCILE=0\` skips it)."
        echo
        cat "$OUT/reconcile.md"
        echo
    fi
    echo "### Micro-benchmarks (criterion means; \`--bench micro\`, \`-p clerk-sync --bench vault\`, \`--bench latency\`)"
    echo
    cat "$OUT/micro.md"
} >"$OUT/report.md"

if [[ $WRITE == 1 ]]; then
    python3 - "$ROOT/BENCHMARKS.md" "$OUT/report.md" <<'PY'
import pathlib, sys

doc, report = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
begin, end = "<!-- bench.sh:begin -->", "<!-- bench.sh:end -->"
text = doc.read_text()
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
doc.write_text(f"{head}{begin}\n{report}{end}{tail}")
PY
    echo "== BENCHMARKS.md updated"
fi
echo "== report: $OUT/report.md"
cat "$OUT/report.md"
