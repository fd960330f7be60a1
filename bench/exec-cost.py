#!/usr/bin/env python3
"""bench/exec-cost.py PORT -- what one MULTI / SET / EXEC costs the server, from its own
INFO commandstats (EXEC's time includes its queued SET). Sends 10,000 transactions in
pipelines of 200 to a running server on 127.0.0.1:PORT. docs/transactions.md compares
`cairn server --shards 16` with `--shards 512` (EXEC holds every shard lock).
"""
import socket, sys
port=int(sys.argv[1])
s=socket.create_connection(("127.0.0.1",port))
def cmd(*a):
    out=b"*%d\r\n"%len(a)
    for x in a:
        x=x.encode() if isinstance(x,str) else x
        out+=b"$%d\r\n%s\r\n"%(len(x),x)
    return out
batch=b"".join(cmd("MULTI")+cmd("SET","k","v")+cmd("EXEC") for _ in range(200))
buf=b""
for r in range(50):
    s.sendall(batch)
    while buf.count(b"\r\n") < 200*4:
        buf+=s.recv(65536)
    buf=b""
s.sendall(cmd("INFO","commandstats"))
import time; time.sleep(0.2)
info=s.recv(65536).decode()
for l in info.split("\r\n"):
    if l.startswith("cmdstat_exec") or l.startswith("cmdstat_set"): print(l)
