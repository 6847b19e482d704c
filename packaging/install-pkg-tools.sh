#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs what `make deb` and `make rpm` need on Debian 12, asking apt
# only when something is missing.  Needs root (or sudo).
#   install-pkg-tools.sh deb SRCDIR   dpkg-buildpackage, debhelper, fakeroot,
#                                     lintian, hardening-check (devscripts)
#                                     and the Build-Depends of SRCDIR/debian
#   install-pkg-tools.sh rpm          rpmbuild, rpmlint, find-debuginfo and
#                                     the libraries' Debian -dev packages
#   install-pkg-tools.sh chroot       debootstrap (the fresh-root install check)
set -eu

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

installed() {
	st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) return 0 ;;
	*) return 1 ;;
	esac
}

updated=no
apt_install() {
	[ $# -gt 0 ] || return 0
	if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
		echo "install-pkg-tools: missing: $*; run as root" >&2
		exit 1
	fi
	echo "install-pkg-tools: installing: $*"
	if [ $updated = no ]; then
		$SUDO apt-get update -qq
		updated=yes
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	    --no-install-recommends "$@" >/dev/null
}

need() {
	missing=""
	for p in "$@"; do
		installed "$p" || missing="$missing $p"
	done
	# shellcheck disable=SC2086
	apt_install $missing
}

case "${1:-}" in
deb)
	[ $# -eq 2 ] || { echo "usage: install-pkg-tools.sh deb SRCDIR" >&2; exit 64; }
	need dpkg-dev debhelper fakeroot lintian devscripts
	# The Build-Depends, read from the staged debian/control.
	if ! (cd "$2" && dpkg-checkbuilddeps >/dev/null 2>&1); then
		echo "install-pkg-tools: installing the Build-Depends of $2/debian/control"
		if [ $updated = no ]; then
			$SUDO apt-get update -qq
			updated=yes
		fi
		(cd "$2" && DEBIAN_FRONTEND=noninteractive $SUDO apt-get build-dep \
		    -y -qq --no-install-recommends ./ >/dev/null)
	fi
	;;
rpm)
	# debugedit (find-debuginfo), elfutils (eu-strip) and file: the
	# -debuginfo packages and stripping, as on an RPM distribution.
	need rpm rpmlint debugedit elfutils file build-essential pkg-config \
	    libssl-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev \
	    libinih-dev
	;;
chroot)
	need debootstrap
	;;
*)
	echo "usage: install-pkg-tools.sh deb SRCDIR | rpm | chroot" >&2
	exit 64
	;;
esac
exit 0
