#!/usr/bin/env bash
# The card's local workflow, end to end with the real cargo-lambda (README: Invoking locally):
# `cargo lambda watch` serving the workspace, `cargo lambda invoke` of each webhook function with a
# freshly signed sample event (events/payloads/), and of sync-status with a session token; every
# answer must be 200. Needs a PostgreSQL where the user may CREATE DATABASE in TEST_DATABASE_URL
# (run it under `target/debug/local-postgres --`), and cargo-lambda on PATH (`pip install
# cargo-lambda`). Bounded: every step has a timeout; the whole run is one `timeout` in .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

: "${TEST_DATABASE_URL:?run under target/debug/local-postgres --}"
command -v cargo-lambda >/dev/null || { echo "cargo-lambda is not installed"; exit 2; }
CLI=$ROOT/target/debug/clerk-sync
[ -x "$CLI" ] || cargo build -q -p clerk-sync-cli

WORK=$(mktemp -d)
WATCH_PID=
cleanup() {
    if [ -n "$WATCH_PID" ]; then
        kill -- "-$WATCH_PID" 2>/dev/null || kill "$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A database of its own, migrated.
DB=smoke_$(date +%s)_$$
psql "$TEST_DATABASE_URL" -qc "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL=${TEST_DATABASE_URL%/*}/$DB
"$CLI" migrate >/dev/null

# The functions' settings: the development signing secret, a session key pair from the test
# fixtures (its private half where `clerk-sync token` looks for it).
export CLERK_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
export SKIP_DB_MIGRATIONS=true
export CLERK_SYNC_DEV_DIR=$WORK/dev
mkdir -p "$CLERK_SYNC_DEV_DIR"
cp tests/fixtures/session-keys/k1.private.pem "$CLERK_SYNC_DEV_DIR/session-key.pem"
cp tests/fixtures/session-keys/k1.public.pem "$CLERK_SYNC_DEV_DIR/session-key.pub.pem"
CLERK_JWT_KEY=$(cat tests/fixtures/session-keys/k1.public.pem)
export CLERK_JWT_KEY

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== cargo lambda watch on 127.0.0.1:$PORT"
setsid cargo lambda watch -A 127.0.0.1 -P "$PORT" >"$WORK/watch.log" 2>&1 &
WATCH_PID=$!
for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then break; fi
    sleep 1
done

# Invokes `function` with the event in `file`; the answer must be a 200. The first invoke of a
# function builds it (cargo's cache is warm after the test run).
invoke() {
    local function=$1 file=$2 out
    out=$(timeout 300 cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$PORT" \
        --data-file "$file" 2>&1) || { echo "$function: invoke failed: $out"; tail -20 "$WORK/watch.log"; exit 1; }
    if ! grep -q '"statusCode": *200' <<<"$out"; then
        echo "$function: not answered 200: $out"
        exit 1
    fi
    echo "ok: $function $(basename "$file" .event.json): 200"
}

# One sample per family, in an order that makes the member, the organization and the
# membership exist for the session below.
for pair in \
    clerk-users:user.created \
    clerk-organizations:organization.created \
    clerk-memberships:organizationMembership.created \
    clerk-invitations:organizationInvitation.created \
    clerk-domains:organizationDomain.created \
    clerk-roles:permission.created \
    clerk-roles:role.created; do
    function=${pair%%:*} type=${pair#*:}
    "$CLI" sign "events/payloads/$type.json" -o "$WORK/$type.event.json"
    invoke "$function" "$WORK/$type.event.json"
done

# sync-status, as the signed-in admin of the sample organization.
USER_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["id"])' events/payloads/user.created.json)
ORG_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["id"])' events/payloads/organization.created.json)
TOKEN=$("$CLI" token --user "$USER_ID" --org "$ORG_ID" --role org:admin)
python3 - "$TOKEN" >"$WORK/sync-status.event.json" <<'EOF'
import json, sys, time
print(json.dumps({
    "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
    "headers": {"accept": "application/json", "authorization": "Bearer " + sys.argv[1]},
    "requestContext": {
        "accountId": "anonymous", "apiId": "smoke", "domainName": "smoke.lambda-url.us-east-1.on.aws",
        "domainPrefix": "smoke",
        "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "smoke"},
        "requestId": "smoke", "routeKey": "$default", "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "timeEpoch": int(time.time() * 1000),
    },
    "isBase64Encoded": False,
}))
EOF
invoke sync-status "$WORK/sync-status.event.json"
echo "ok: the local workflow answers every function"
