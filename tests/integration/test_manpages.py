# SPDX-License-Identifier: Apache-2.0
"""The man pages: lint-clean, and rotatord.ini(5) documents exactly the
keys that the parser accepts.

What the parser accepts is asked of the real binary: every identifier-like
string literal of rotatord/config/*.c is tried as a key in every section,
and `rotatord --check-config` says which ones are unknown there."""
import os
import re
import subprocess

import pytest

from conftest import ROOT, ROTATORD

MAN = os.path.join(ROOT, "packaging", "man")
PAGES = ["rotatord.8", "rotatorctl.1", "rotatord.ini.5"]


@pytest.mark.parametrize("page", PAGES)
def test_man_page_is_lint_clean(page):
    p = subprocess.run(["mandoc", "-Tlint", "-Wall", os.path.join(MAN, page)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    assert p.returncode == 0 and p.stdout == "", p.stdout


def man_keys():
    """{section: {key: entry text}} from rotatord.ini.5's .SS/.TP/.B."""
    keys, sect, lines = {}, None, open(os.path.join(MAN, "rotatord.ini.5")
                                        ).read().splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = re.match(r'\.SS "\[([a-z]+)', ln)
        if m:
            sect = m.group(1)
            keys.setdefault(sect, {})
        elif ln.startswith(".SH"):
            sect = None
        elif ln == ".TP" and sect is not None and i + 1 < len(lines) and \
                lines[i + 1].startswith(".B "):
            key = lines[i + 1][3:].strip()
            body = []
            j = i + 2
            while j < len(lines) and lines[j] != ".TP" and \
                    not lines[j].startswith((".SS", ".SH")):
                body.append(lines[j])
                j += 1
            assert key not in keys[sect], "%s listed twice in [%s]" % (
                key, sect)
            keys[sect][key] = "\n".join(body)
        i += 1
    return keys


def sections_and_candidates():
    d = os.path.join(ROOT, "rotatord", "config")
    src = "".join(open(os.path.join(d, f)).read()
                  for f in sorted(os.listdir(d)) if f.endswith(".c"))
    table = re.search(r"sect_words\[\] = \{(.*?)\};", src, re.S).group(1)
    sects = re.findall(r'\{ "([a-z]+)",\s*SEC_[A-Z]+,\s*([01]) \}', table)
    cands = sorted(set(re.findall(r'"([a-z][a-z0-9_]*)"', src)))
    return sects, cands


def accepted_keys(tmp):
    """{section: set(keys)} as the binary judges them.  A section holds at
    most 64 keys, so the candidates go in chunks, one file each."""
    sects, cands = sections_and_candidates()
    assert len(sects) >= 10 and len(cands) > 60
    acc, n_unknown, n_tried = {}, 0, 0
    for name, named in sects:
        acc[name] = set()
        for c0 in range(0, len(cands), 50):
            chunk = cands[c0:c0 + 50]
            lines = ['[%s "t"]' % name if named == "1" else "[%s]" % name]
            lines += ["%s = x" % k for k in chunk]
            path = os.path.join(tmp, "%s-%d.ini" % (name, c0))
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            p = subprocess.run([ROTATORD, "--check-config", "-c", path],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            assert p.returncode == 78, p.stdout
            assert "too many" not in p.stdout, p.stdout
            unknown = set(int(x) for x in re.findall(
                r"^%s:(\d+): .*unknown key$" % re.escape(path),
                p.stdout, re.M))
            for i, k in enumerate(chunk):
                n_tried += 1
                if i + 2 in unknown:
                    n_unknown += 1
                else:
                    acc[name].add(k)
    # Most literals are not keys: an answer without "unknown key" at all
    # would mean the test judged nothing.
    assert n_unknown > n_tried / 2
    return acc


def test_every_key_the_parser_accepts_is_documented_and_no_other(tmpdir_short):
    acc = accepted_keys(tmpdir_short)
    doc = man_keys()
    assert set(doc) == set(acc), "sections: man %s, parser %s" % (
        sorted(doc), sorted(acc))
    for s in acc:
        missing = acc[s] - set(doc[s])
        extra = set(doc[s]) - acc[s]
        assert not missing, "[%s] keys not in rotatord.ini(5): %s" % (
            s, sorted(missing))
        assert not extra, "[%s] keys in rotatord.ini(5) the parser " \
            "refuses: %s" % (s, sorted(extra))
    # The parser's own sanity: a few keys known to exist are found.
    assert {"output_dir", "state_dir"} <= acc["rotatord"]
    assert {"endpoints", "key_file", "ack_timeout"} <= acc["cluster"]
    assert "dns" in acc["credential"] and "dns" not in acc["ca"]


def test_every_documented_key_has_a_type_a_default_and_an_example():
    for s, keys in man_keys().items():
        for k, body in keys.items():
            flat = " ".join(body.split())
            assert "Example:" in body, "[%s] %s: no example" % (s, k)
            assert re.search(r"default|required|no default|with ", flat), \
                "[%s] %s: no default" % (s, k)
            assert body.strip().split("\n")[0] != "", "[%s] %s" % (s, k)


def test_man_rotatord_ini_opens_the_page(tmpdir_short):
    """`man` finds the page under its name once installed (MANPATH)."""
    root = os.path.join(tmpdir_short, "man")
    os.makedirs(os.path.join(root, "man5"))
    dst = os.path.join(root, "man5", "rotatord.ini.5")
    with open(os.path.join(MAN, "rotatord.ini.5")) as f, open(dst, "w") as o:
        o.write(f.read())
    env = dict(os.environ, MANPATH=root, MANPAGER="cat", PAGER="cat",
               MANWIDTH="100")
    p = subprocess.run(["man", "rotatord.ini"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert "ack_timeout" in p.stdout and "verify_threads" in p.stdout


# keytab.c's rows: SECT("key", K_TYPE, min, max, field, default).
KEYTAB_SECT = {"ROT": "rotatord", "CA": "ca", "SIG": "signer",
               "RLD": "reload", "ISS": "issuer", "LST": "listen",
               "CLU": "cluster", "CLI": "client"}
UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def keytab_rows():
    src = open(os.path.join(ROOT, "rotatord", "config", "keytab.c")).read()
    env = {"SEC_S": 1000, "MIN_S": 60000, "HOUR_S": 3600000,
           "DAY_S": 86400000, "IDP_KEY_EC_P256": 1}
    for m in re.finditer(r'^\t(%s)\("([a-z_]+)", (K_[A-Z]+), ([^,]+), '
                         r'([^,]+), \w+, ([^)]+)\),$'
                         % "|".join(KEYTAB_SECT), src, re.M):
        sect, key, kind = KEYTAB_SECT[m.group(1)], m.group(2), m.group(3)
        lo, hi, dflt = (eval(m.group(i), {}, env) for i in (4, 5, 6))
        yield sect, key, kind, lo, hi, dflt


def ms(text):
    """A duration of rotatord.ini(5) ("1h", "90s", "1ms") in ms."""
    if text == "0":
        return 0
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    assert m, text
    return int(m.group(1)) * UNITS[m.group(2)]


def size(text):
    m = re.fullmatch(r"(\d+)([kM]?)", text)
    assert m, text
    return int(m.group(1)) * {"": 1, "k": 1024, "M": 1 << 20}[m.group(2)]


def test_man_page_ranges_and_defaults_match_the_key_table():
    """Every row of keytab.c is documented with its own range and default:
    the table is the one place a plain key is defined, the page follows."""
    doc = man_keys()
    rows = list(keytab_rows())
    assert len(rows) >= 40, "keytab.c rows not recognised: %d" % len(rows)
    for sect, key, kind, lo, hi, dflt in rows:
        assert key in doc.get(sect, {}), "[%s] %s not documented" % (
            sect, key)
        flat = " ".join(doc[sect][key].split())
        where = "[%s] %s: %s" % (sect, key, flat[:80])
        dm = re.search(r"default \.BR (\S+) \.", flat)
        if kind == "K_UINT":
            assert re.match(r"integer, %d to %d;" % (lo, hi), flat), where
            assert dm and int(dm.group(1)) == dflt, where
        elif kind == "K_SIZE":
            m = re.match(r"\.IR size , (\S+) to (\S+);", flat)
            assert m and (size(m.group(1)), size(m.group(2))) == (lo, hi), \
                where
            assert dm and size(dm.group(1)) == dflt, where
        elif kind == "K_DUR":
            if hi > 0:
                m = re.match(r"\.IR duration , (\S+) to (\S+);", flat)
                assert m and (ms(m.group(1)), ms(m.group(2))) == (lo, hi), \
                    where
            elif lo == 0:
                assert flat.startswith(".IR duration , 0 or more;"), where
            else:
                m = re.match(r"\.IR duration , at least (\S+);", flat)
                assert m, where
                # "at least retry_min": a rule between keys, in build.c.
                assert m.group(1) in doc[sect] or ms(m.group(1)) == lo, \
                    where
            assert dm and ms(dm.group(1)) == dflt, where
        elif kind == "K_BOOL":
            assert flat.startswith(".IR bool "), where
            if dm:
                assert dm.group(1) in ("no", "yes"), where
                assert (dm.group(1) == "yes") == bool(dflt), where


def test_the_example_config_shows_every_key():
    """conf/rotatord.ini, the commented example, names every key that
    rotatord.ini(5) documents (set, or commented out with its default)."""
    with open(os.path.join(ROOT, "conf", "rotatord.ini")) as f:
        conf = f.read()
    missing = sorted("[%s] %s" % (s, k) for s, keys in man_keys().items()
                     for k in keys if not re.search(
                         r"^;?\s*%s\s*=" % re.escape(k), conf, re.M))
    assert not missing, "not in conf/rotatord.ini: %s" % missing
