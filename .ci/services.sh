#!/usr/bin/env bash
# Provision the services Hive's tests run against, installing and starting whatever is missing:
# nats-server with JetStream on 127.0.0.1:4222 and PostgreSQL with pgvector on 127.0.0.1:5432; Debian's
# chromium (the dashboard test drives it headless) and prometheus (the scrape test and `promtool check rules`).
# Idempotent: on a machine that already has everything it only checks.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- NATS -------------------------------------------------------------------
if ! command -v nats-server >/dev/null 2>&1; then
  log "installing nats-server"
  apt_install nats-server
fi
if ! port_open 4222; then
  log "starting nats-server with JetStream on 127.0.0.1:4222"
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 1 50); do port_open 4222 && break; sleep 0.1; done
fi
port_open 4222 || { log "nats-server did not come up on 4222"; exit 1; }

# --- PostgreSQL ---------------------------------------------------------------
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  log "installing PostgreSQL 15"
  apt_install postgresql-15
fi
PGVER=$(ls /etc/postgresql | sort -n | tail -1)
PG_CONFIG=/usr/lib/postgresql/$PGVER/bin/pg_config
start_pg() {
  if ! port_open 5432; then
    log "starting PostgreSQL $PGVER"
    pg_ctlcluster --skip-systemctl-redirect "$PGVER" main start || true
    for _ in $(seq 1 100); do port_open 5432 && break; sleep 0.1; done
  fi
}
start_pg
port_open 5432 || { log "PostgreSQL did not come up on 5432"; exit 1; }

# Trust auth for local TCP connections, as the tests expect (a fresh Debian install asks for passwords).
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  log "enabling trust auth on 127.0.0.1 for the test user"
  HBA=/etc/postgresql/$PGVER/main/pg_hba.conf
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$HBA"
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main reload
fi
for db in test; do
  psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname='$db'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c "create database $db" >/dev/null
done

has_vector() { [ -f "$($PG_CONFIG --sharedir)/extension/vector.control" ]; }
if ! has_vector; then
  log "building pgvector for PostgreSQL $PGVER from Debian's source package"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # The mirror comes from the machine's own apt configuration; no host name is written here.
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$uri" ] || uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1)
  [ -n "$uri" ] || { log "no apt mirror configured"; exit 1; }
  mkdir -p "$work/lists/partial"
  echo "deb-src $uri trixie main" > "$work/src.list"
  APT=(-o Dir::Etc::SourceList="$work/src.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$work/lists")
  as_root apt-get "${APT[@]}" update -qq
  apt_install "postgresql-server-dev-$PGVER" build-essential dpkg-dev
  (cd "$work" && apt-get "${APT[@]}" source --download-only pgvector >/dev/null && dpkg-source -x pgvector_*.dsc src >/dev/null)
  make -s -C "$work/src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
  as_root make -s -C "$work/src" PG_CONFIG="$PG_CONFIG" install >/dev/null
  # Installing the -dev package upgrades the PostgreSQL packages; restart the server on the new binaries.
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main restart || true
  for _ in $(seq 1 100); do port_open 5432 && break; sleep 0.1; done
fi
psql -h 127.0.0.1 -U postgres -d test -qc 'create extension if not exists vector' >/dev/null

# --- Chromium and Prometheus (operations tests) ---------------------------------
ops_missing=()
command -v chromium >/dev/null 2>&1 || ops_missing+=(chromium)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || ops_missing+=(prometheus)
if [ "${#ops_missing[@]}" -gt 0 ]; then
  log "installing ${ops_missing[*]}"
  apt_install "${ops_missing[@]}"
fi
log "ready: nats-server $(nats-server --version | awk '{print $2}'), PostgreSQL $PGVER with pgvector $(psql -h 127.0.0.1 -U postgres -d test -Atc "select extversion from pg_extension where extname='vector'")"
