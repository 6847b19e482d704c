#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Lays out a source tree for a package build, out of the work tree:
#   stage-source.sh DEST [DEBIAN]
# copies the files git tracks into DEST (emptied first), as they are in
# the work tree, plus the untracked files that .gitignore does not exclude
# inside the tracked top-level directories (rotatord/, libidp/, ...), so
# uncommitted work is packaged too while scratch directories at the top
# (build-*/) are not.  In a clean clone that is exactly the tracked tree.  With DEBIAN (a directory, normally packaging/debian) it
# is copied to DEST/debian, so the repository itself needs no debian/ at
# its top.  Outside a git checkout (an unpacked tarball) everything but
# the build outputs is copied.
set -eu

[ $# -ge 1 ] || { echo "usage: stage-source.sh DEST [DEBIAN]" >&2; exit 64; }
dest=$1
debian=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)

case "$dest" in
/*) ;;
*) dest="$(pwd)/$dest" ;;
esac
if [ -n "$debian" ]; then
	case "$debian" in
	/*) ;;
	*) debian="$(pwd)/$debian" ;;
	esac
fi

rm -rf "$dest"
mkdir -p "$dest"
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked files deleted in the work tree are skipped.
	dirs=$(git ls-files | sed -n 's|^\([^/]*\)/.*|\1|p' | sort -u)
	{ git ls-files -z --cached
	  # shellcheck disable=SC2086
	  [ -z "$dirs" ] || git ls-files -z --others --exclude-standard -- $dirs
	} |
	    xargs -0 sh -c 'for f; do
		if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\0" "$f"; fi
	    done' sh |
	    tar --null --no-recursion -T - -cf - | tar -xpf - -C "$dest"
else
	tar --exclude=./.git --exclude='./build*' --exclude=./run \
	    --exclude=./tests/idp/node_modules -cf - . | tar -xpf - -C "$dest"
fi

if [ -n "$debian" ]; then
	rm -rf "$dest/debian"
	cp -R "$debian" "$dest/debian"
	chmod 0755 "$dest/debian/rules"
fi
