#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine with dpkg, starts
# the packaged binary as the service user with the packaged configuration
# (no systemd here: the unit's command, run by hand), checks /readyz, and
# removes the package. Needs root, dpkg and cargo-deb 3.8.
#
#   bash packaging/test-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-deb: $*" >&2; exit 1; }

cargo deb --locked
deb=$(ls -t target/debian/licensor_*.deb | head -n1)
echo "built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
dpkg-deb --contents "$deb" | awk '{print $1, $2, $6}'

# A machine that had the package before: start from nothing of it (a purge
# forgets its conffiles too; after a remove, dpkg would keep a deleted
# configuration deleted).
dpkg --purge licensor >/dev/null 2>&1 || true
rm -rf /var/lib/licensor /etc/licensor
dpkg -i "$deb"

id licensor
[ "$(stat -c '%U:%G %a' /var/lib/licensor)" = "licensor:licensor 750" ] \
    || fail "/var/lib/licensor is $(stat -c '%U:%G %a' /var/lib/licensor)"
[ "$(stat -c '%U:%G %a' /etc/licensor/secret.key)" = "licensor:licensor 600" ] \
    || fail "the secret is $(stat -c '%U:%G %a' /etc/licensor/secret.key)"
[ "$(stat -c '%U:%G %a' /etc/licensor/licensor.toml)" = "root:licensor 640" ] \
    || fail "the configuration is $(stat -c '%U:%G %a' /etc/licensor/licensor.toml)"
[ -f /lib/systemd/system/licensor.service ] || [ -f /usr/lib/systemd/system/licensor.service ] \
    || fail "no systemd unit"
secret_before=$(sha256sum /etc/licensor/secret.key)

# The unit's command as the unit runs it. The packaged configuration
# listens on 127.0.0.1:8080; another port is given only if that is taken.
port=8080
if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    port=18097
fi
settings=(LICENSOR_CONFIG=/etc/licensor/licensor.toml)
[ "$port" = 8080 ] || settings+=("LICENSOR_LISTEN=127.0.0.1:$port")
log=$(mktemp)
runuser -u licensor -- env "${settings[@]}" /usr/bin/licensor serve >"$log" 2>&1 &
server=$!
ready=""
for _ in $(seq 1 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; then
        ready=yes
        break
    fi
    sleep 0.2
done
[ -n "$ready" ] || { cat "$log"; kill "$server" 2>/dev/null; fail "/readyz never answered 200"; }
echo "the packaged server answers /readyz on port $port as user licensor"
[ -f /var/lib/licensor/licensor.db ] || fail "no database in /var/lib/licensor"
[ "$(stat -c '%U' /var/lib/licensor/licensor.db)" = licensor ] || fail "the database is not the service user's"
# SIGTERM to the server itself (runuser would pass the signal on and die
# of it): it drains and exits 0, which runuser returns.
pkill -TERM -u licensor -x licensor
wait "$server" || fail "the server did not stop cleanly (exit $?)"

# Reinstalling keeps the secret, also after the configuration was deleted.
dpkg -i "$deb" >/dev/null
[ "$(sha256sum /etc/licensor/secret.key)" = "$secret_before" ] || fail "a reinstall replaced the secret"
rm /etc/licensor/licensor.toml
dpkg -i "$deb" >/dev/null || fail "a reinstall after the configuration was deleted failed"

dpkg -r licensor
[ ! -e /usr/bin/licensor ] || fail "/usr/bin/licensor is still there"
[ -f /etc/licensor/secret.key ] && [ -d /var/lib/licensor ] || fail "a remove took the data or the secret"
echo "removed; /var/lib/licensor and the secret are kept, as docs/deploy.md says"
dpkg --purge licensor >/dev/null
[ -f /etc/licensor/secret.key ] || fail "a purge took the secret"
rm -rf /var/lib/licensor /etc/licensor
