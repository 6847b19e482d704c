#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs what rotatord needs on Debian 12.  Idempotent: asks apt only
# when something is missing.  Needs root (or sudo).
#   install-deps.sh build   what `make` and `make run` need
#   install-deps.sh         that, and everything `make check` and
#                           `make bench` use (nginx, etcd, clang, node ...)
set -eu

BUILD_PKGS="build-essential pkg-config libssl-dev libcurl4-openssl-dev
libjansson-dev libmicrohttpd-dev libinih-dev"
TEST_PKGS="libcmocka-dev openssl nginx-light jose python3 python3-pytest
python3-jwt python3-cryptography wrk clang curl libclang-rt-14-dev systemd
procps util-linux etcd-server etcd-client mandoc man-db bash-completion
debootstrap"

what=${1:-all}
case "$what" in
build) PKGS="$BUILD_PKGS" ;;
all) PKGS="$BUILD_PKGS $TEST_PKGS" ;;
*) echo "usage: install-deps.sh [build]" >&2; exit 64 ;;
esac

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
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "install-deps: missing:$missing; run as root" \
			    "or install them with apt-get" >&2
			exit 1
		fi
		SUDO="sudo"
	fi
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

# The same for etcd, where the package starts one (the fleet tests run
# their own cluster on free loopback ports).
if [ -n "$missing" ] && pgrep -x etcd >/dev/null 2>&1 &&
   command -v systemctl >/dev/null 2>&1; then
	systemctl stop etcd 2>/dev/null || true
fi

[ "$what" = build ] && exit 0

# ---------------------------------------------------------------------------
# Test identity provider (tests/idp: the oidc-provider 8.x npm package on
# Node.js >= 18).  An existing node >= 18 is kept (e.g. NodeSource's 20);
# otherwise Debian's nodejs (18) and npm are installed.  Then the locked
# node_modules is installed when missing or older than package-lock.json.
IDP_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/idp"
idp_node_major() {
	node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	idp_pkgs="npm"
	command -v node >/dev/null 2>&1 || idp_pkgs="nodejs npm"
	echo "install-deps: installing: $idp_pkgs"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	    --no-install-recommends $idp_pkgs >/dev/null
fi
if [ "$(idp_node_major)" -lt 18 ]; then
	echo "install-deps: tests/idp needs Node.js >= 18, found $(node --version 2>/dev/null || echo none)" >&2
	exit 1
fi
if [ -f "$IDP_DIR/package-lock.json" ] &&
   { [ ! -f "$IDP_DIR/node_modules/.package-lock.json" ] ||
     [ "$IDP_DIR/package-lock.json" -nt "$IDP_DIR/node_modules/.package-lock.json" ]; }; then
	echo "install-deps: npm ci in tests/idp"
	npm ci --prefix "$IDP_DIR" --no-audit --no-fund --loglevel=error >/dev/null
fi
# --- end of test identity provider block -----------------------------------

exit 0
