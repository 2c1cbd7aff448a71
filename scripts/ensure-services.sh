#!/usr/bin/env bash
# Makes sure the local services the tests and `techpotli dev` talk to are up:
#   - Redis   on 127.0.0.1:6379 (keeps nothing on disk)
#   - MariaDB on 127.0.0.1:3306, with the project's own login
#       user techpotli, password techpotli, all privileges on the databases `techpotli%`
#     (DATABASE_URL=mysql://techpotli:techpotli@127.0.0.1:3306/techpotli). Root keeps whatever
#     authentication the machine gave it (Debian: unix_socket only).
# Works on a machine where they were never installed (apt-get), where they are installed but
# stopped, and where they already run. Idempotent, and silent when everything is already up.
# Needs root for the install, the start and the one-time user creation.
set -euo pipefail

readonly WAIT_SECONDS=30
readonly DB_USER=techpotli
readonly DB_PASSWORD=techpotli
# Test databases are named techpotli_<something>; the pattern covers them and `techpotli`.
readonly DB_PATTERN='techpotli%'
readonly MARIADB_LOG=/var/log/mysql/ensure-services.err

log() { printf 'ensure-services: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

apt_updated=0
apt_install() {
    [ "$(id -u)" -eq 0 ] || die "$* is not installed and installing it needs root (apt-get install $*)"
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
        apt_updated=1
    fi
    log "apt-get install -y $*"
    # policy-rc.d keeps the package scripts from starting the service themselves: this script
    # starts it, the same way on every machine (no init system here to own it).
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || rc=$?
    if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
    [ "$rc" -eq 0 ] || die "apt-get install $* failed (exit $rc)"
}

# wait_for NAME CHECK-FUNCTION: polls CHECK-FUNCTION for up to WAIT_SECONDS.
wait_for() {
    local name=$1 check=$2 deadline=$((SECONDS + WAIT_SECONDS))
    until "$check"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.5
    done
    log "$name is up"
}

# --- Redis -------------------------------------------------------------------

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

ensure_redis() {
    if command -v redis-cli >/dev/null 2>&1 && redis_up; then
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        apt_install redis-server
    fi
    if redis_up; then
        log "Redis is up"
        return 0
    fi
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null \
        || die "redis-server failed to start (see /var/log/redis/ci.log)"
    wait_for Redis redis_up \
        || die "Redis did not answer PING on 127.0.0.1:6379 within ${WAIT_SECONDS}s (see /var/log/redis/ci.log)"
}

# --- MariaDB -----------------------------------------------------------------

# A TCP ping answers even when a login is refused: this checks the server is listening.
mariadb_up() { mariadb-admin -h127.0.0.1 -P3306 --connect-timeout=2 ping >/dev/null 2>&1; }

# The login the project uses, over TCP as the tests connect.
project_login_ok() {
    mariadb -h127.0.0.1 -P3306 -u"$DB_USER" -p"$DB_PASSWORD" --connect-timeout=5 \
        -e 'SELECT 1' >/dev/null 2>&1
}

mariadb_installed() { [ -x /usr/sbin/mariadbd ] && command -v mariadb-admin >/dev/null 2>&1 && command -v mariadb >/dev/null 2>&1; }

start_mariadb() {
    [ "$(id -u)" -eq 0 ] || die "MariaDB is not running and starting it needs root"
    local datadir=/var/lib/mysql
    # The data dir may be gone (purged, or removed by hand) while the package stays.
    if [ ! -d "$datadir/mysql" ]; then
        log "initialising the MariaDB data dir $datadir"
        install -d -o mysql -g mysql -m 0755 "$datadir"
        mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null 2>&1 \
            || die "mariadb-install-db could not initialise $datadir"
    fi
    # The socket directory lives on a tmpfs and may be gone after a reboot.
    install -d -o mysql -g mysql -m 0755 /run/mysqld
    install -d -o mysql -g adm -m 0750 /var/log/mysql
    log "starting MariaDB"
    # mariadbd refuses to run as root, and Debian's config names no user: say it here.
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
        --user=mysql --bind-address=127.0.0.1 --port=3306 --log-error="$MARIADB_LOG" \
        || die "start-stop-daemon could not start /usr/sbin/mariadbd"
    if ! wait_for MariaDB mariadb_up; then
        log "last lines of $MARIADB_LOG:"
        tail -n 20 "$MARIADB_LOG" >&2 2>/dev/null || true
        die "MariaDB did not answer ping on 127.0.0.1:3306 within ${WAIT_SECONDS}s"
    fi
}

# Creates (or repairs) the project's user as root over the server's unix socket: on Debian
# root logs in by unix_socket, which is what running this script as root gives.
ensure_project_user() {
    [ "$(id -u)" -eq 0 ] \
        || die "MariaDB refuses $DB_USER@127.0.0.1 and creating that user needs root (run this script as root once)"
    log "creating MariaDB user $DB_USER (all privileges on \`$DB_PATTERN\`.*)"
    local host sql=""
    for host in localhost 127.0.0.1 ::1; do
        sql+="CREATE USER IF NOT EXISTS '$DB_USER'@'$host' IDENTIFIED BY '$DB_PASSWORD';"
        sql+="ALTER USER '$DB_USER'@'$host' IDENTIFIED BY '$DB_PASSWORD';"
        sql+="GRANT ALL PRIVILEGES ON \`$DB_PATTERN\`.* TO '$DB_USER'@'$host';"
    done
    mariadb --protocol=socket -uroot -e "$sql" \
        || die "could not create MariaDB user $DB_USER as root over the unix socket"
    project_login_ok || die "MariaDB still refuses $DB_USER@127.0.0.1 after creating it"
}

ensure_mariadb() {
    if mariadb_installed && mariadb_up && project_login_ok; then
        return 0
    fi
    if ! mariadb_installed; then
        apt_install mariadb-server mariadb-client
    fi
    if mariadb_up; then
        log "MariaDB is up"
    else
        start_mariadb
    fi
    project_login_ok || ensure_project_user
}

ensure_redis
ensure_mariadb
