#!/usr/bin/env bash
# A PostgreSQL server for the tests on 127.0.0.1:5432, with the role and database they use.
#
#   bash .ci/postgres.sh      # prints the URL to give SHIPYARD_TEST_POSTGRES_URL
#
# Idempotent, and quick when a server is already up. When nothing listens on the
# port it installs the server from Debian's packages (only if its binaries are
# missing), creates a throwaway cluster in a folder of its own, so that a system
# cluster such as Debian's `main` is never touched, and starts it bound to
# 127.0.0.1 only. The cluster trades durability for speed (fsync off): it holds
# test data and nothing else.
#
# As root the cluster belongs to the `postgres` user (PostgreSQL refuses to run as
# root) and lives in /var/lib/postgresql/shipyard-test; as anyone else it is yours
# and lives under ~/.cache/shipyard. SHIPYARD_PG_DATA overrides the folder, and
# SHIPYARD_PG_PORT the port (the printed URL follows it).
set -euo pipefail

HOST=127.0.0.1
PORT=${SHIPYARD_PG_PORT:-5432}
ROLE=shipyard
PASSWORD=shipyard
DB=shipyard_test
URL="postgresql+psycopg://$ROLE:$PASSWORD@$HOST:$PORT/$DB"

if [[ $(id -u) == 0 ]]; then
    DATA=${SHIPYARD_PG_DATA:-/var/lib/postgresql/shipyard-test}
else
    DATA=${SHIPYARD_PG_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/shipyard/postgres}
fi

say() { echo "postgres.sh: $*" >&2; }

# Run a server program as the cluster's owner. `cd /` because the postgres user
# may not be allowed into the caller's folder, and initdb and psql complain then.
as_owner() {
    if [[ $(id -u) == 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# bash's /dev/tcp: no client program needed, and a closed port answers at once.
listening() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

# The newest server installed by Debian's packages, else one on PATH.
server_bin() {
    local d best=""
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/postgres && -x $d/initdb && -x $d/pg_ctl ]] || continue
        if [[ -z $best ]] || [[ $(printf '%s\n' "$best" "$d" | sort -V | tail -n1) == "$d" ]]; then
            best=$d
        fi
    done
    if [[ -z $best ]] && command -v postgres >/dev/null && command -v initdb >/dev/null; then
        best=$(dirname "$(command -v postgres)")
    fi
    echo "$best"
}

# Whether the tests' role can log in (needs psql; without it, assume yes).
tests_can_log_in() {
    command -v psql >/dev/null || return 0
    PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=3 \
        psql -X -q -A -t -w -h "$HOST" -p "$PORT" -U "$ROLE" -d "$DB" -c 'SELECT 1' \
        >/dev/null 2>&1
}

# Create (or repair) the tests' role and database, as the cluster's superuser over
# the Unix socket in $1 (peer authentication: no password to keep anywhere).
ensure_role() {
    as_owner "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$PORT" -d postgres >/dev/null <<SQL
SELECT format('CREATE ROLE %I', '$ROLE') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')
\\gexec
-- CREATEDB: the tests make a database of their own for each test.
ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
-- DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker in a test database.
GRANT pg_signal_backend TO $ROLE;
SELECT format('CREATE DATABASE %I OWNER %I', '$DB', '$ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB')
\\gexec
SQL
}

# A server already up: nothing to start. Exits when it can hand out the URL.
use_running_server() {
    listening || return 0
    if tests_can_log_in; then
        echo "$URL"
        exit 0
    fi
    # Someone else's server (a developer's own, say): add the role if we may.
    BIN=$(server_bin)
    PSQL=$(command -v psql || echo "$BIN/psql")
    if [[ -n $BIN && -d /var/run/postgresql ]] && ensure_role /var/run/postgresql 2>/dev/null; then
        say "added role $ROLE and database $DB to the server already on $HOST:$PORT"
        if tests_can_log_in; then
            echo "$URL"
            exit 0
        fi
    fi
    say "a server listens on $HOST:$PORT but $ROLE/$PASSWORD cannot log in to $DB over TCP;"
    say "  create them: CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';"
    say "  CREATE DATABASE $DB OWNER $ROLE; and allow password logins from $HOST in pg_hba.conf"
    exit 1
}

use_running_server

# Two callers at once (two test runs, say) would both try to install and start.
if command -v flock >/dev/null; then
    exec 9>"${TMPDIR:-/tmp}/shipyard-postgres-$(id -u).lock"
    flock 9
    use_running_server
fi

BIN=$(server_bin)
if [[ -z $BIN ]]; then
    if [[ $(id -u) != 0 ]]; then
        say "no PostgreSQL server here; install it (sudo apt-get install postgresql) or run this as root"
        exit 1
    fi
    say "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    BIN=$(server_bin)
    [[ -n $BIN ]] || { say "apt-get installed no PostgreSQL server"; exit 1; }
    # Where services may start (no policy-rc.d saying no), the package has just
    # started its own `main` cluster on this port: use that one then.
    use_running_server
fi
PSQL=$BIN/psql

if [[ ! -s $DATA/PG_VERSION ]]; then
    say "creating a test cluster in $DATA"
    if [[ $(id -u) == 0 ]]; then
        install -d -o postgres -g postgres -m 700 "$DATA"
    else
        mkdir -p "$DATA"
        chmod 700 "$DATA"  # initdb insists
    fi
    as_owner "$BIN/initdb" -D "$DATA" --encoding=UTF8 --locale=C --no-sync \
        --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    # Appended to postgresql.conf (so a restart by hand keeps them); the last setting wins.
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<CONF

# Shipyard's test server (.ci/postgres.sh): loopback only, and fast rather than
# durable, since it holds nothing but test data.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$DATA'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi

# A server killed without a clean stop leaves postmaster.pid behind, and on a
# restarted machine its PID may belong to another process by now, which makes
# postgres refuse to start. Nothing listens on the port, so a PID that is no
# postgres process marks a stale file.
if [[ -f $DATA/postmaster.pid && -d /proc/self ]]; then
    pid=$(head -n 1 "$DATA/postmaster.pid")
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) != postgres ]]; then
        rm -f "$DATA/postmaster.pid" "$DATA/.s.PGSQL.$PORT.lock"
    fi
fi

say "starting PostgreSQL ($BIN) on $HOST:$PORT"
if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null 9>&-; then
    tail -n 30 "$DATA/server.log" >&2 || true
    exit 1
fi
ensure_role "$DATA"
echo "$URL"
