# SPDX-License-Identifier: Apache-2.0
"""libidp stands on its own: installed with `make install`, a program
built with nothing but its headers, its pkg-config file and the static or
shared library signs and verifies a JWT."""
import os
import subprocess

from conftest import ROOT


def test_installed_libidp_builds_and_runs(tmpdir_short):
    dest = os.path.join(tmpdir_short, "inst")
    libdir = "/usr/lib"
    # Always the plain build: an ASan libidp.a cannot link a plain program.
    p = subprocess.run(["make", "-s", "-C", ROOT, "install", "B=build",
                        "DESTDIR=" + dest,
                        "PREFIX=/usr", "LIBDIR=" + libdir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    assert p.returncode == 0, p.stdout
    pc = os.path.join(dest + libdir, "pkgconfig")
    with open(os.path.join(pc, "idp.pc")) as f:
        assert "libdir=/usr/lib" in f.read()
    env = dict(os.environ, PKG_CONFIG_PATH=pc,
               PKG_CONFIG_SYSROOT_DIR=dest)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "--static",
                            "idp"], env=env, stdout=subprocess.PIPE,
                           text=True, check=True).stdout.split()
    # The headers never reach into rotatord.
    inc = os.path.join(dest, "usr", "include", "idp")
    for h in os.listdir(inc):
        with open(os.path.join(inc, h)) as f:
            assert '#include "' not in f.read(), h
    exe = os.path.join(tmpdir_short, "example")
    src = os.path.join(ROOT, "tests", "data", "libidp", "example.c")
    static = [f for f in flags if f != "-lidp"] + \
        [os.path.join(dest + libdir, "libidp.a")]
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-o", exe, src]
                   + static + ["-lssl", "-lcrypto", "-ljansson", "-ldl"],
                   check=True)
    out = subprocess.run([exe], stdout=subprocess.PIPE, text=True, check=True)
    assert out.stdout.startswith("verified ")
    # And against the shared library.
    subprocess.run(["cc", "-std=c11", "-o", exe + "-so", src] + flags +
                   ["-Wl,-rpath," + dest + libdir],
                   check=True, env=env)
    os.symlink("libidp.so.0", os.path.join(dest + libdir, "libidp.so")) \
        if not os.path.exists(os.path.join(dest + libdir, "libidp.so")) else None
    out = subprocess.run([exe + "-so"], stdout=subprocess.PIPE, text=True,
                         check=True)
    assert out.stdout.startswith("verified ")
