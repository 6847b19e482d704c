#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make check-includes: the layering of rotatord/ and libidp/, enforced.

Each file of rotatord/ belongs to the folder it is in (core, config,
sources, sinks, store, api, fleet, daemon, rotatorctl), or is main.c or
material.h at the top.  A folder may include only the folders RULES names
for it; a quoted include of rotatord is spelled "folder/file.h" (or
"material.h") and must name a file that exists; no file includes itself
through a cycle; libidp includes nothing of rotatord; OpenSSL headers are
included only by the files of OPENSSL.

Usage: check.py [ROOT]   (ROOT defaults to the repository of this file)
Prints one line per violation and exits 1 when there is any."""
import os
import re
import sys

# What each part of rotatord may include (besides itself).  A name with a
# slash is one file, not a folder.
RULES = {
    "core": set(),
    "config": {"core/log.h"},
    "material": set(),
    "sources": {"core", "config", "material"},
    "sinks": {"core", "config", "material"},
    "store": set(),
    "api": {"core", "config", "store"},
    "fleet": {"core", "config"},
    "daemon": {"core", "config", "material", "sources", "sinks", "api",
               "fleet", "store"},
    "main": {"core", "config", "daemon"},
    "rotatorctl": set(),
}

# The rotatord files that may include OpenSSL headers, and why.
OPENSSL = {
    # A TLS handshake to the reloaded server, on the event loop, to read
    # the certificate it now serves (reload verify).
    "rotatord/sinks/reload.c",
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def part(rel):
    """The part of rotatord a path (relative to rotatord/) belongs to."""
    if "/" in rel:
        return rel.split("/", 1)[0]
    return {"main.c": "main", "material.h": "material"}.get(rel)


def sources(root, top):
    for dp, dn, fn in os.walk(os.path.join(root, top)):
        dn.sort()
        for f in sorted(fn):
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(dp, f), root)


def includes(root, path):
    with open(os.path.join(root, path), errors="replace") as f:
        text = f.read()
    for m in INCLUDE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield line, m.group(1), m.group(2)


def check(root):
    errors = []
    graph = {}
    for path in sources(root, "rotatord"):
        rel = path[len("rotatord/"):]
        me = part(rel)
        if me not in RULES:
            errors.append("%s: not in a known folder of rotatord/ (%s)"
                          % (path, ", ".join(sorted(RULES))))
            continue
        graph[path] = []
        for line, kind, name in includes(root, path):
            where = "%s:%d: #include %s" % (path, line, name)
            if kind == "<":
                if name.startswith("openssl/") and path not in OPENSSL:
                    errors.append("%s: OpenSSL outside the named files "
                                  "(use libidp)" % where)
                continue
            target = "rotatord/" + name
            if not os.path.isfile(os.path.join(root, target)):
                errors.append("%s: no such file %s (spell includes of "
                              "rotatord as \"folder/file.h\")"
                              % (where, target))
                continue
            graph[path].append(target)
            other = part(name)
            if other == me:
                continue
            if other not in RULES[me] and name not in RULES[me]:
                errors.append("%s: %s may not include %s" % (where, me, other))
    for path in sources(root, "libidp"):
        for line, kind, name in includes(root, path):
            base = os.path.basename(name)
            if kind == '"' and not os.path.isfile(
                    os.path.join(root, os.path.dirname(path), name)):
                errors.append("%s:%d: #include \"%s\": libidp includes only "
                              "its own files" % (path, line, name))
            elif kind == "<" and os.path.isfile(
                    os.path.join(root, "rotatord", name)) and \
                    not name.startswith("idp/"):
                errors.append("%s:%d: #include <%s>: libidp may not include "
                              "rotatord (%s)" % (path, line, name, base))
    errors += cycles(graph)
    return errors


def cycles(graph):
    """Each include cycle once, as a chain of files."""
    out, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, []):
            if state.get(m) == 1:
                chain = stack[stack.index(m):] + [m]
                out.append("include cycle: " + " -> ".join(chain))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2
    for n in sorted(graph):
        if n not in state:
            visit(n)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
    errors = check(root)
    for e in errors:
        print(e)
    n = sum(1 for _ in sources(root, "rotatord")) + \
        sum(1 for _ in sources(root, "libidp"))
    print("check-includes: %d files, %d violations" % (n, len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
