#!/usr/bin/env bash
# The test command of the README (`npm test`). System tests need a real Mosquitto (and, from the
# drivers issue on, socat); install what is missing rather than let a suite skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v mbpoll >/dev/null 2>&1 || need+=(mbpoll)
# Debian's pymodbus (a Modbus peer nobody here wrote); Debian's own python3, not a pyenv one.
/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || need+=(python3-pymodbus)
# Debian's pydicom (a DICOM/DICOS reader and writer nobody here wrote) checks the DICOS scan reader.
/usr/bin/python3 -c 'import pydicom, numpy' >/dev/null 2>&1 || need+=(python3-pydicom python3-numpy)
# The console's browser tests drive Debian's Chromium (playwright-core downloads no browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
# test/deploy-unit.test.ts checks the systemd unit with systemd-analyze and systemd-sysusers.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# test/deploy-bundle.test.ts checks the bundle's binaries with file(1) and runs it offline in a
# network namespace of its own (unshare from util-linux, ip from iproute2).
command -v file >/dev/null 2>&1 || need+=(file)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# test/outbox-sync-off-loop.test.ts watches the outbox's fsyncs with strace.
command -v strace >/dev/null 2>&1 || need+=(strace)
if [ ${#need[@]} -gt 0 ]; then
  echo "test: installing missing Debian packages: ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# A suite that needs these must fail loudly, never skip: check they are here now.
{ command -v mosquitto || ls /usr/sbin/mosquitto; } >/dev/null
command -v socat >/dev/null
command -v mbpoll >/dev/null
/usr/bin/python3 -c 'import pymodbus' >/dev/null
/usr/bin/python3 -c 'import pydicom, numpy' >/dev/null
[ -x /usr/bin/chromium ]
command -v systemd-analyze >/dev/null
command -v file >/dev/null
command -v ip >/dev/null
command -v strace >/dev/null

exec npx vitest run "$@"
