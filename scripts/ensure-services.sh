#!/usr/bin/env bash
# Makes sure the local services the tests talk to are up:
#   - Redis   on 127.0.0.1:6379 (keeps nothing on disk)
#   - MariaDB on 127.0.0.1:3306 (root, empty password)
# Starts whichever is down, installing it from Debian's packages first when its
# binaries are missing. Idempotent, and silent when everything is already up.
set -euo pipefail

readonly WAIT_SECONDS=30

log() { printf 'ensure-services: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
        apt_updated=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
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
    # The Debian package may have started its own instance already.
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

mariadb_up() { mariadb-admin -h127.0.0.1 -P3306 -uroot --connect-timeout=2 ping >/dev/null 2>&1; }

ensure_mariadb() {
    if command -v mariadb-admin >/dev/null 2>&1 && mariadb_up; then
        check_mariadb_login
        return 0
    fi
    if [ ! -x /usr/sbin/mariadbd ] || ! command -v mariadb-admin >/dev/null 2>&1; then
        apt_install mariadb-server
    fi
    if ! mariadb_up; then
        log "starting MariaDB"
        # The server's socket directory lives on a tmpfs and may be gone after a reboot.
        if [ ! -d /run/mysqld ]; then
            install -d -o mysql -g mysql -m 0755 /run/mysqld
        fi
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd \
            || die "start-stop-daemon could not start /usr/sbin/mariadbd"
        wait_for MariaDB mariadb_up \
            || die "MariaDB did not answer ping on 127.0.0.1:3306 within ${WAIT_SECONDS}s (see /var/log/mysql/ or 'journalctl')"
    else
        log "MariaDB is up"
    fi
    check_mariadb_login
}

# `mariadb-admin ping` succeeds even when the login is refused; the tests need
# root with an empty password over TCP, so say so clearly when that is not the case.
check_mariadb_login() {
    if command -v mariadb >/dev/null 2>&1 \
        && ! mariadb -h127.0.0.1 -P3306 -uroot --connect-timeout=5 -e 'SELECT 1' >/dev/null 2>&1; then
        log "WARNING: MariaDB is up but 'root' with an empty password cannot log in over 127.0.0.1:3306"
    fi
}

ensure_redis
ensure_mariadb
