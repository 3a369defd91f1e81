#!/usr/bin/env bash
# Installs the system packages the test suite needs, when missing.
# Debian's zookeeper (3.8) runs the real-ZooKeeper integration tests
# (required). promtool (Debian's prometheus package) lints the collector's
# /metrics and headless chromium drives the collector dashboard's browser
# test; without root they cannot be installed, and the tests that need
# them skip with a message saying so.
set -euo pipefail

need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
optional=()
command -v promtool >/dev/null 2>&1 || optional+=(prometheus)
command -v chromium >/dev/null 2>&1 || optional+=(chromium)

if [ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  if [ ${#optional[@]} -gt 0 ]; then
    echo "missing optional system packages: ${optional[*]} (the tests that need them will skip; install them with: sudo apt-get install -y ${optional[*]})" >&2
  fi
  if [ ${#need[@]} -gt 0 ]; then
    echo "missing system packages: ${need[*]} (install them with: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  exit 0
fi
all=("${need[@]}" "${optional[@]}")
echo "installing ${all[*]} ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${all[@]}" >/dev/null
