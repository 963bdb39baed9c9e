#!/usr/bin/env bash
# A PostgreSQL cluster of its own with TLS, for the tests: a self-signed CA
# and a server certificate for localhost and 127.0.0.1 (and a second,
# unrelated CA to be refused), in a temporary directory, on its own port.
# The shared server at 5432 is never touched.
#
#   bash tests/pg-tls.sh start DIR PORT   # prints the verify-full URL
#   bash tests/pg-tls.sh stop DIR
#   bash tests/pg-tls.sh suite            # the whole suite over TLS
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    local dir=$1 port=$2
    [ -x "$bin/initdb" ] || { echo "no PostgreSQL server binaries (initdb) found" >&2; exit 3; }
    mkdir -p "$dir"
    cd "$dir"
    # A CA, a server certificate it signs, and a CA that signed nothing.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.crt -days 2 -subj "/CN=Licensor test CA" 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout wrong-ca.key -out wrong-ca.crt -days 2 -subj "/CN=Someone else" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
        -out server.crt -days 2 -extfile server.ext 2>/dev/null
    chmod 0600 server.key
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir"; fi
    as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres > "$dir/initdb.log"
    cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1, 127.0.0.2'
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
fsync = off
CONF
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start > /dev/null
    echo "postgres://postgres@localhost:$port/postgres?sslmode=verify-full&sslrootcert=$dir/ca.crt"
}

stop() {
    local dir=$1
    [ -d "$dir/data" ] && as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate stop > /dev/null 2>&1 || true
}

case ${1:-} in
    start) start "$2" "$3" ;;
    stop) stop "$2" ;;
    suite)
        dir=$(mktemp -d)
        chmod 0755 "$dir"
        trap 'stop "$dir"; rm -rf "$dir"' EXIT
        url=$(start "$dir" "${PORT:-55432}")
        echo "the suite against $url"
        TEST_DATABASE_URL=$url cargo test --test api
        ;;
    *) echo "usage: $0 start DIR PORT | stop DIR | suite" >&2; exit 2 ;;
esac
