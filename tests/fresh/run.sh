#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The newcomer test: what a new user does on a freshly installed Debian 12,
# on a genuinely fresh root.
#
#   1. A minimal bookworm root (debootstrap --variant=minbase, plus git,
#      make and ca-certificates), made from the Debian mirror that this
#      machine's apt sources name (read at run time), cached as a tarball
#      under /var/tmp so that the next run skips debootstrap.
#   2. There, from `git clone` of the commit under test: a plain `make`
#      must stop with the one-line list of missing packages; `make run`
#      must install what it needs, build, and publish credentials under
#      run/out within 10 minutes.  (FRESH_FULL=1: `make check` there too.)
#   3. `make deb` (and `make rpm`) there; the .debs go into a second fresh root with
#      `apt-get install ./*.deb`, where the packaged daemon, run as the
#      unit's user on the shipped config, answers `rotatorctl status
#      --json`, serves a credential over its unix socket, and `rotatorctl
#      status` exits 3 once it is stopped.
#
# Every root lives in its own mount and pid namespace (unshare), so that
# nothing it mounts or starts outlives the test, also when interrupted.
# Needs root.  Prints "fresh: N passed, N failed" last; exits non-zero on
# any failure.
#
#   tests/fresh/run.sh            phases 1-3
#   FRESH_FULL=1 tests/fresh/run.sh   also `make check` in the first root
#   FRESH_KEEP=1                  keep the roots (their paths are printed)
set -u -o pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=bookworm
CACHE_DIR=${FRESH_CACHE_DIR:-/var/tmp/rotatord-fresh}
RUN_DEADLINE=${FRESH_RUN_DEADLINE:-600}
passed=0
failed=0
work=""

ok() { echo "fresh: ok: $*"; passed=$((passed + 1)); }
bad() { echo "fresh: FAIL: $*"; failed=$((failed + 1)); }
say() { echo "fresh: $*"; }

finish() {
	local rc=$?
	if [ -n "$work" ] && [ -z "${FRESH_KEEP:-}" ]; then
		rm -rf --one-file-system "$work"
	elif [ -n "$work" ]; then
		say "roots kept in $work"
	fi
	[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
	echo "fresh: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
trap finish EXIT
trap 'say "interrupted"; exit 130' INT TERM

if [ "$(id -u)" -ne 0 ]; then
	bad "needs root (debootstrap, chroot)"
	exit 1
fi
for t in debootstrap unshare chroot git tar; do
	if ! command -v "$t" >/dev/null 2>&1; then
		bad "needs $t (apt-get install debootstrap util-linux git)"
		exit 1
	fi
done

# The Debian mirror of this machine's apt sources: deb822 .sources files
# first, then one-line sources.list entries.  No host name is written in
# the project; whatever this machine uses, the roots use.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	mirror=$(awk -v suite="$SUITE" '
		BEGIN { RS = ""; FS = "\n" }
		{
			uris = ""; suites = ""; en = 1
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
				if ($i ~ /^Suites:/) { suites = " " $i " " }
				if ($i ~ /^Enabled:[ \t]*no/) en = 0
			}
			if (en && uris != "" && index(suites, " " suite " ") > 0) {
				split(uris, u, /[ \t]+/); print u[1]; exit
			}
		}' "$f")
	[ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	    2>/dev/null | awk -v suite="$SUITE" '
		$1 == "deb" {
			i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++
			if ($i ~ /^\[/ || $i ~ /\]$/) i++
			if ($(i + 1) == suite) { print $i; exit }
		}')
fi
if [ -z "$mirror" ]; then
	bad "no Debian $SUITE mirror in /etc/apt/sources.list{,.d}"
	exit 1
fi
say "mirror $mirror (from this machine's apt sources)"

commit=$(git -C "$SRC" rev-parse HEAD) || { bad "not a git checkout"; exit 1; }
if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
	say "note: the work tree has uncommitted changes; testing $commit"
fi
say "commit under test $commit"

work=$(mktemp -d /var/tmp/rotatord-fresh-run.XXXXXX)
chmod 0755 "$work"
mkdir -p "$CACHE_DIR"
cache="$CACHE_DIR/$SUITE-minbase-git-make.tar"

# A fresh root at $1: from the cached tarball, or debootstrap (and cache).
make_root() {
	local dir=$1 t0 tmp
	t0=$(date +%s)
	mkdir -p "$dir"
	if [ -s "$cache" ] && tar -C "$dir" --numeric-owner -xpf "$cache"; then
		say "root $dir from the cache ($(( $(date +%s) - t0 )) s)"
	else
		rm -rf --one-file-system "$dir" && mkdir -p "$dir"
		say "debootstrap $SUITE into $dir (no cache yet) ..."
		if ! debootstrap --variant=minbase \
		    --include=git,make,ca-certificates "$SUITE" "$dir" \
		    "$mirror" >"$work/debootstrap.log" 2>&1; then
			tail -20 "$work/debootstrap.log"
			return 1
		fi
		chroot "$dir" apt-get clean
		tmp=$(mktemp "$CACHE_DIR/.tar.XXXXXX")
		if tar -C "$dir" --numeric-owner -cpf "$tmp" . &&
		    mv -f "$tmp" "$cache"; then
			say "cached the base root as $cache"
		else
			rm -f "$tmp"
		fi
		say "root $dir by debootstrap ($(( $(date +%s) - t0 )) s)"
	fi
	# What the machine's apt uses to reach its mirror (sources, proxies,
	# snapshot settings), and its resolver.
	rm -f "$dir"/etc/apt/sources.list "$dir"/etc/apt/sources.list.d/*
	cp -p /etc/apt/sources.list "$dir/etc/apt/" 2>/dev/null
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && grep -qs "$mirror" "$f" && cp -p "$f" \
		    "$dir/etc/apt/sources.list.d/"
	done
	for f in /etc/apt/apt.conf.d/*; do
		[ -f "$f" ] && grep -qs '^Acquire' "$f" && cp -p "$f" \
		    "$dir/etc/apt/apt.conf.d/"
	done
	cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null
	# The machine's own trust anchors (a registry proxy's CA, say): what
	# an operator's machine would have installed the same way.
	if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
		mkdir -p "$dir/usr/local/share/ca-certificates"
		cp -p /usr/local/share/ca-certificates/*.crt \
		    "$dir/usr/local/share/ca-certificates/"
		chroot "$dir" update-ca-certificates >/dev/null 2>&1
	fi
	# No service may start inside the root (as in any chroot).
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 0755 "$dir/usr/sbin/policy-rc.d"
	return 0
}

# The machine's proxy and CA settings pass into the roots, nothing else of
# its environment.
passenv=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY \
    NODE_EXTRA_CA_CERTS; do
	[ -n "${!v:-}" ] && passenv+=("$v=${!v}")
done

# Runs a bash script ($2) inside root $1, in new mount and pid namespaces:
# everything it mounts or starts goes when it ends.
in_root() {
	local dir=$1
	shift
	unshare --mount --pid --fork --kill-child --propagation private \
	    bash -c '
		d=$1; shift
		mount -t proc proc "$d/proc" &&
		mount -t sysfs sysfs "$d/sys" &&
		mount --rbind /dev "$d/dev" &&
		mount -t tmpfs -o mode=1777 shm "$d/dev/shm" &&
		mount -t tmpfs -o mode=0755 run "$d/run" &&
		mount -t tmpfs -o mode=1777 tmp "$d/tmp" || exit 1
		script=$1; shift
		exec chroot "$d" /usr/bin/env -i HOME=/root TERM=dumb \
		    LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		    "$@" /bin/bash -c "$script"' in_root "$dir" "$@" \
	    ${passenv[@]+"${passenv[@]}"}
}

# ------------------------------------------------------------------ 1, 2
r1="$work/root1"
if ! make_root "$r1"; then
	bad "could not make a fresh $SUITE root"
	exit 1
fi
ok "a fresh $SUITE root with only git and make"

if git clone -q --no-hardlinks "$SRC" "$r1/root/rotatord" &&
    git -C "$r1/root/rotatord" checkout -q --detach "$commit"; then
	ok "git clone of $commit"
else
	bad "git clone"
	exit 1
fi

# A plain `make` without the packages: one line naming them, no compiler
# error.
out=$(in_root "$r1" 'cd /root/rotatord && make 2>&1'; echo "rc=$?")
rc=${out##*rc=}
if [ "$rc" != 0 ] && printf '%s\n' "$out" | grep -q \
    '^rotatord: missing build packages:.*libinih-dev' &&
    ! printf '%s\n' "$out" | grep -q 'No such file\|error:'; then
	ok "plain make names the missing packages"
else
	bad "plain make on a fresh root (rc $rc):"
	printf '%s\n' "$out" | tail -15
fi

# `make run`, as the README says, until the credentials are under run/out.
t0=$(date +%s)
in_root "$r1" '
	cd /root/rotatord
	make run >/root/make-run.log 2>&1 &
	deadline=$(( $(date +%s) + '"$RUN_DEADLINE"' ))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		if [ -s run/out/web/bundle.pem ] && [ -s run/out/svc/token ] &&
		    [ -s run/out/tickets/0.key ]; then
			ls -l run/out/web/ run/out/svc/ >/root/run-out.txt
			exit 0
		fi
		kill -0 $! 2>/dev/null || exit 2
		sleep 1
	done
	exit 3'
rc=$?
dt=$(( $(date +%s) - t0 ))
case $rc in
0) ok "make run published credentials under run/out after $dt s" ;;
2) bad "make run ended before publishing:"; tail -25 "$r1/root/make-run.log" ;;
*) bad "make run: no credentials after $dt s:"; tail -25 "$r1/root/make-run.log" ;;
esac

if [ -n "${FRESH_FULL:-}" ]; then
	t0=$(date +%s)
	if in_root "$r1" 'cd /root/rotatord && make check' \
	    >"$work/make-check.log" 2>&1; then
		ok "make check in the fresh root ($(( $(date +%s) - t0 )) s):" \
		    "$(tail -1 "$work/make-check.log")"
	else
		bad "make check in the fresh root:"
		tail -40 "$work/make-check.log"
	fi
fi

# ------------------------------------------------------------------ 3
t0=$(date +%s)
if in_root "$r1" 'cd /root/rotatord && make deb' >"$work/make-deb.log" 2>&1
then
	ok "make deb: lintian and hardening-check pass ($(( $(date +%s) - t0 )) s)"
else
	bad "make deb:"
	tail -30 "$work/make-deb.log"
	exit 1
fi
debs=$(ls "$r1"/root/rotatord/build/deb/*.deb 2>/dev/null)
n=$(printf '%s\n' "$debs" | grep -c '/\(rotatord\|libidp0\|libidp-dev\)_')
if [ "$n" -eq 3 ] && ls "$r1"/root/rotatord/build/deb/*.dsc >/dev/null 2>&1
then
	ok "rotatord, libidp0, libidp-dev and a source package"
else
	bad "expected 3 .debs and a .dsc, have: $debs"
fi

# The RPM spec, as the README says (`make rpm`): rpmbuild and rpmlint.
t0=$(date +%s)
if in_root "$r1" 'cd /root/rotatord && make rpm' >"$work/make-rpm.log" 2>&1
then
	ok "make rpm: rpmbuild and rpmlint pass ($(( $(date +%s) - t0 )) s)"
else
	bad "make rpm:"
	tail -30 "$work/make-rpm.log"
fi

r2="$work/root2"
if ! make_root "$r2"; then
	bad "could not make the second fresh root"
	exit 1
fi
# The README's command, as written, from a checkout's build/deb/.
mkdir -p "$r2/root/rotatord/build/deb"
cp $debs "$r2/root/rotatord/build/deb/"
if in_root "$r2" '
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && cd /root/rotatord &&
	apt-get install -y -qq ./build/deb/rotatord_*.deb \
	    ./build/deb/libidp0_*.deb || exit 1
	# Every library the binaries load, dlopen()ed ones too, came with
	# the Depends (nothing else has been installed yet).
	for l in libmicrohttpd.so.12 libcurl.so.4 libjansson.so.4 \
	    libinih.so.1 libssl.so.3; do
		ls /usr/lib/*/$l >/dev/null 2>&1 ||
		    { echo "in-root: $l not installed by the Depends"; exit 1; }
	done
	apt-get install -y -qq --no-install-recommends curl' \
    >"$work/apt-install.log" 2>&1; then
	ok "apt-get install ./build/deb/rotatord_*.deb ./build/deb/libidp0_*.deb" \
	    "into a fresh root pulls every library it loads"
else
	bad "apt-get install of the .debs:"
	tail -30 "$work/apt-install.log"
	exit 1
fi

# The packaged daemon as the unit would run it: user and group rotatord,
# the shipped /etc/rotatord/rotatord.ini, the unit's runtime and state
# directories.
in_root "$r2" '
	set -u
	fail() { echo "in-root: $*"; exit 1; }
	id rotatord >/dev/null || fail "no rotatord user"
	rotatord --check-config -c /etc/rotatord/rotatord.ini ||
	    fail "the shipped config does not pass --check-config"
	install -d -o rotatord -g rotatord -m 0755 /run/rotatord
	install -d -o rotatord -g rotatord -m 0700 /var/lib/rotatord
	umask 077
	setpriv --reuid=rotatord --regid=rotatord --init-groups \
	    /usr/bin/rotatord -c /etc/rotatord/rotatord.ini \
	    >/root/rotatord.log 2>&1 &
	pid=$!
	deadline=$(( $(date +%s) + 60 ))
	until rotatorctl status --json >/root/status.json 2>/dev/null; do
		kill -0 $pid 2>/dev/null || { cat /root/rotatord.log;
		    fail "rotatord exited"; }
		[ "$(date +%s)" -lt "$deadline" ] || { cat /root/rotatord.log;
		    fail "not ready after 60 s"; }
		sleep 0.2
	done
	grep -q "\"ready\": true" /root/status.json || fail "status not ready"
	echo "in-root: status --json ready"
	curl -sS --fail --unix-socket /run/rotatord/api.sock \
	    -H "Rotatord-Request: 1" -o /root/cert.pem \
	    http://localhost/v1/credentials/localhost/cert.pem ||
	    fail "GET /v1/credentials/localhost/cert.pem over the socket"
	cmp -s /root/cert.pem /run/rotatord/localhost/cert.pem ||
	    fail "the socket served other bytes than cert.pem"
	grep -q "BEGIN CERTIFICATE" /root/cert.pem ||
	    fail "no certificate in the answer"
	echo "in-root: credential served over /run/rotatord/api.sock"
	owner=$(stat -c %U /run/rotatord/localhost/..data/key.pem)
	[ "$owner" = rotatord ] || fail "key.pem owned by $owner"
	kill -TERM $pid
	wait $pid
	rotatorctl status >/dev/null 2>&1
	rc=$?
	[ $rc -eq 3 ] || fail "rotatorctl status after stop exits $rc, not 3"
	echo "in-root: status exits 3 once stopped"
' >"$work/packaged.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	sed -n 's/^in-root: /fresh:   /p' "$work/packaged.log"
	ok "packaged rotatord as user rotatord: ready, serves over its socket, status 3 when stopped"
else
	bad "the packaged daemon:"
	tail -30 "$work/packaged.log"
fi
exit 0
