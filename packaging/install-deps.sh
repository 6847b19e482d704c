#!/bin/sh
# Installs what rotatord needs to build and test on Debian 12.  Idempotent:
# asks apt only when something is missing.  Needs root (or sudo).
set -eu

PKGS="build-essential pkg-config libssl-dev libcurl4-openssl-dev libjansson-dev
libmicrohttpd-dev libinih-dev libcmocka-dev openssl nginx-light jose
python3 python3-pytest python3-jwt python3-cryptography wrk clang
libclang-rt-14-dev systemd procps util-linux"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "install-deps: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	    --no-install-recommends $missing >/dev/null
fi

# Debian starts nginx on port 80 when it is installed; the tests run their
# own nginx on free loopback ports and need no system instance.
if [ -n "$missing" ] && command -v nginx >/dev/null 2>&1; then
	if [ -f /run/nginx.pid ]; then
		nginx -s quit 2>/dev/null || true
	fi
fi
exit 0
