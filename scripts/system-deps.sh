#!/usr/bin/env bash
# Install the system programs behind `ioc services up` on Debian 12: PostgreSQL 15, Redis, Mosquitto, Maven, Java 17;
# and Chromium with its chromedriver for the browser tests and `ioc bench dashboard` (never a browser download);
# DejaVu Sans, the font with Vietnamese glyphs the leaders' PDF exports embed; and what building TimescaleDB from
# source needs (PostgreSQL 15 server headers, CMake, OpenSSL headers, a C compiler), since `ioc services up` builds
# TimescaleDB 2.25.2 once into its cache (ioc/app/services/timescaledb.py).
#
# Idempotent: each package is checked by its binary first, so a machine that has them all does nothing (and needs
# no root). Kafka has no Debian package; `ioc services up` fetches it with Maven from ioc/app/services/kafka/pom.xml.
#
# The Debian packages would start system-wide daemons on the default ports; we run our own instances on our own
# ports, so a policy-rc.d keeps apt from starting them, and any that start anyway are stopped and disabled.
set -euo pipefail

PG_BINDIR=/usr/lib/postgresql/15/bin

# package|binary (or, for data such as fonts and headers, file) that proves it is installed
CHECKS=(
  "postgresql-15|${PG_BINDIR}/postgres"
  "postgresql-15|${PG_BINDIR}/initdb"
  "redis-server|redis-server"
  "mosquitto|mosquitto"
  "mosquitto-clients|mosquitto_sub"
  "maven|mvn"
  "openjdk-17-jre-headless|java"
  "chromium|/usr/bin/chromium"
  "chromium-driver|/usr/bin/chromedriver"
  "fonts-dejavu-core|/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
  "postgresql-server-dev-15|/usr/include/postgresql/15/server/postgres.h"
  "cmake|cmake"
  "libssl-dev|/usr/include/openssl/ssl.h"
  "build-essential|gcc"
  "build-essential|make"
)
DAEMONS=(postgresql redis-server mosquitto)

have() {
  local bin=$1
  if [[ $bin == /usr/share/* || $bin == /usr/include/* ]]; then
    [[ -f $bin ]]
  elif [[ $bin == /* ]]; then
    [[ -x $bin ]]
  else
    PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$bin" >/dev/null 2>&1
  fi
}

missing=()
for check in "${CHECKS[@]}"; do
  pkg=${check%%|*}
  bin=${check#*|}
  if ! have "$bin" && [[ " ${missing[*]-} " != *" $pkg "* ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "system-deps: everything is installed (PostgreSQL 15 and TimescaleDB's build tools, Redis, Mosquitto, Maven,"
  echo "system-deps: Java 17, Chromium)."
  exit 0
fi

apt_line="apt-get install -y --no-install-recommends ${missing[*]}"
if ((EUID != 0)); then
  echo "system-deps: missing: ${missing[*]}" >&2
  echo "system-deps: run as root:  apt-get update && $apt_line" >&2
  echo "system-deps: (or: sudo make system-deps)" >&2
  exit 1
fi

echo "system-deps: installing ${missing[*]}"

# Exit code 101 tells invoke-rc.d "action forbidden", so postinst scripts do not start the daemons.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
restore_policy() {
  if ((own_policy)); then rm -f "$policy"; fi
}
trap restore_policy EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y --no-install-recommends ${missing[*]}

# Belt and braces where policy-rc.d is not honoured (e.g. systemd already running): stop and disable them.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  for unit in "${DAEMONS[@]}"; do
    systemctl disable --now "${unit}.service" >/dev/null 2>&1 || true
  done
fi

for check in "${CHECKS[@]}"; do
  bin=${check#*|}
  if ! have "$bin"; then
    echo "system-deps: ${bin} is still missing after installing ${check%%|*}" >&2
    exit 1
  fi
done
echo "system-deps: done."
