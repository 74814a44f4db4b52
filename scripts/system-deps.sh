#!/usr/bin/env bash
# Installs the system services and libraries the test-suite starts or loads, when missing:
# PostgreSQL (server binaries), Dovecot (IMAP), and the Pango libraries WeasyPrint renders PDFs with.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

need=()
# ldconfig lives in /sbin or /usr/sbin, often off a non-root PATH.
ldconfig_p() { PATH="$PATH:/sbin:/usr/sbin" ldconfig -p; }
pg_bindir() {
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] && pg_config --bindir
}
[ -n "$(pg_bindir || true)" ] || need+=(postgresql)
command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
ldconfig_p | grep -q 'libpangoft2-1.0.so.0' || need+=(libpango-1.0-0 libpangoft2-1.0-0)
ldconfig_p | grep -q 'libharfbuzz-subset.so.0' || need+=(libharfbuzz-subset0)
command -v openssl >/dev/null || need+=(openssl)
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)

if [ ${#need[@]} -eq 0 ]; then
  echo "system-deps: everything present"
  exit 0
fi
echo "system-deps: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Another install (unattended-upgrades, a colleague's apt) may hold the dpkg/apt lock: wait up to
# ten minutes for it instead of failing at once.
APT_WAIT=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${APT_WAIT[@]}" update -qq
# Debian's maintainer scripts try to start the services; the tests start their own instances.
$SUDO apt-get "${APT_WAIT[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system-deps: done"
