#!/usr/bin/env python3
"""bench/mc-compat.py -- differential memcached protocol checker (text + meta protocol).

Sends the same byte sequences to a reference memcached (A) and to a server under
test (B) and reports every difference in the exact reply bytes.  Python 3 standard
library only.

Usage
-----
  python3 bench/mc-compat.py --a HOST:PORT --b HOST:PORT [--filter SUBSTR] [-v]
  python3 bench/mc-compat.py --start-reference --b HOST:PORT [--filter SUBSTR] [-v]
  python3 bench/mc-compat.py --start-reference --dump [--filter SUBSTR]   # what memcached answers
  python3 bench/mc-compat.py --list

  --a HOST:PORT        reference memcached (normally 1.6.18)
  --b HOST:PORT        server under test (e.g. cairn --memcached-port)
  --start-reference    start our own reference: `memcached -p P -l 127.0.0.1 -U 0 -t 2`
                       on a free port (plus `-u root` when running as root, which
                       memcached requires); it is stopped when the script exits.
  --filter SUBSTR      only cases whose name contains SUBSTR (repeatable: any match)
  --exclude SUBSTR     skip cases whose name contains SUBSTR (repeatable)
  --dump               print every step and the reference's (normalised) reply
  -v                   print every case (PASS/FAIL) and, for failures, all steps
  --timeout SECONDS    how long to wait for a reply (default 2)

Exit status: 0 only if every selected case matched (or, with --dump and no --b,
if the reference run completed without timeouts); 1 on a difference; 2 on a usage
or connection error.

How a case runs
---------------
* A case is a named list of steps.  Each case starts on a fresh connection (conn 0)
  with `flush_all\r\n` (its reply is step 0 and is compared too).  Steps can use other
  connections (conn 1, 2...), opened on first use without a flush.  A step on a
  connection that an earlier step saw closed opens a new connection.
* Normal step: send the bytes, then send the sentinel `mn\r\n` and read until the
  sentinel's `MN\r\n` arrives; the sentinel's MN is stripped.  If the step itself
  contains `mn` lines, the checker waits for that many extra MN lines first.  If no MN
  arrives within --timeout, the reply is recorded with `<timeout>` appended and the
  connection is dropped.
* close step: send, then read until EOF (recorded as `<closed>`) or --timeout
  (recorded as `<still open>`).
* nosentinel step: send, then read until the connection has been quiet for 0.3 s
  (used when a sentinel would be swallowed as data, e.g. a short data block, or for
  binary protocol bytes).
* Templates in a step's bytes: `@cas1@`, `@cas2@`... are replaced by the raw CAS
  value that the *same server* returned and that was numbered CAS#1, CAS#2... in this
  case; `@now+N@` / `@now-N@` by the current unix time plus/minus N.

Normalisation (applied to both servers before comparing)
--------------------------------------------------------
* CAS uniques -- the 5th token of `VALUE key flags bytes cas`, the `c<number>`
  return flag of meta replies (HD/VA/EN/NF/NS/EX lines), and `cas=<n>` of `ME`
  replies -- become `<CAS#1>`, `<CAS#2>`... numbered by first appearance within the
  case, so "same CAS twice" and "CAS changed" still compare.
* `VERSION <anything>` becomes `VERSION <version>`.
* Only in cases marked volatile:  't' -> meta `t<n>` (n >= 0) and ME `exp=<n>` become
  `<~n>` and compare with a tolerance of 2 s;  'l' -> meta `l<n>` and ME `la=<n>`
  likewise;  'me' -> ME `cls=` and `size=` (memcached slab class / internal item size)
  become `<cls>` / `<size>`.
* Data blocks (after VALUE / VA lines) are never normalised.

Notes
-----
* Validated by running it against two memcached 1.6.18 instances: all cases match,
  repeatedly.  Cases were written so that memcached itself is deterministic: e.g. the
  in-place space padding of a shorter incr/decr result ("100" - 1 -> "99 ") is skipped
  by memcached when another reference to the item is held, which a recent fetch can
  cause (async LRU bump), so the incr cases never fetch a key before shrinking it.
* Cases that sleep: flush-all-delayed (3.2 s) and expiry-real (3.2 s); a full run
  takes about 20 s against two local memcacheds.
* The binary-protocol case records memcached's binary replies; a server that
  deliberately does not speak the binary protocol can skip it with --exclude binary.
* --dump -v also prints the raw (un-normalised) reply under each normalised one.
"""

import argparse
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

# --------------------------------------------------------------------------------------
# Case definitions
# --------------------------------------------------------------------------------------


class Step:
    def __init__(self, send, conn=0, close=False, sentinel=True, sleep=0.0, mn=None, quiet=0.3):
        if isinstance(send, str):
            send = send.encode("latin-1")
        self.send = send
        self.conn = conn
        self.close = close
        self.sentinel = sentinel and not close
        self.sleep = sleep
        self.quiet = quiet
        if mn is None:
            mn = sum(1 for line in send.split(b"\n") if line.rstrip(b"\r") == b"mn" or line.startswith(b"mn "))
        self.mn = mn


def CLOSE(send, conn=0, **kw):
    return Step(send, conn=conn, close=True, **kw)


def RAW(send, conn=0, **kw):
    return Step(send, conn=conn, sentinel=False, **kw)


class Case:
    def __init__(self, name, steps, volatile="", note=""):
        self.name = name
        self.steps = [s if isinstance(s, Step) else Step(s) for s in steps]
        self.volatile = set(volatile.split()) if isinstance(volatile, str) else set(volatile)
        self.note = note


CASES = []


def case(name, *steps, volatile="", note=""):
    assert all(c.name != name for c in CASES), name
    CASES.append(Case(name, steps, volatile, note))


def B(s):
    return s.encode("latin-1") if isinstance(s, str) else s


# ---------------- storage commands ----------------

case("set-get-basic",
     "set sg:a 0 0 5\r\nhello\r\n",
     "get sg:a\r\n",
     "set sg:b 123 0 3\r\nxyz\r\n",
     "get sg:b\r\n",
     "set sg:a 4294967295 0 7\r\nchanged\r\n",
     "get sg:a\r\n",
     "set sg:empty 0 0 0\r\n\r\n",
     "get sg:empty\r\n",
     "set sg:bin 0 0 8\r\n\x00\x01\r\n\x80\xff \n\r\n",
     "get sg:bin\r\n",
     "get sg:missing\r\n",
     note="set/get incl. max flags, empty value, binary-safe value")

case("get-multi",
     "set gm:a 1 0 1\r\na\r\nset gm:b 2 0 2\r\nbb\r\nset gm:c 3 0 3\r\nccc\r\n",
     "get gm:a gm:missing gm:b gm:c gm:nope\r\n",
     "get gm:a gm:a gm:b\r\n",
     "gets gm:a gm:missing gm:b gm:c\r\n",
     "gets gm:a gm:a\r\n",
     "get gm:x gm:y\r\n",
     "get\r\n",
     "gets\r\n",
     "get gm:a  gm:b\r\n",
     "get gm:a \r\n",
     note="several keys, missing keys, duplicates, no key, double space")

case("add",
     "add ad:k 5 0 3\r\nnew\r\n",
     "add ad:k 6 0 3\r\nold\r\n",
     "get ad:k\r\n",
     "delete ad:k\r\n",
     "add ad:k 7 0 5\r\nagain\r\n",
     "add ad:k 8 0 5\r\nagain\r\n",
     "gets ad:k\r\n")

case("replace",
     "replace rp:k 0 0 3\r\nabc\r\n",
     "get rp:k\r\n",
     "set rp:k 1 0 3\r\nabc\r\n",
     "replace rp:k 2 0 4\r\nwxyz\r\n",
     "get rp:k\r\n")

case("append-prepend",
     "append ap:k 0 0 3\r\nabc\r\n",
     "prepend ap:k 0 0 3\r\nabc\r\n",
     "get ap:k\r\n",
     "set ap:k 42 0 3\r\nmid\r\n",
     "gets ap:k\r\n",
     "append ap:k 99 0 4\r\n_end\r\n",
     "prepend ap:k 77 1000 6\r\nstart_\r\n",
     "gets ap:k\r\n",
     "append ap:k 0 0 0\r\n\r\n",
     "gets ap:k\r\n",
     note="append/prepend ignore flags and exptime; a miss is NOT_STORED; CAS changes")

case("cas",
     "cas cs:k 0 0 1 12345\r\nx\r\n",
     "set cs:k 0 0 3\r\none\r\n",
     "gets cs:k\r\n",
     "cas cs:k 5 0 3 @cas1@\r\ntwo\r\n",
     "gets cs:k\r\n",
     "cas cs:k 0 0 5 @cas1@\r\nthree\r\n",
     "gets cs:k\r\n",
     "cas cs:k 0 0 4 @cas2@ noreply\r\nfour\r\n",
     "gets cs:k\r\n",
     "cas cs:k 0 0 4 @cas2@ noreply\r\nfive\r\n",
     "gets cs:k\r\n",
     "delete cs:k\r\n",
     "cas cs:k 0 0 1 @cas3@\r\nx\r\n",
     "cas cs:k 0 0 1\r\nx\r\n",
     "cas cs:k 0 0 1 abc\r\nx\r\n",
     "cas cs:k 0 0 1 -1\r\nx\r\n",
     note="cas hit, stale cas -> EXISTS, miss -> NOT_FOUND, noreply, missing/bad unique")

case("noreply-storage",
     "set nr:a 0 0 1 noreply\r\na\r\n",
     "add nr:a 0 0 1 noreply\r\nb\r\n",
     "add nr:b 0 0 1 noreply\r\nb\r\n",
     "replace nr:a 0 0 2 noreply\r\naa\r\n",
     "replace nr:zz 0 0 2 noreply\r\nzz\r\n",
     "append nr:a 0 0 1 noreply\r\n+\r\n",
     "prepend nr:a 0 0 1 noreply\r\n-\r\n",
     "append nr:zz 0 0 1 noreply\r\n+\r\n",
     "get nr:a nr:b nr:zz\r\n",
     "gets nr:a\r\n",
     "cas nr:a 0 0 1 @cas1@ noreply\r\nC\r\n",
     "get nr:a\r\n",
     "incr nr:a 1 noreply\r\n",
     "set nr:n 0 0 1 noreply\r\n5\r\n",
     "incr nr:n 10 noreply\r\n",
     "decr nr:n 3 noreply\r\n",
     "incr nr:none 1 noreply\r\n",
     "touch nr:n 100 noreply\r\n",
     "touch nr:none 100 noreply\r\n",
     "get nr:n\r\n",
     "delete nr:n noreply\r\n",
     "delete nr:n noreply\r\n",
     "get nr:n\r\n",
     "set nr:x 0 0 1 NOREPLY\r\nx\r\n",
     "set nr:y 0 0 1 norepl\r\ny\r\n",
     note="noreply on every storage command (hits, misses, errors)")

case("gat-gats",
     "set gt:a 1 0 1\r\na\r\nset gt:b 2 100 2\r\nbb\r\n",
     "gat 300 gt:a gt:missing gt:b\r\n",
     "mg gt:a t\r\nmg gt:b t\r\n",
     "gats 0 gt:a gt:b gt:missing\r\n",
     "mg gt:a t\r\nmg gt:b t\r\n",
     "gat 100 gt:missing\r\n",
     "gat gt:a\r\n",
     "gat abc gt:a\r\n",
     "gat\r\n",
     "gats 100\r\n",
     "gat -1 gt:a\r\n",
     "get gt:a gt:b\r\n",
     volatile="t",
     note="gat/gats update the TTL; negative exptime expires the item")

case("touch",
     "set tc:k 0 0 1\r\nv\r\n",
     "touch tc:k 100\r\n",
     "mg tc:k t v\r\n",
     "touch tc:none 100\r\n",
     "touch tc:k 0\r\n",
     "mg tc:k t\r\n",
     "touch tc:k abc\r\n",
     "touch tc:k\r\n",
     "touch tc:k 10 noreply extra\r\n",
     "touch tc:k -1\r\n",
     "get tc:k\r\n",
     volatile="t")

# Note on the incr/decr cases: when the result is shorter than the stored value,
# memcached rewrites the value in place padded with spaces ("100" - 1 -> "99 ") -- but
# only if nobody else holds a reference to the item; otherwise it allocates a new item
# of the exact length ("99").  A get/gets/mg shortly before (< ~1 s) can leave such a
# reference behind (the async LRU bump of a fetched item), so in these cases a value
# whose width matters is never fetched before a shrinking incr/decr: each key is read
# only at the end.  The padded form is what memcached answers normally.
case("incr-decr-basic",
     "incr id:none 1\r\n",
     "decr id:none 1\r\n",
     "set id:n 5 0 2\r\n10\r\n",
     "gets id:n\r\n",
     "incr id:n 5\r\n",
     "gets id:n\r\n",
     "decr id:n 3\r\n",
     "gets id:n\r\n",
     "incr id:n 0\r\n",
     "gets id:n\r\n",
     "set id:z 7 0 2\r\n10\r\n",
     "decr id:z 100\r\n",
     "decr id:z 1\r\n",
     "get id:z\r\n",
     note="incr/decr, decr clamps at 0 (no wrap); flags kept; CAS changes (even for +0)")

case("incr-width",
     "set iw:a 0 0 2\r\n99\r\nincr iw:a 1\r\n",
     "set iw:b 0 0 3\r\n100\r\ndecr iw:b 1\r\n",
     "set iw:c 0 0 3\r\n100\r\ndecr iw:c 91\r\n",
     "set iw:d 0 0 3\r\n100\r\ndecr iw:d 91\r\nincr iw:d 1\r\n",
     "set iw:e 0 0 2\r\n10\r\ndecr iw:e 1\r\nincr iw:e 1\r\n",
     "set iw:f 0 0 5\r\n00042\r\nincr iw:f 1\r\n",
     "get iw:a iw:b iw:c iw:d iw:e iw:f\r\n",
     note="a shorter result is padded with spaces in place (\"100\" - 1 -> \"99 \"); "
          "a longer one gets a new item of the exact length")

case("incr-overflow",
     "set io:k 0 0 20\r\n18446744073709551615\r\n",
     "incr io:k 1\r\n",
     "get io:k\r\n",
     "set io:k 0 0 20\r\n18446744073709551614\r\n",
     "incr io:k 1\r\n",
     "incr io:k 2\r\n",
     "set io:k 0 0 20\r\n18446744073709551616\r\n",
     "incr io:k 1\r\n",
     "set io:k 0 0 1\r\n0\r\n",
     "incr io:k 18446744073709551615\r\n",
     "incr io:k 18446744073709551616\r\n",
     "decr io:k 18446744073709551615\r\n",
     note="incr wraps modulo 2^64; a value or delta >= 2^64 is invalid")

case("incr-invalid",
     "set ii:s 0 0 3\r\nabc\r\n",
     "incr ii:s 1\r\n",
     "decr ii:s 1\r\n",
     "set ii:m 0 0 3\r\n12a\r\n",
     "incr ii:m 1\r\n",
     "set ii:e 0 0 0\r\n\r\n",
     "incr ii:e 1\r\n",
     "set ii:sp 0 0 3\r\n 12\r\n",
     "incr ii:sp 1\r\n",
     "get ii:sp\r\n",
     "set ii:neg 0 0 2\r\n-5\r\n",
     "incr ii:neg 1\r\n",
     "set ii:n 0 0 1\r\n7\r\n",
     "incr ii:n abc\r\n",
     "incr ii:n -1\r\n",
     "decr ii:n -1\r\n",
     "incr ii:n 1.5\r\n",
     "incr ii:n\r\n",
     "incr ii:n 1 2\r\n",
     "incr ii:n \r\n",
     "get ii:n\r\n",
     note="non-numeric value, invalid delta, missing delta")

case("delete",
     "set dl:k 0 0 1\r\nv\r\n",
     "delete dl:k\r\n",
     "delete dl:k\r\n",
     "set dl:k 0 0 1\r\nv\r\n",
     "delete dl:k 0\r\n",
     "set dl:k 0 0 1\r\nv\r\n",
     "delete dl:k 5\r\n",
     "get dl:k\r\n",
     "delete dl:k 0 noreply\r\n",
     "get dl:k\r\n",
     "delete dl:k noreply\r\n",
     "delete\r\n",
     "delete dl:k 0 0\r\n",
     "delete dl:k x\r\n",
     note="`delete k 0` is allowed (legacy), any other time argument is an error")

case("flush-all",
     "set fa:a 0 0 1\r\na\r\n",
     "flush_all\r\n",
     "get fa:a\r\n",
     "set fa:a 0 0 1\r\na\r\n",
     "get fa:a\r\n",
     "flush_all 0\r\n",
     "get fa:a\r\n",
     "set fa:a 0 0 1\r\na\r\n",
     "flush_all noreply\r\n",
     "get fa:a\r\n",
     "set fa:a 0 0 1\r\na\r\n",
     "flush_all 0 noreply\r\n",
     "get fa:a\r\n",
     "flush_all abc\r\n",
     "flush_all -1\r\n",
     "flush_all 0 0\r\n",
     "set fa:a 0 0 1\r\na\r\n",
     "get fa:a\r\n")

case("flush-all-delayed",
     "set fd:a 0 0 1\r\na\r\n",
     "flush_all 3\r\n",
     "get fd:a\r\n",
     Step("get fd:a\r\n", sleep=3.2),
     "set fd:b 0 0 1\r\nb\r\n",
     "get fd:b\r\n",
     note="a delayed flush keeps items until the deadline")

case("version",
     "version\r\n",
     "version extra\r\n",
     note="the version string is normalised")

case("verbosity",
     "verbosity 1\r\n",
     "verbosity 0\r\n",
     "verbosity\r\n",
     "verbosity 1 noreply\r\n",
     "verbosity abc\r\n",
     "verbosity 0 0 0\r\n",
     "verbosity 0\r\n")

# ---------------- data chunk / framing errors ----------------

case("bad-chunk-long",
     "set bc:k 0 0 3\r\nabcde\r\n",
     "get bc:k\r\n",
     "set bc:k 0 0 3\r\nabcdefghij klm\r\n",
     "get bc:k\r\n",
     note="data longer than declared: CLIENT_ERROR bad data chunk, then the rest is parsed as commands")

case("bad-chunk-short",
     RAW("set bs:k 0 0 10\r\nabc\r\n"),
     "get x\r\n",
     "get bs:k\r\n",
     RAW("set bs:k 0 0 10\r\nabc\r\n"),
     "get bs:k\r\n",
     "get bs:k\r\n",
     note="data shorter than declared: the following bytes are read as data "
          "(\"abc\\r\\n\" + \"get x\\r\\n\" is exactly 10+2 bytes and is stored)")

case("bad-chunk-terminator",
     "set bt:k 0 0 3\r\nabcXY",
     "get bt:k\r\n",
     "set bt:k 0 0 3\r\nabc\n\r\n",
     "get bt:k\r\n",
     "set bt:k 0 0 3\r\nabc\r\n",
     "get bt:k\r\n",
     note="data block not followed by \\r\\n")

case("bad-chunk-noreply",
     "set bn:k 0 0 3 noreply\r\nabcde\r\n",
     "get bn:k\r\n",
     "add bn:k 0 0 1 noreply\r\nabc\r\n",
     "get bn:k\r\n")

case("key-length",
     "set " + "a" * 250 + " 0 0 1\r\nx\r\n",
     "get " + "a" * 250 + "\r\n",
     "set " + "b" * 251 + " 0 0 1\r\nx\r\n",
     "get " + "b" * 251 + "\r\n",
     "get kl:x " + "b" * 251 + "\r\n",
     "delete " + "b" * 251 + "\r\n",
     "incr " + "b" * 251 + " 1\r\n",
     "touch " + "b" * 251 + " 1\r\n",
     "mg " + "a" * 250 + " v\r\n",
     "mg " + "b" * 251 + " v\r\n",
     "ms " + "b" * 251 + " 1\r\nx\r\n",
     "md " + "b" * 251 + "\r\n",
     "ma " + "b" * 251 + "\r\n",
     note="250 bytes is the maximum key length")

case("key-control-chars",
     "set kc:a\x01b 0 0 1\r\nx\r\n",
     "get kc:a\x01b\r\n",
     "set kc:tab\tx 0 0 1\r\ny\r\n",
     "get kc:tab\tx\r\n",
     "get kc:tab\r\n",
     "set kc:del\x7f 0 0 1\r\nz\r\n",
     "get kc:del\x7f\r\n",
     "set kc:nul\x00x 0 0 1\r\nn\r\n",
     "get kc:nul\x00x\r\n",
     "set kc:hi\xe9 0 0 1\r\nh\r\n",
     "get kc:hi\xe9\r\n",
     "mg kc:a\x01b v\r\n",
     "ms kc:m\x02 1\r\nm\r\n",
     "mg kc:m\x02 v k\r\n",
     note="memcached's text protocol only splits on spaces")

case("line-endings",
     "set le:k 0 0 1\nx\r\n",
     "get le:k\n",
     "get le:k\r\r\n",
     "set le:k 0 0 1\r\ny\n\r\n",
     "get le:k\r\n",
     "mg le:k v\n",
     note="bare \\n as a line terminator")

case("too-many-tokens",
     "set tm:k 0 0 1 noreply a b c d e f g h i j k l m n o p q r s t u v w x y z\r\nx\r\n",
     "set tm:k 0 0 1 a\r\nx\r\n",
     "get tm:k\r\n",
     "get " + " ".join("tm:%d" % i for i in range(40)) + "\r\n",
     "incr tm:k 1 noreply x\r\n",
     "delete tm:k 0 noreply x\r\n",
     "touch tm:k 1 noreply x\r\n",
     "version a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n",
     "mg tm:k v f t s k c h l O1 q u a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n",
     note="more tokens than a command takes")

case("unknown-command",
     "foo\r\n",
     "foo bar baz\r\n",
     "GET x\r\n",
     "Set x 0 0 1\r\n",
     "gett x\r\n",
     "stats_foo\r\n",
     "m\r\n",
     "mx k\r\n",
     "get x\r\n")

case("empty-line",
     "\r\n",
     "\n",
     "   \r\n",
     "\r\n\r\n",
     " get x\r\n",
     "get x\r\n")

case("long-line",
     "x" * 5000 + "\r\n",
     "get " + " ".join("ll:%04d" % i for i in range(600)) + "\r\n",
     "set ll:k 0 0 1 " + "9" * 3000 + "\r\nx\r\n",
     "get ll:k\r\n",
     note="over-long command lines")

case("bad-numbers",
     "set bn2:k -1 0 1\r\nx\r\n",
     "set bn2:k abc 0 1\r\nx\r\n",
     "set bn2:k 4294967296 0 1\r\nx\r\n",
     "set bn2:k 0 abc 1\r\nx\r\n",
     "set bn2:k 0 99999999999 1\r\nx\r\n",
     "set bn2:k 0 0 -1\r\nx\r\n",
     "set bn2:k 0 0 abc\r\nx\r\n",
     "set bn2:k 0 0 1x\r\nx\r\n",
     "set bn2:k 0 0\r\nx\r\n",
     "set bn2:k 0\r\n",
     "set bn2:k\r\n",
     "set\r\n",
     "set bn2:k 0x10 0 1\r\nx\r\n",
     "set bn2:k +5 0 1\r\nx\r\n",
     "set bn2:k 0 0 +1\r\nx\r\n",
     "set bn2:k 0 0 2147483647\r\n",
     "get bn2:k\r\n",
     note="bad flags / exptime / length; shows whether the data line is swallowed")

case("too-large",
     B("set tl:k 0 0 2000000\r\n") + b"x" * 2000000 + b"\r\n",
     "get tl:k\r\n",
     B("set tl:k 0 0 1048576\r\n") + b"y" * 1048576 + b"\r\n",
     "set tl:k 0 0 1\r\nz\r\n",
     B("set tl:k 0 0 1048576\r\n") + b"y" * 1048576 + b"\r\n",
     "get tl:k\r\n",
     B("set tl:ok 0 0 1000000\r\n") + b"o" * 1000000 + b"\r\n",
     "mg tl:ok s\r\n",
     B("ms tl:k 2000000\r\n") + b"x" * 2000000 + b"\r\n",
     "get tl:k\r\n",
     B("set tl:k 0 0 2000000 noreply\r\n") + b"x" * 2000000 + b"\r\n",
     B("append tl:ok 0 0 100000\r\n") + b"a" * 100000 + b"\r\n",
     "mg tl:ok s\r\n",
     note="value over the 1 MB item limit: SERVER_ERROR, data swallowed, old value removed")

case("exptime-negative",
     "set en:k 0 -1 1\r\nx\r\n",
     "get en:k\r\n",
     "add en:k 0 0 1\r\ny\r\n",
     "get en:k\r\n",
     "set en:k 0 -100 1\r\nz\r\n",
     "mg en:k v\r\n",
     "ms en:m 1 T-1\r\nm\r\n",
     "mg en:m v\r\n",
     note="negative exptime: stored, immediately expired")

case("exptime-absolute",
     "set ea:past 0 2592001 1\r\np\r\n",
     "get ea:past\r\n",
     "set ea:rel 0 2592000 1\r\nr\r\n",
     "mg ea:rel v t\r\n",
     "set ea:fut 0 @now+1000@ 1\r\nf\r\n",
     "mg ea:fut v t\r\n",
     "set ea:past2 0 @now-10@ 1\r\nq\r\n",
     "get ea:past2\r\n",
     "touch ea:rel @now-10@\r\n",
     "get ea:rel\r\n",
     "ms ea:m 1 T@now+500@\r\nm\r\n",
     "mg ea:m t\r\n",
     volatile="t",
     note="exptime > 30 days (2592000 s) is an absolute unix time")

case("expiry-real",
     "set ex:k 0 2 1\r\nx\r\n",
     "ms ex:m 1 T2\r\nm\r\n",
     "get ex:k\r\n",
     "mg ex:m v\r\n",
     Step("get ex:k\r\n", sleep=3.2),
     "mg ex:m v\r\n",
     note="a 2-second item is gone 3.2 seconds later")

case("quit",
     "set qt:k 0 0 1\r\nx\r\n",
     CLOSE("quit\r\n"),
     CLOSE("quit\r\nget qt:k\r\n", conn=1),
     "get qt:k\r\n",
     CLOSE("quit extra\r\n", conn=2),
     CLOSE("mn\r\nquit\r\nmn\r\n", conn=3),
     note="quit closes without a reply; pipelined commands after it are not run")

case("binary-protocol",
     RAW(b"\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xde\xad\xbe\xef" + b"\x00" * 8, conn=1),
     RAW(b"\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" + b"\x00" * 8, conn=1),
     CLOSE(b"\x81\x00\x00\x00" + b"\x00" * 20, conn=1),
     RAW(b"\x80", conn=2),
     RAW(b"\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 8, conn=2),
     RAW(b"\x80\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x07" + b"\x00" * 8 + b"bk", conn=2),
     RAW(b"\x80\xfe\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08" + b"\x00" * 8, conn=2),
     CLOSE(b"get x\r\n" * 4, conn=2),
     B("\x80 get x\r\n"),
     B("get \x80\r\n"),
     note="first byte 0x80 on a fresh connection selects memcached's binary protocol "
          "(NOOP -> 24-byte NOOP response, GET miss -> status 1 \"Not found\", unknown opcode "
          "-> status 0x81); a bad magic byte or text on a binary connection closes it; "
          "conn 0 is already in text mode, where 0x80 is just a byte")

# ---------------- meta protocol ----------------

case("meta-mn",
     "mn\r\n",
     "mn\r\nmn\r\n",
     "mn extra\r\n",
     "mn O1 q\r\n")

case("meta-mg-hit-flags",
     "ms mh:k 5 F33 T0\r\nhello\r\n",
     "mg mh:k\r\n",
     "mg mh:k v\r\n",
     "mg mh:k f\r\n",
     "mg mh:k s\r\n",
     "mg mh:k k\r\n",
     "mg mh:k c\r\n",
     "mg mh:k t\r\n",
     "mg mh:k O12345\r\n",
     "mg mh:k v f c t s k O99\r\n",
     "mg mh:k O99 k s t c f v\r\n",
     "mg mh:k q v\r\n",
     "mg mh:k q\r\n",
     "mg mh:k v f t s k O1 h l u\r\n",
     "mg mh:k O" + "a" * 30 + "\r\n",
     "mg mh:k O" + "b" * 31 + "\r\n",
     "mg mh:k O" + "c" * 32 + "\r\n",
     "mg mh:k O\r\n",
     volatile="l",
     note="mg return flags on a hit; order of the flags follows the request")

case("meta-mg-miss",
     "mg mm:k\r\n",
     "mg mm:k v\r\n",
     "mg mm:k v f c t s k O77\r\n",
     "mg mm:k v q\r\n",
     "mg mm:k v q k O5\r\n",
     "mn\r\n",
     "mg mm:k v q\r\nmg mm:j v\r\nmn\r\n",
     "mg mm:k b\r\n",
     "mg bW06aw== b v k\r\n",
     note="miss -> EN; q suppresses EN; k/O echoed on EN")

case("meta-mg-h-l-u",
     "ms mhl:k 1\r\nx\r\n",
     "mg mhl:k h l\r\n",
     "mg mhl:k h l\r\n",
     "mg mhl:k h u\r\n",
     "ms mhl:j 1\r\ny\r\n",
     "mg mhl:j h u\r\n",
     "mg mhl:j h\r\n",
     "mg mhl:j h\r\n",
     volatile="l",
     note="h = hit before (0/1), l = seconds since last access, u = don't bump LRU/fetched")

case("meta-mg-T-E",
     "ms mte:k 1 T100\r\nx\r\n",
     "mg mte:k t T500\r\n",
     "mg mte:k t\r\n",
     "mg mte:k t T0\r\n",
     "mg mte:k t\r\n",
     "mg mte:k c E999\r\n",
     "mg mte:k Tabc\r\n",
     volatile="t",
     note="mg T<ttl> touches")

case("meta-base64",
     "ms Zm9vYmFy 3 b\r\nabc\r\n",
     "get foobar\r\n",
     "mg Zm9vYmFy b v k\r\n",
     "mg foobar v k\r\n",
     "mg Zm9vYmFy v k\r\n",
     "mg !!!! b v\r\n",
     "md Zm9vYmFy b q\r\n",
     "get foobar\r\n",
     "ma Y291bnQ= b N0 J5 v k\r\n",
     "get count\r\n",
     "ms Zm9v b 1\r\nx\r\n",
     "mg Zm9v b k v\r\n",
     note="b: key is base64; with k the key is returned base64 and b is echoed")

case("meta-ms-basic",
     "ms ms:k 3\r\nabc\r\n",
     "mg ms:k v f t s c\r\n",
     "ms ms:k 3 F5 T0 c\r\ndef\r\n",
     "mg ms:k v f c\r\n",
     "ms ms:k 2 k O42 c b\r\nzz\r\n",
     "ms ms:k 2 k O42\r\nzz\r\n",
     "ms ms:k 2 q\r\nqq\r\n",
     "ms ms:k 2 q F1\r\nqq\r\nmn\r\n",
     "ms ms:k 0\r\n\r\n",
     "mg ms:k v s\r\n",
     "ms ms:k 1 s f t v\r\nx\r\n",
     "ms ms:k 1 S1\r\ny\r\n",
     "get ms:k\r\n",
     note="ms returns HD; c returns the new CAS; q suppresses HD")

case("meta-ms-ttl-flags",
     "ms mst:k 1 T100 F4294967295\r\nx\r\n",
     "mg mst:k t f\r\n",
     "get mst:k\r\n",
     "ms mst:k 1 F4294967296\r\nx\r\n",
     "ms mst:k 1 F-1\r\nx\r\n",
     "ms mst:k 1 Fabc\r\nx\r\n",
     "ms mst:k 1 Tabc\r\nx\r\n",
     "ms mst:k 1 T\r\nx\r\n",
     "mg mst:k t f v\r\n",
     volatile="t")

case("meta-ms-cas",
     "ms mc:k 1 C12345\r\nx\r\n",
     "ms mc:k 1 c\r\na\r\n",
     "ms mc:k 1 C@cas1@ c\r\nb\r\n",
     "ms mc:k 1 C@cas1@ c\r\nc\r\n",
     "mg mc:k v c\r\n",
     "ms mc:k 1 C@cas2@ q\r\nd\r\n",
     "ms mc:k 1 C@cas2@ q\r\ne\r\n",
     "mg mc:k v c\r\n",
     "ms mc:k 1 Cabc\r\nf\r\n",
     "ms mc:k 1 C0\r\ng\r\n",
     "mg mc:k v\r\n",
     note="C<cas>: HD on match, EX on mismatch, NF on a miss; q does not hide EX")

case("meta-ms-modes",
     "ms mo:k 1 ME\r\na\r\n",
     "ms mo:k 1 ME\r\nb\r\n",
     "mg mo:k v\r\n",
     "ms mo:k 1 MA\r\nc\r\n",
     "ms mo:k 1 MP\r\nd\r\n",
     "mg mo:k v\r\n",
     "ms mo:k 1 MR\r\ne\r\n",
     "mg mo:k v\r\n",
     "ms mo:k 1 MS\r\nf\r\n",
     "mg mo:k v\r\n",
     "ms mo:none 1 MR\r\nx\r\n",
     "ms mo:none 1 MA\r\nx\r\n",
     "ms mo:none 1 MP\r\nx\r\n",
     "mg mo:none v\r\n",
     "ms mo:k 1 Ma\r\ng\r\n",
     "ms mo:k 1 Mp\r\nh\r\n",
     "ms mo:k 1 Me\r\ni\r\n",
     "ms mo:k 1 Mr\r\nj\r\n",
     "ms mo:k 1 Ms\r\nk\r\n",
     "mg mo:k v\r\n",
     "ms mo:k 1 MX\r\nl\r\n",
     "ms mo:k 1 M\r\nm\r\n",
     "mg mo:k v\r\n",
     "ms mo:k 1 ME q\r\nn\r\n",
     "ms mo:new 1 ME q\r\nn\r\n",
     "mg mo:new v\r\n",
     "ms mo:k 2 MA F99 T100\r\nop\r\n",
     "mg mo:k v f t\r\n",
     "ms mo:none2 1 MA N100\r\nz\r\n",
     "mg mo:none2 v t\r\n",
     volatile="t",
     note="M mode switch: E add, A append, P prepend, R replace, S set; lowercase modes "
          "and unknown modes are errors; append/prepend keep flags and TTL; q hides HD only")

case("meta-ms-invalid",
     "ms mi:k\r\n",
     "ms mi:k abc\r\nx\r\n",
     "ms mi:k -1\r\nx\r\n",
     "ms mi:k 1 zz\r\nx\r\n",
     "ms mi:k 1 !\r\nx\r\n",
     "ms mi:k 1 T1 T2\r\nx\r\n",
     "ms mi:k 3\r\nabcde\r\n",
     "ms mi:k 3 q\r\nabcde\r\n",
     "mg mi:k v\r\n",
     "ms\r\n",
     "ms mi:k 1 v\r\nx\r\n",
     "mg mi:k v\r\n",
     note="invalid ms lines; what happens to the data block")

case("meta-ms-invalidate",
     "ms mv:k 1 c\r\na\r\n",
     "ms mv:k 1 c\r\nb\r\n",
     "ms mv:k 1 C@cas1@ I c\r\nc\r\n",
     "mg mv:k v c\r\n",
     "mg mv:k v c\r\n",
     "ms mv:k 1 C@cas1@ c\r\nd\r\n",
     "ms mv:k 1 C@cas3@ I c\r\ne\r\n",
     "mg mv:k v c\r\n",
     "ms mv:k 1 I\r\nf\r\n",
     "mg mv:k v c\r\n",
     note="ms I with a CAS older than the item's: stored anyway but marked stale (X); "
          "same CAS: normal set")

case("meta-md",
     "md md:k\r\n",
     "md md:k q\r\n",
     "md md:k q\r\nmn\r\n",
     "ms md:k 1\r\nx\r\n",
     "md md:k\r\n",
     "mg md:k v\r\n",
     "ms md:k 1\r\nx\r\n",
     "md md:k q\r\n",
     "mg md:k v\r\n",
     "ms md:k 1 c\r\nx\r\n",
     "md md:k C999999999\r\n",
     "md md:k C@cas1@ k O5\r\n",
     "mg md:k v\r\n",
     "md md:k k O5 b\r\n",
     "md md:k zz\r\n",
     "md\r\n",
     "md md:k 0\r\n",
     note="md hit HD / miss NF, q, C compare-and-delete")

case("meta-md-stale",
     "ms mds:k 3 T100\r\nold\r\n",
     "md mds:k I T30\r\n",
     "mg mds:k v c t s\r\n",
     "mg mds:k v c t s\r\n",
     "mg mds:k v c t s\r\n",
     "ms mds:k 3 T100\r\nnew\r\n",
     "mg mds:k v c t s\r\n",
     "md mds:k I\r\n",
     "mg mds:k v t\r\n",
     "mg mds:k v t\r\n",
     "md mds:none I T30\r\n",
     "ms mds:t 1 T100\r\nx\r\n",
     "md mds:t T30\r\n",
     "mg mds:t v t\r\n",
     "md mds:k I q\r\n",
     volatile="t",
     note="md I marks stale: next mg gets X and W, following ones X and Z")

case("meta-md-x",
     "ms mdx:k 3 F7 T100\r\nabc\r\n",
     "md mdx:k x\r\n",
     "mg mdx:k v f t s\r\n",
     volatile="t",
     note="md x (drop the value, keep the item) is not a valid flag in 1.6.18")

case("meta-ma",
     "ma ma:k\r\n",
     "ma ma:k q\r\n",
     "ma ma:k v\r\n",
     "ma ma:k N0\r\n",
     "mg ma:k v t\r\n",
     "ma ma:k v\r\n",
     "ma ma:k D10 v\r\n",
     "ma ma:k MD D3 v\r\n",
     "ma ma:k M- D3 v\r\n",
     "ma ma:k MI v\r\n",
     "ma ma:k M+ v\r\n",
     "ma ma:k Md v\r\n",
     "ma ma:k Mi v\r\n",
     "ma ma:k D100 MD v\r\n",
     "ma ma:k c v t\r\n",
     "ma ma:k\r\n",
     "ma ma:k q\r\n",
     "mg ma:k v\r\n",
     "ma ma:k D18446744073709551615 v\r\n",
     "ma ma:k v\r\n",
     "ma ma:k D18446744073709551616 v\r\n",
     "ma ma:k Dabc\r\n",
     "ma ma:k D-1\r\n",
     "ma ma:k MX\r\n",
     "ma ma:k k O9 v\r\n",
     "ma ma:k zz\r\n",
     volatile="t",
     note="ma: miss NF, modes I/+/D/-, clamp at 0, wrap at 2^64, bad delta")

case("meta-ma-autoviv",
     "ma mav:a N0 v\r\n",
     "ma mav:a N0 v\r\n",
     "ma mav:b N100 J42 v t\r\n",
     "ma mav:b N100 J42 v t\r\n",
     "ma mav:c N0 J10 MD v\r\n",
     "ma mav:d J10 v\r\n",
     "ma mav:e N0 J18446744073709551615 v\r\n",
     "ma mav:e N0 v\r\n",
     "ma mav:f N0 Jabc v\r\n",
     "ma mav:g N0 J5 D3 c v\r\n",
     "mg mav:g v c f\r\n",
     volatile="t",
     note="ma N<ttl> autovivifies with J<initial> (returned as-is, no delta applied)")

case("meta-ma-nonnumeric",
     "ms man:k 3\r\nabc\r\n",
     "ma man:k\r\n",
     "ms man:k 2 \r\n99\r\n",
     "ma man:k v\r\n",
     "ma man:k MD D50 v\r\n",
     "get man:k\r\n",
     "ms man:k 20\r\n18446744073709551615\r\n",
     "ma man:k v\r\n",
     "get man:k\r\n")

case("meta-me",
     "me me:none\r\n",
     "ms me:k 3 F5\r\nabc\r\n",
     "me me:k\r\n",
     "mg me:k v\r\n",
     "me me:k\r\n",
     "ms me:t 1 T100\r\nx\r\n",
     "me me:t\r\n",
     "me\r\n",
     "me Zm9v b\r\n",
     volatile="t l me",
     note="me (debug) is answered by memcached; exp= is printed as (now - exptime), i.e. "
          "negative for a future expiry, -1 for none; cls/size are memcached internals (masked)")

case("meta-errors",
     "mg\r\n",
     "mg \r\n",
     "mg k zz\r\n",
     "mg k v v\r\n",
     "mg k v 1\r\n",
     "mg k v -\r\n",
     "mg k N\r\n",
     "mg k Nabc\r\n",
     "mg k R\r\n",
     "md k I I\r\n",
     "ma\r\n",
     "ma k D\r\n",
     "mn\r\n",
     note="malformed meta commands")

case("meta-q-pipeline",
     "ms mq:a 1 q\r\na\r\nms mq:b 1 q\r\nb\r\nmg mq:a v q\r\nmg mq:none v q\r\nmg mq:b v q k\r\n"
     "md mq:none q\r\nma mq:none q\r\nmn\r\n",
     "md mq:a q\r\nmd mq:b q\r\nmg mq:a v q\r\nmg mq:b v q\r\nmn\r\n",
     "mg mq:a v\r\nmg mq:b v\r\n",
     note="quiet mode in a pipeline; mn terminates the batch")

# ---------------- meta: stampede / stale / win / recache recipes ----------------

case("meta-stampede-vivify",
     "mg st:k s c v N30 t\r\n",
     "mg st:k s c v N30 t\r\n",
     "mg st:k s c v t\r\n",
     "ms st:k 5 T60 C@cas1@\r\nvalue\r\n",
     "mg st:k s c v N30 t\r\n",
     "mg st:k s c v N30 t\r\n",
     volatile="t",
     note="miss with N vivifies an empty item: first client gets W (win), others Z "
          "(a winner already exists); the winner's ms clears both")

case("meta-stampede-two-clients",
     Step("mg st2:k c v N30 t\r\n", conn=0),
     Step("mg st2:k c v N30 t\r\n", conn=1),
     Step("mg st2:k c v N30 t\r\n", conn=2),
     Step("ms st2:k 3 T60 C@cas1@\r\nabc\r\n", conn=0),
     Step("mg st2:k c v N30 t\r\n", conn=1),
     Step("ms st2:k 3 T60 C@cas1@\r\nxyz\r\n", conn=2),
     Step("mg st2:k c v t\r\n", conn=2),
     volatile="t",
     note="the same recipe across three connections; a loser's ms with the stale CAS gets EX")

case("meta-stale-recipe",
     "ms ss:k 3 T100\r\nold\r\n",
     "mg ss:k c v\r\n",
     "md ss:k I T30\r\n",
     "mg ss:k c v t\r\n",
     "mg ss:k c v t\r\n",
     "ms ss:k 3 C@cas1@ T100\r\nbad\r\n",
     "ms ss:k 3 C@cas2@ T100\r\nnew\r\n",
     "mg ss:k c v t\r\n",
     "mg ss:k c v t\r\n",
     volatile="t",
     note="md I T30 marks the item stale and gives it a new CAS: the next mg gets X and W, "
          "the following ones X and Z; ms with the pre-invalidation CAS gets EX, ms with the "
          "current CAS succeeds and clears X/W/Z")

case("meta-stale-invalidating-set",
     "ms si:k 3 T100 c\r\nold\r\n",
     "ms si:k 3 T100 c\r\nnew\r\n",
     "ms si:k 3 T100 C@cas1@ I c\r\nolo\r\n",
     "mg si:k c v t\r\n",
     "mg si:k c v t\r\n",
     "ms si:k 3 T100 C@cas3@ c\r\nfix\r\n",
     "mg si:k c v t\r\n",
     "ms si:k 3 T100 C999999999 I c\r\nfut\r\n",
     "mg si:k c v t\r\n",
     volatile="t",
     note="invalidating set (I) with an older CAS: stored but marked stale")

case("meta-recache",
     "ms rc:k 3 T10\r\nabc\r\n",
     "mg rc:k c v t R30\r\n",
     "mg rc:k c v t R30\r\n",
     "mg rc:k c v t R5\r\n",
     "ms rc:k 3 T100\r\ndef\r\n",
     "mg rc:k c v t R30\r\n",
     "ms rc:k 3 T0\r\nghi\r\n",
     "mg rc:k c v t R30\r\n",
     "ms rc:k 3 T10\r\njkl\r\n",
     "mg rc:k v R30 q\r\n",
     "mg rc:k v R30 q\r\n",
     "mg rc:k v R\r\n",
     volatile="t",
     note="R<n>: when the TTL is below n, the first mg gets W, the next Z; "
          "no TTL (T0 / -1) never triggers")

case("meta-win-flags-without-v",
     "mg wf:k N30\r\n",
     "mg wf:k N30\r\n",
     "mg wf:k N30 q\r\n",
     "mg wf:k q\r\n",
     "md wf:k I\r\n",
     "mg wf:k\r\n",
     "mg wf:k\r\n",
     note="W/Z/X on HD replies (no value requested)")

case("meta-vivify-then-delete",
     "mg vd:k N30 c v\r\n",
     "md vd:k\r\n",
     "mg vd:k N30 c v\r\n",
     "mg vd:k N30 c v\r\n",
     "md vd:k I\r\n",
     "mg vd:k c v\r\n",
     "mg vd:k c v\r\n",
     "ms vd:k 1 I\r\nx\r\n",
     "mg vd:k c v\r\n",
     note="stale vivified item")

case("meta-lease-touch",
     "ms lt:k 3 T100\r\nabc\r\n",
     "mg lt:k v t T5\r\n",
     "mg lt:k v t R30\r\n",
     "mg lt:k v t R30 T200\r\n",
     "mg lt:k v t\r\n",
     "mg lt:k v t R30\r\n",
     volatile="t",
     note="mg T updates the TTL but t reports the TTL from before the update; R is checked "
          "against the old TTL; once a W was handed out, later mgs get Z until the item is replaced")


# --------------------------------------------------------------------------------------
# Byte helpers
# --------------------------------------------------------------------------------------

TEMPLATE_RE = re.compile(rb"@(cas(\d+)|now([+-]\d+))@")


def fill_template(data, casmap):
    """Replace @casN@ and @now+N@ in data; casmap: list of raw cas bytes (index 0 = CAS#1)."""
    def repl(m):
        if m.group(2) is not None:
            i = int(m.group(2))
            if 1 <= i <= len(casmap):
                return casmap[i - 1]
            return b"CAS%d_UNSEEN" % i
        return str(int(time.time()) + int(m.group(3))).encode()
    return TEMPLATE_RE.sub(repl, data)


def template_display(data):
    def repl(m):
        if m.group(2) is not None:
            return b"<CAS#" + m.group(2) + b">"
        return b"<now" + m.group(3) + b">"
    return TEMPLATE_RE.sub(repl, data)


def esc_line(b):
    out = []
    for c in b:
        if c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x0A:
            out.append("\\n")
        elif c == 0x09:
            out.append("\\t")
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def shorten_runs(b):
    """Collapse long runs of one byte (e.g. 1 MB of 'x') for display."""
    return re.sub(rb"(.)\1{39,}", lambda m: m.group(1) * 8 + b"...<" + str(len(m.group(0))).encode()
                  + b" x " + (m.group(1) if 0x20 < m.group(1)[0] < 0x7F else b"%02x" % m.group(1)[0])
                  + b">..." + m.group(1) * 8, b, flags=re.S)


def display(b, prefix):
    """Render bytes as escaped lines, each ending with its \\r\\n / \\n shown."""
    if b == b"":
        return [prefix + "(nothing)"]
    b = shorten_runs(b)
    lines = []
    for piece in re.split(rb"(?<=\n)", b):
        if piece:
            lines.append(prefix + esc_line(piece))
    return lines


# --------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------

META_CODES = {b"HD", b"VA", b"EN", b"NF", b"NS", b"EX", b"MN"}
DIGITS = re.compile(rb"^-?\d+$")


class Normaliser:
    def __init__(self, volatile):
        self.volatile = volatile
        self.cas = []          # raw cas values in order of first appearance
        self.casidx = {}

    def cas_ph(self, raw):
        if raw not in self.casidx:
            self.cas.append(raw)
            self.casidx[raw] = len(self.cas)
        return b"<CAS#%d>" % self.casidx[raw]

    def vol(self, num):
        return b"<~" + num + b">"

    def meta_token(self, tok):
        if len(tok) >= 2:
            f, rest = tok[:1], tok[1:]
            if f == b"c" and rest.isdigit():
                return b"c" + self.cas_ph(rest)
            if f == b"t" and "t" in self.volatile and rest.isdigit():
                return b"t" + self.vol(rest)
            if f == b"l" and "l" in self.volatile and rest.isdigit():
                return b"l" + self.vol(rest)
        return tok

    def me_token(self, tok):
        k, eq, v = tok.partition(b"=")
        if not eq:
            return tok
        if k == b"cas" and v.isdigit():
            return b"cas=" + self.cas_ph(v)
        if k == b"exp" and "t" in self.volatile and DIGITS.match(v):
            return b"exp=" + self.vol(v)
        if k == b"la" and "l" in self.volatile and DIGITS.match(v):
            return b"la=" + self.vol(v)
        if k in (b"cls", b"size") and "me" in self.volatile:
            return k + b"=<" + k + b">"
        return tok

    def normalise(self, data):
        out = []
        pos = 0
        n = len(data)
        while pos < n:
            eol = data.find(b"\n", pos)
            if eol < 0:
                out.append(data[pos:])
                break
            line = data[pos:eol + 1]
            pos = eol + 1
            body = line.rstrip(b"\r\n")
            term = line[len(body):]
            toks = body.split(b" ")
            skip = None
            if toks[0] == b"VALUE" and len(toks) in (4, 5) and toks[3].isdigit():
                if len(toks) == 5 and toks[4].isdigit():
                    toks[4] = self.cas_ph(toks[4])
                skip = int(toks[3]) + 2
            elif toks[0] in META_CODES:
                start = 1
                if toks[0] == b"VA" and len(toks) >= 2 and toks[1].isdigit():
                    skip = int(toks[1]) + 2
                    start = 2
                toks = toks[:start] + [self.meta_token(t) for t in toks[start:]]
            elif toks[0] == b"ME" and len(toks) >= 2:
                toks = toks[:2] + [self.me_token(t) for t in toks[2:]]
            elif toks[0] == b"VERSION":
                toks = [b"VERSION", b"<version>"]
            out.append(b" ".join(toks) + term)
            if skip is not None:
                out.append(data[pos:pos + skip])
                pos += skip
        return b"".join(out)


VOL_RE = re.compile(rb"<~(-?\d+)>")


def equivalent(a, b, tolerance=2):
    """Compare normalised replies; <~n> volatile numbers match within tolerance."""
    if a == b:
        return True
    pa, pb = VOL_RE.split(a), VOL_RE.split(b)
    if len(pa) != len(pb):
        return False
    for i, (x, y) in enumerate(zip(pa, pb)):
        if i % 2 == 0:
            if x != y:
                return False
        elif abs(int(x) - int(y)) > tolerance:
            return False
    return True


# --------------------------------------------------------------------------------------
# Running cases
# --------------------------------------------------------------------------------------

class Conn:
    def __init__(self, addr, timeout):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


MN_LINE = re.compile(rb"(?:^|(?<=\n))MN\r\n")


def count_mn(buf):
    return len(MN_LINE.findall(buf))


def run_step(conn, data, step, timeout):
    """Returns (reply_bytes, conn_still_usable)."""
    s = conn.sock
    buf = b""
    try:
        if step.sentinel:
            s.sendall(data + b"mn\r\n")
        else:
            s.sendall(data)
    except OSError as e:
        return b"<send failed: %s>" % str(e).encode(), False
    if step.sentinel:
        want = step.mn + 1
        deadline = time.monotonic() + timeout
        while True:
            if buf.endswith(b"MN\r\n") and count_mn(buf) >= want:
                return buf[:-4], True
            left = deadline - time.monotonic()
            if left <= 0:
                return buf + b"<timeout>", False
            s.settimeout(left)
            try:
                d = s.recv(262144)
            except socket.timeout:
                continue
            except OSError:
                return buf + b"<closed>", False
            if not d:
                return buf + b"<closed>", False
            buf += d
    elif step.close:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return buf + b"<still open>", False
            s.settimeout(left)
            try:
                d = s.recv(262144)
            except socket.timeout:
                continue
            except OSError:
                return buf + b"<closed>", False
            if not d:
                return buf + b"<closed>", False
            buf += d
    else:
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(step.quiet)
            try:
                d = s.recv(262144)
            except socket.timeout:
                return buf, True
            except OSError:
                return buf + b"<closed>", False
            if not d:
                return buf + b"<closed>", False
            buf += d
            if time.monotonic() > deadline:
                return buf, True


class StepResult:
    def __init__(self, shown_send, raw, norm):
        self.shown_send = shown_send
        self.raw = raw
        self.norm = norm


def run_case(addr, case, timeout):
    """Run one case against one server; returns a list of StepResult (step 0 = flush_all)."""
    norm = Normaliser(case.volatile)
    conns = {}
    results = []

    def get_conn(i):
        if i not in conns:
            conns[i] = Conn(addr, timeout)
        return conns[i]

    steps = [Step("flush_all\r\n")] + case.steps
    try:
        for step in steps:
            if step.sleep:
                time.sleep(step.sleep)
            try:
                conn = get_conn(step.conn)
            except OSError as e:
                results.append(StepResult(template_display(step.send), b"<connect failed: %s>" % str(e).encode(),
                                          b"<connect failed>"))
                continue
            data = fill_template(step.send, norm.cas)
            raw, usable = run_step(conn, data, step, timeout)
            if not usable:
                conn.close()
                del conns[step.conn]
            results.append(StepResult(template_display(step.send), raw, norm.normalise(raw)))
    finally:
        for c in conns.values():
            c.close()
    return results


# --------------------------------------------------------------------------------------
# Reference server management
# --------------------------------------------------------------------------------------

_started = []


def _stop_started():
    while _started:
        p = _started.pop()
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _on_signal(signum, frame):
    _stop_started()
    sys.exit(128 + signum)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_reference(binary):
    exe = binary or shutil.which("memcached") or "/usr/bin/memcached"
    atexit.register(_stop_started)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    for _attempt in range(5):
        port = free_port()
        cmd = [exe, "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-t", "2"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd += ["-u", "root"]  # memcached refuses to run as root without -u
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _started.append(p)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if p.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return ("127.0.0.1", port), " ".join(cmd)
            except OSError:
                time.sleep(0.05)
        if p.poll() is None:
            p.terminate()
            p.wait()
        _started.remove(p)
    raise SystemExit("mc-compat: could not start %s" % exe)


def parse_addr(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("mc-compat: bad address %r (want HOST:PORT)" % s)
    return (host.strip("[]"), int(port))


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------

def print_dump(case, results, out, show_raw=False):
    out.write("=" * 78 + "\n")
    out.write("CASE %s%s\n" % (case.name, ("   [volatile: %s]" % " ".join(sorted(case.volatile))) if case.volatile else ""))
    if case.note:
        out.write("  # %s\n" % case.note)
    steps = [Step("flush_all\r\n")] + case.steps
    for i, (step, r) in enumerate(zip(steps, results)):
        kind = ""
        if step.conn:
            kind += " conn=%d" % step.conn
        if step.close:
            kind += " close"
        elif not step.sentinel:
            kind += " no-sentinel"
        if step.sleep:
            kind += " after-sleep=%gs" % step.sleep
        out.write("  -- step %d%s\n" % (i, kind))
        for line in display(r.shown_send, "  > "):
            out.write(line + "\n")
        for line in display(r.norm, "  < "):
            out.write(line + "\n")
        if show_raw and r.raw != r.norm:
            for line in display(r.raw, "  raw< "):
                out.write(line + "\n")


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser(description="Differential memcached text/meta protocol checker.")
    ap.add_argument("--a", metavar="HOST:PORT", help="reference memcached")
    ap.add_argument("--b", metavar="HOST:PORT", help="server under test")
    ap.add_argument("--start-reference", action="store_true", help="start our own memcached as the reference")
    ap.add_argument("--memcached-bin", default=None, help="memcached binary for --start-reference")
    ap.add_argument("--filter", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--exclude", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--dump", action="store_true", help="print the reference's replies for every case")
    ap.add_argument("--list", action="store_true", help="list case names")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    cases = [c for c in CASES
             if (not args.filter or any(f in c.name for f in args.filter))
             and not any(x in c.name for x in args.exclude)]
    if args.list:
        for c in cases:
            print("%-32s %d steps%s" % (c.name, len(c.steps) + 1, ("  # " + c.note) if c.note else ""))
        print("%d cases" % len(cases))
        return 0
    if not cases:
        print("mc-compat: no case matches the filter", file=sys.stderr)
        return 2

    if args.start_reference and args.a:
        ap.error("--a and --start-reference are exclusive")
    if args.start_reference:
        a_addr, cmd = start_reference(args.memcached_bin)
        print("mc-compat: reference started: %s" % cmd, file=sys.stderr)
    elif args.a:
        a_addr = parse_addr(args.a)
    else:
        ap.error("need --a HOST:PORT or --start-reference")
    b_addr = parse_addr(args.b) if args.b else None
    if b_addr is None and not args.dump:
        ap.error("need --b HOST:PORT (or --dump to only print the reference's replies)")

    # Pre-flight: every step relies on the meta no-op `mn` as a sentinel.
    for addr in [a_addr] + ([b_addr] if b_addr else []):
        try:
            c = Conn(addr, args.timeout)
        except OSError as e:
            print("mc-compat: cannot connect to %s:%d: %s" % (addr[0], addr[1], e), file=sys.stderr)
            return 2
        reply, _ = run_step(c, b"", Step(b""), args.timeout)
        c.close()
        if reply != b"":
            print("mc-compat: %s:%d does not answer the sentinel `mn\\r\\n` with `MN\\r\\n` (got %s); "
                  "the checker needs it to delimit replies" % (addr[0], addr[1], esc_line(reply[:200])),
                  file=sys.stderr)
            return 2

    out = sys.stdout
    failed = []
    ref_timeouts = []
    nsteps = 0
    for c in cases:
        ra = run_case(a_addr, c, args.timeout)
        nsteps += len(ra)
        if any(r.raw.endswith(b"<timeout>") for r in ra):
            ref_timeouts.append(c.name)
        if args.dump:
            print_dump(c, ra, out, show_raw=args.verbose)
        if b_addr is None:
            continue
        rb = run_case(b_addr, c, args.timeout)
        bad = [i for i, (x, y) in enumerate(zip(ra, rb)) if not equivalent(x.norm, y.norm)]
        if len(ra) != len(rb):
            bad.append(min(len(ra), len(rb)))
        if not bad:
            if args.verbose and not args.dump:
                out.write("PASS %s\n" % c.name)
            continue
        failed.append(c.name)
        out.write("FAIL %s  (%d of %d steps differ)\n" % (c.name, len(bad), len(ra)))
        if c.note:
            out.write("  # %s\n" % c.note)
        steps = [Step("flush_all\r\n")] + c.steps
        for i in range(len(ra)):
            if i not in bad and not args.verbose:
                continue
            mark = "DIFF" if i in bad else "same"
            out.write("  -- step %d [%s]%s\n" % (i, mark, (" conn=%d" % steps[i].conn) if steps[i].conn else ""))
            for line in display(ra[i].shown_send, "     sent> "):
                out.write(line + "\n")
            if i in bad:
                x, y = ra[i].norm, rb[i].norm
                for line in display(x, "   a(ref)< "):
                    out.write(line + "\n")
                for line in display(y, "   b(sut)< "):
                    out.write(line + "\n")
                d = first_diff(x, y)
                out.write("     first difference at byte %d: a=%s b=%s\n" % (
                    d, esc_line(x[d:d + 24]) or "(end)", esc_line(y[d:d + 24]) or "(end)"))
            else:
                for line in display(ra[i].norm, "        < "):
                    out.write(line + "\n")

    if ref_timeouts:
        out.write("WARNING: the reference timed out in: %s\n" % ", ".join(ref_timeouts))
    if b_addr is None:
        out.write("%d cases, %d steps run against the reference only\n" % (len(cases), nsteps))
        return 1 if ref_timeouts else 0
    out.write("%d cases, %d steps: %d passed, %d failed%s\n" % (
        len(cases), nsteps, len(cases) - len(failed), len(failed),
        (" (" + ", ".join(failed) + ")") if failed else ""))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
