#!/usr/bin/env bash
# Measures the performance targets of docs/performance.md on this machine,
# each side by side: A and B alternate three times, and the median ratio is
# reported (these machines drift by +-15% between runs).
#
#   bash load/targets.sh [all|sqlite|postgres|activation|machines|signins|limiter|scale|ttl|import|console]
#   bash load/targets.sh builds OTHER_LICENSOR_BINARY   (this build against another)
#
# Needs PostgreSQL at 127.0.0.1:5432 (trust auth) for `postgres`. Servers
# run from release builds on loopback with the production log level (every
# request logged, as JSON, to /dev/null) and response signatures on.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHAT=${1:-all}
SECS=${SECS:-5}
USERS=${USERS:-64}
LICENSES=${LICENSES:-100000}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
env -u CARGO_TARGET_DIR cargo build --release --quiet --manifest-path "$ROOT/load/Cargo.toml"
LICENSOR=${CARGO_TARGET_DIR:-$ROOT/target}/release/licensor
LOAD=$ROOT/load/target/release/licensor-load
WORK=$(mktemp -d)
SERVERS=()
cleanup() {
    for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }

# seed NAME DATABASE_URL COUNT [SEED_ARGS...]: a data dir with COUNT
# licenses.
seed() {
    local dir=$WORK/$1 url=$2 count=$3
    shift 3
    mkdir -p "$dir"
    LICENSOR_DATA_DIR=$dir LICENSOR_DATABASE_URL=$url \
        "$LICENSOR" seed --licenses "$count" --keys-out "$dir/keys.txt" "$@" > "$dir/seed.json"
}

# serve NAME DATABASE_URL PORT [ENV=VALUE...]: starts a server; waits for it.
serve() {
    local name=$1 url=$2 port=$3
    shift 3
    # A server already on the port would answer in this one's place.
    if curl -s "http://127.0.0.1:$port/healthz" > /dev/null; then
        echo "port $port is taken: stop what listens there first" >&2
        exit 1
    fi
    env LICENSOR_DATA_DIR="$WORK/$name" LICENSOR_DATABASE_URL="$url" \
        LICENSOR_LISTEN="127.0.0.1:$port" LICENSOR_LOG_FORMAT=json \
        LICENSOR_API_RATE_LIMIT_IP=0 LICENSOR_API_RATE_LIMIT_KEY=0 \
        LICENSOR_RATE_LIMIT_SIGN_IN_IP=0 LICENSOR_RATE_LIMIT_SIGN_IN_ACCOUNT=0 \
        LICENSOR_DATABASE_MAX_CONNECTIONS=10 "$@" \
        "$LICENSOR" serve > /dev/null 2>&1 &
    SERVERS+=($!)
    echo $! > "$WORK/$name.$port.pid"
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && return 0
        sleep 0.2
    done
    echo "server $name on $port did not start" >&2
    exit 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$WORK/$1.pid")/stat"; }

# cpu_per_request NAME PORT SCENARIO: what one request costs the server and
# the load tool in CPU microseconds (both share the 2 cores), over a run.
cpu_per_request() {
    local name=$1 port=$2 scenario=$3 before after n client
    before=$(cpu_ticks "$name.$port")
    client=$( { TIMEFORMAT='%3U %3S'; time load "$name" "$port" run "$scenario" --users "$USERS" --secs "$SECS" > "$WORK/cpu.txt"; } 2>&1 )
    after=$(cpu_ticks "$name.$port")
    # Rows read "  GET /healthz COUNT ...": every request of the run.
    n=$(awk '/^  (GET|POST) / {n += $3} END {print n + 0}' "$WORK/cpu.txt")
    python3 -c "
n = max($n, 1)
server = ($after - $before) / $(getconf CLK_TCK) * 1e6 / n
client = sum(map(float, '$client'.split())) * 1e6 / n
print(f'  $scenario: {n} requests, per request {server:.1f} us in the server, {client:.1f} us in the load tool')"
}

rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$(cat "$WORK/$1.pid")/status"; }

# load NAME PORT ARGS...: licensor-load against a server seeded as NAME.
load() {
    local name=$1 port=$2
    shift 2
    LOAD_HOST="http://127.0.0.1:$port" LOAD_KEYS_FILE="$WORK/$name/keys.txt" \
        LOAD_API_TOKEN=$(jq -r .api_token "$WORK/$name/seed.json") \
        LOAD_LICENSE_TYPE_ID=$(jq -r .license_type_id "$WORK/$name/seed.json") \
        LOAD_PRODUCT=$(jq -r .product "$WORK/$name/seed.json") \
        LOAD_FIRST_LICENSE_MACHINES=$(jq -r .first_license_machines "$WORK/$name/seed.json") \
        LOAD_SIGNIN_EMAIL=load-staff@example.com LOAD_SIGNIN_PASSWORD='Correct-Horse-Battery-9' \
        "$LOAD" "$@" 2> /dev/null
}

throughput() { awk '/throughput/ {print $2}'; }
p99_of() { awk -v req="$1" '$0 ~ req && $NF ~ /^[0-9.]+$/ {print $NF; exit}'; }

# median of ratios b/a over ROUNDS rounds (3, or the fourth argument); A and
# B are functions printing a number.
ab() {
    local label=$1 a=$2 b=$3 rounds=${4:-3} ratios=()
    for round in $(seq "$rounds"); do
        local x y
        x=$($a)
        y=$($b)
        local r
        r=$(python3 -c "print(f'{$y/$x:.3f}')")
        printf '  round %d: %-28s %10s   %-28s %10s   ratio %s\n' "$round" "$a" "$x" "$b" "$y" "$r"
        ratios+=("$r")
    done
    printf '  %s: median ratio %s\n' "$label" \
        "$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$((rounds / 2 + 1))p")"
}

sqlite_targets() {
    say "SQLite, $LICENSES licenses: validation vs /healthz at $USERS connections"
    seed sqlite "sqlite://$WORK/sqlite/licensor.db" "$LICENSES"
    serve sqlite "sqlite://$WORK/sqlite/licensor.db" 18080
    load sqlite 18080 run warm --users "$USERS" | throughput | sed 's/^/  warm-up pass, validations\/s: /'
    load sqlite 18080 compare healthz validate --users "$USERS" --secs "$SECS"
    say "SQLite: CPU per request (server and load tool on the same 2 cores)"
    cpu_per_request sqlite 18080 healthz
    cpu_per_request sqlite 18080 validate
    local healthz_max
    healthz_max=$(load sqlite 18080 run healthz --users "$USERS" --secs "$SECS" | throughput)
    local rate
    rate=$(python3 -c "print(int($healthz_max / 2))")
    say "SQLite: p99 at a fixed $rate requests/s (half of /healthz's $healthz_max), $USERS connections"
    load sqlite 18080 compare healthz validate --users "$USERS" --secs "$SECS" --rate "$rate"
    # Fewer connections queue less in the load tool at the same rate.
    say "SQLite: the same rate over $((USERS / 2)) connections"
    load sqlite 18080 compare healthz validate --users $((USERS / 2)) --secs "$SECS" --rate "$rate"
    # A diagnostic: goose's throttle frees each 10 ms's requests at once;
    # --paced spreads them evenly (docs/performance.md, "The p99 target").
    say "SQLite: the same rate over $((USERS / 2)) connections, evenly spaced (--paced)"
    load sqlite 18080 compare healthz validate --users $((USERS / 2)) --secs "$SECS" --rate "$rate" --paced
    say "SQLite: resident memory of the server after these runs"
    echo "  VmHWM $(rss_kb sqlite.18080) kB"
}

limiter_targets() {
    say "Rate limiter: validation with the limiter on (per IP 10,000,000/min, per key 120/min: none refused) vs off"
    serve sqlite "sqlite://$WORK/sqlite/licensor.db" 18081 \
        LICENSOR_API_RATE_LIMIT_IP=10000000 LICENSOR_API_RATE_LIMIT_KEY=120
    load sqlite 18081 run warm --users "$USERS" > /dev/null
    off() { load sqlite 18080 run validate --users "$USERS" --secs "$SECS" | throughput; }
    on() { load sqlite 18081 run validate --users "$USERS" --secs "$SECS" | throughput; }
    ab "limiter on / off" off on
}

signin_targets() {
    say "Validation while 10 sign-ins per second run (argon2id off the workers) vs without"
    printf 'Correct-Horse-Battery-9\n' | LICENSOR_DATA_DIR="$WORK/sqlite" \
        LICENSOR_DATABASE_URL="sqlite://$WORK/sqlite/licensor.db" \
        "$LICENSOR" admin create --email load-staff@example.com --role support > /dev/null
    alone() { load sqlite 18080 run validate --users "$USERS" --secs "$SECS" | throughput; }
    with_signins() {
        # Two requests per sign-in (the form, then the POST): 20 requests/s.
        load sqlite 18080 run signin --users 4 --rate 20 --secs $((SECS + 4)) > "$WORK/signins.txt" &
        local bg=$!
        sleep 2
        load sqlite 18080 run validate --users "$USERS" --secs "$SECS" | throughput
        wait $bg
    }
    ab "with sign-ins / alone" alone with_signins
    sed 's/^/  last sign-in run: /' "$WORK/signins.txt" | grep -E "sign in|throughput" || true
}

activation_targets() {
    say "Activation throughput vs a bare SQLite write transaction (synchronous=FULL, the default)"
    bare() {
        (cd "$ROOT" && cargo bench --quiet --bench sqlite_write -- "$SECS" 2> /dev/null) |
            awk '/synchronous=FULL/ {sub("/s", "", $NF); print $NF}'
    }
    act() { load sqlite 18080 run activate --users "$USERS" --secs "$SECS" | throughput; }
    ab "activations / bare write transactions" bare act
    say "Onboarding: assignment through the API, activation, first validation ($USERS users)"
    load sqlite 18080 run onboard --users "$USERS" --secs "$SECS"
}

# machines: activations on one license with 10, 1,000 and 50,000 live
# machines, each round on fresh copies of the three seeded databases (the
# runs add machines); then activations of other licenses while one license
# takes activations, with 10 or 50,000 live machines on it.
machines_targets() {
    local users=${ACT_USERS:-8} counts=(10 1000 50000)
    say "Activations on one license with ${counts[*]} live machines (SQLite, $users connections, ${SECS} s, fresh copies each round)"
    for n in "${counts[@]}"; do
        seed "m$n" "sqlite://$WORK/m$n/licensor.db" 1000 --first-license-machines "$n"
    done
    # fresh NAME N: a copy of the database seeded with N machines, served.
    fresh() {
        rm -rf "${WORK:?}/$1"
        cp -a "$WORK/m$2" "$WORK/$1"
        serve "$1" "sqlite://$WORK/$1/licensor.db" 18087
    }
    stop() {
        kill "$(cat "$WORK/$1.18087.pid")"
        while curl -s http://127.0.0.1:18087/healthz > /dev/null; do sleep 0.2; done
    }
    local spreads=()
    for round in 1 2 3; do
        local rates=()
        for n in "${counts[@]}"; do
            fresh run "$n"
            rates+=("$(load run 18087 run activate-one --users "$users" --secs "$SECS" | throughput)")
            stop run
        done
        spreads+=("$(python3 -c "r = [$(IFS=,; echo "${rates[*]}")]; print(f'{max(r) / min(r):.3f}')")")
        printf '  round %d: activations/s at %s machines: %s   fastest / slowest %s\n' \
            "$round" "${counts[*]}" "${rates[*]}" "${spreads[-1]}"
    done
    printf '  fastest / slowest: median %s\n' "$(printf '%s\n' "${spreads[@]}" | sort -n | sed -n 2p)"

    say "Validations of one license's machines at random, with 50,000 live machines on it / with 10 ($USERS connections, after a pass that looks each up once)"
    valid_one() {
        fresh run "$1"
        load run 18087 run validate-one --users "$USERS" --secs $((SECS * 2)) > /dev/null
        load run 18087 run validate-one --users "$USERS" --secs "$SECS" | throughput
        stop run
    }
    valid_small() { valid_one 10; }
    valid_large() { valid_one 50000; }
    ab "validations/s, 50,000 machines / 10" valid_small valid_large

    say "Activations of other licenses ($((users / 2)) connections) while one license takes activations ($((users / 2)) connections): with 50,000 machines on it / with 10"
    others() {
        fresh run "$1"
        load run 18087 run activate-one --users $((users / 2)) --secs $((SECS + 2)) > /dev/null &
        local hammer=$!
        sleep 1
        load run 18087 run activate --users $((users / 2)) --secs "$SECS" | throughput
        wait $hammer
        stop run
    }
    beside_small() { others 10; }
    beside_large() { others 50000; }
    ab "other licenses' activations/s, beside 50,000 / beside 10" beside_small beside_large
}

postgres_targets() {
    say "PostgreSQL, $LICENSES licenses: validation vs /healthz at $USERS connections"
    local db
    db=licensor_load_$$
    psql "$PG_ADMIN" -qc "CREATE DATABASE $db" > /dev/null
    local url=${PG_ADMIN%/*}/$db
    seed postgres "$url" "$LICENSES"
    serve postgres "$url" 18082
    load postgres 18082 run warm --users "$USERS" | throughput | sed 's/^/  warm-up pass, validations\/s: /'
    load postgres 18082 compare healthz validate --users "$USERS" --secs "$SECS"
    kill "$(cat "$WORK/postgres.18082.pid")"
    sleep 1
    psql "$PG_ADMIN" -qc "DROP DATABASE $db WITH (FORCE)" > /dev/null
}

scale_targets() {
    say "Validation latency with 1,000,000 licenses vs 1,000 (SQLite, 1,000 requests/s, keys at random)"
    seed small "sqlite://$WORK/small/licensor.db" 1000
    seed large "sqlite://$WORK/large/licensor.db" 1000000
    # The cache pass goes first, sized to hold every license (as
    # docs/deploy.md advises): its warm-up validates every key once, so
    # that in both passes the licenses have been validated before, as in a
    # running deployment (a license's first validation also marks it).
    # Entries stay until a change drops them (no TTL, the default).
    for cache in 1000000 0; do
        serve small "sqlite://$WORK/small/licensor.db" 18083 LICENSOR_LICENSE_CACHE_ENTRIES=$cache
        serve large "sqlite://$WORK/large/licensor.db" 18084 LICENSOR_LICENSE_CACHE_ENTRIES=$cache
        if [ "$cache" != 0 ]; then
            load small 18083 run warm --users "$USERS" > /dev/null
            load large 18084 run warm --users "$USERS" > /dev/null
        fi
        echo "  license_cache_entries=$cache:"
        # p99s of a few ms at a light rate swing between rounds: five
        # rounds of at least 10 s each.
        local secs=$((SECS > 10 ? SECS : 10))
        small_p() { load small 18083 run validate --users 16 --rate 1000 --secs "$secs" | p99_of "POST validate"; }
        large_p() { load large 18084 run validate --users 16 --rate 1000 --secs "$secs" | p99_of "POST validate"; }
        ab "p99 1M / 1k" small_p large_p 5
        echo "  large server VmHWM $(rss_kb large.18084) kB"
        kill "$(cat "$WORK/small.18083.pid")" "$(cat "$WORK/large.18084.pid")"
        sleep 1
    done
}

ttl_targets() {
    say "A 300 s TTL against the change feed with no TTL: 1,000,000 licenses cached vs 1,000, past the TTL"
    seed small "sqlite://$WORK/small/licensor.db" 1000
    seed large "sqlite://$WORK/large/licensor.db" 1000000
    cp -a "$WORK/large" "$WORK/large_ttl"
    serve small "sqlite://$WORK/small/licensor.db" 18083 LICENSOR_LICENSE_CACHE_ENTRIES=1000000
    serve large "sqlite://$WORK/large/licensor.db" 18084 LICENSOR_LICENSE_CACHE_ENTRIES=1000000
    serve large_ttl "sqlite://$WORK/large_ttl/licensor.db" 18085 \
        LICENSOR_LICENSE_CACHE_ENTRIES=1000000 LICENSOR_LICENSE_CACHE_TTL_SECS=300
    local start
    start=$(date +%s)
    load small 18083 run warm --users "$USERS" > /dev/null
    load large_ttl 18085 run warm --users "$USERS" > /dev/null
    load large 18084 run warm --users "$USERS" > /dev/null
    # Rounds begin once the TTL server's first entries have expired, as in
    # a server that has run for a while.
    while [ $(($(date +%s) - start)) -lt 320 ]; do sleep 5; done
    p99() { load "$1" "$2" run validate --users 16 --rate 1000 --secs 10 | p99_of "POST validate"; }
    local ttl_ratios=() feed_ratios=()
    for round in 1 2 3 4 5; do
        local s t f
        s=$(p99 small 18083)
        t=$(p99 large_ttl 18085)
        f=$(p99 large 18084)
        ttl_ratios+=("$(python3 -c "print(f'{$t/$s:.3f}')")")
        feed_ratios+=("$(python3 -c "print(f'{$f/$s:.3f}')")")
        printf '  round %d: 1k %s ms   1M TTL 300 s %s ms (%s)   1M feed %s ms (%s)\n' \
            "$round" "$s" "$t" "${ttl_ratios[-1]}" "$f" "${feed_ratios[-1]}"
    done
    median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
    echo "  p99 1M / 1k: median ratio with TTL 300 s $(median "${ttl_ratios[@]}"), with the feed $(median "${feed_ratios[@]}")"
    echo "  VmHWM: 1M feed $(rss_kb large.18084) kB, 1M TTL $(rss_kb large_ttl.18085) kB, 1k $(rss_kb small.18083) kB"
}

# fresh_pg_database NAME: drops and creates it on the local server; prints
# its URL.
fresh_pg_database() {
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $1" postgres 2>/dev/null
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $1" postgres
    echo "postgres://postgres@127.0.0.1:5432/$1"
}

# import_targets: `licensor import licenses` of a 100,000-row CSV (keys in a
# vendor's own format, a third with a customer email, a fifth with a
# machine, entitlements and metadata), timed as a dry run, a real run and a
# second run of the same file (nothing new), on SQLite then PostgreSQL.
import_targets() {
    local rows=${IMPORT_ROWS:-100000}
    say "Importing $rows licenses from CSV (target: under 60 s on SQLite)"
    python3 - "$rows" > "$WORK/licenses.csv" <<'PY'
import sys
rows = int(sys.argv[1])
print("key,customer_email,organization,product,license_type,seats,entitlements,issued_at,expires_at,machines,metadata")
for i in range(rows):
    email = f"customer{i}@example.com" if i % 3 == 0 else ""
    org = f"Customer {i}" if email else ""
    extra = i % 5 == 0
    machines = f"import-{i}-a|Desk" if extra else ""
    ents = "pro" if extra else ""
    meta = f"crm=C-{i};region=eu" if extra else ""
    print(f"VENDOR-{i:08d}-KEY,{email},{org},load,Load,3,{ents},2025-06-01,2030-06-01,{machines},{meta}")
PY
    local url
    for backend in sqlite postgres; do
        if [ "$backend" = sqlite ]; then
            url="sqlite://$WORK/import_sqlite/licensor.db"
        else
            url=$(fresh_pg_database licensor_import)
        fi
        seed "import_$backend" "$url" 1
        for run in "--dry-run" "" ""; do
            local start end
            start=$(date +%s.%N)
            LICENSOR_DATA_DIR=$WORK/import_$backend LICENSOR_DATABASE_URL=$url \
                "$LICENSOR" import licenses "$WORK/licenses.csv" $run > "$WORK/import.out"
            end=$(date +%s.%N)
            printf '  %-8s %-9s %6.1f s  %s\n' "$backend" "${run:-import}" \
                "$(python3 -c "print($end - $start)")" "$(cat "$WORK/import.out")"
        done
    done
}

# console_targets: the console at scale (1,000,000 licenses and customers,
# 10,000,000 audit events by default), on SQLite then PostgreSQL: search,
# a license page, the audit log filtered and the dashboard, timed by
# load/console.py as an admin signed in.
console_targets() {
    local licenses=${CONSOLE_LICENSES:-1000000} events=${CONSOLE_EVENTS:-10000000}
    local password="console benchmark passphrase 2026" port=18090 url samples
    for backend in sqlite postgres; do
        say "Console, $backend: $licenses licenses and customers, $events audit events (targets: search and a license page p99 < 100 ms, the audit log filtered < 200 ms, the dashboard < 1 s)"
        if [ "$backend" = sqlite ]; then
            url="sqlite://$WORK/console_sqlite/licensor.db"
        else
            url=$(fresh_pg_database licensor_console)
        fi
        local start
        start=$(date +%s)
        seed "console_$backend" "$url" "$licenses" --customers "$licenses" --events "$events"
        echo "  seeded in $(($(date +%s) - start)) s"
        echo "$password" | LICENSOR_DATA_DIR=$WORK/console_$backend LICENSOR_DATABASE_URL=$url \
            "$LICENSOR" admin create --email admin@vendor.example --role admin > /dev/null
        samples=$WORK/console_$backend/samples.tsv
        local query="SELECT l.id, o.name, u.email, l.key_last4 FROM licenses l \
            JOIN organizations o ON o.id = l.organization_id JOIN users u ON u.organization_id = o.id \
            ORDER BY random() LIMIT 500"
        if [ "$backend" = sqlite ]; then
            python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); \
print('\n'.join('\t'.join(r) for r in db.execute(sys.argv[2])))" \
                "$WORK/console_sqlite/licensor.db" "$query" > "$samples"
        else
            psql -At -F $'\t' -h 127.0.0.1 -U postgres -c "$query" licensor_console > "$samples"
        fi
        serve "console_$backend" "$url" "$port"
        python3 "$ROOT/load/console.py" "http://127.0.0.1:$port" admin@vendor.example "$password" "$samples"
        port=$((port + 1))
    done
}

# builds OTHER: this build against another build of licensor (e.g. the
# previous commit's, built into another target directory), each serving its
# own copy of one seeded database: validation's p99 at the fixed rate of the
# p99 target (half of /healthz's maximum, over half the connections),
# alternated, and what a validation costs each server in CPU.
builds_targets() {
    local other=${1:?"usage: targets.sh builds PATH_TO_OTHER_LICENSOR_BINARY"}
    say "This build vs $other: SQLite, $LICENSES licenses, validation p99 at half of /healthz's rate"
    seed sqlite "sqlite://$WORK/sqlite/licensor.db" "$LICENSES"
    cp -a "$WORK/sqlite" "$WORK/other"
    serve sqlite "sqlite://$WORK/sqlite/licensor.db" 18080
    LICENSOR=$other serve other "sqlite://$WORK/other/licensor.db" 18086
    load sqlite 18080 run warm --users "$USERS" > /dev/null
    load other 18086 run warm --users "$USERS" > /dev/null
    local healthz_max rate
    healthz_max=$(load sqlite 18080 run healthz --users "$USERS" --secs "$SECS" | throughput)
    rate=$(python3 -c "print(int($healthz_max / 2))")
    echo "  fixed rate $rate requests/s (half of /healthz's $healthz_max), $((USERS / 2)) connections"
    that_build() { load other 18086 run validate --users $((USERS / 2)) --secs "$SECS" --rate "$rate" | p99_of "POST validate"; }
    this_build() { load sqlite 18080 run validate --users $((USERS / 2)) --secs "$SECS" --rate "$rate" | p99_of "POST validate"; }
    ab "validation p99 this build / other" that_build this_build
    say "CPU per validation, at $USERS connections"
    for round in 1 2; do
        echo "  round $round, other:"
        cpu_per_request other 18086 validate
        echo "  round $round, this build:"
        cpu_per_request sqlite 18080 validate
    done
}

case $WHAT in
    all) sqlite_targets; limiter_targets; signin_targets; activation_targets; machines_targets; postgres_targets; scale_targets ;;
    sqlite) sqlite_targets ;;
    limiter) sqlite_targets; limiter_targets ;;
    signins) sqlite_targets; signin_targets ;;
    activation) sqlite_targets; activation_targets ;;
    machines) machines_targets ;;
    postgres) postgres_targets ;;
    scale) scale_targets ;;
    ttl) ttl_targets ;;
    import) import_targets ;;
    console) console_targets ;;
    builds) builds_targets "${2:-}" ;;
    *) echo "unknown target set $WHAT" >&2; exit 2 ;;
esac
