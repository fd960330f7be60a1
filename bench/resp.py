"""A minimal RESP2 client for the bench scripts' Python helpers (standard library only,
so a bench needs no package beyond what it measures with). Replies: simple strings and
bulk strings as str (bulk bytes decoded with replacement), errors as "ERR:<text>",
integers as int, arrays as lists, nil as None.

The scripts put bench/ on PYTHONPATH; a helper does `from resp import Conn`.
"""

import socket


class Conn:
    def __init__(self, port, timeout=30, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def send(self, *cmds):
        """Sends the commands in one write (a pipeline); returns their replies."""
        out = []
        for args in cmds:
            out.append(b"*%d\r\n" % len(args))
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return [self.read() for _ in cmds]

    def cmd(self, *args):
        return self.send(args)[0]

    def read(self):
        line = self.f.readline()
        if not line:
            raise OSError("connection closed")
        kind, rest = line[:1], line[1:].rstrip(b"\r\n")
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return "ERR:" + rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise OSError(f"unexpected reply {line[:80]!r}")

    def close(self):
        self.s.close()
