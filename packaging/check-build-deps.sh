#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Says in one line which Debian packages a build of rotatord is missing
# (exit 1), or nothing (exit 0).  Run by make before it compiles anything,
# so that a fresh machine gets this line instead of a compiler error.
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
CC=${CC:-cc}
missing=""
command -v "$CC" >/dev/null 2>&1 || missing="$missing build-essential"
command -v make >/dev/null 2>&1 || missing="$missing make"
if command -v "$PKG_CONFIG" >/dev/null 2>&1; then
	for m in openssl:libssl-dev jansson:libjansson-dev \
	    libcurl:libcurl4-openssl-dev libmicrohttpd:libmicrohttpd-dev \
	    inih:libinih-dev; do
		"$PKG_CONFIG" --exists "${m%%:*}" 2>/dev/null ||
		    missing="$missing ${m#*:}"
	done
else
	missing="$missing pkg-config libssl-dev libjansson-dev"
	missing="$missing libcurl4-openssl-dev libmicrohttpd-dev libinih-dev"
fi
[ -z "$missing" ] && exit 0
echo "rotatord: missing build packages:$missing; install them with" \
    "'make build-deps' or 'apt-get install$missing'" >&2
exit 1
