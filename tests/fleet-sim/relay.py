# SPDX-License-Identifier: Apache-2.0
"""A TCP relay between network namespaces that delays every byte, for the
regions harness (sim.py).

This kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is off, and there is
no module to load), so WAN latency cannot be put on veth links with
`tc netem`.  Instead every cross-region connection goes through this
relay: it listens on 127.0.0.1:PORT inside one region's namespace and
connects to 127.0.0.1:PORT' inside another's, and holds each chunk it
reads for the link's one-way delay (plus jitter, in order: TCP does not
reorder) before writing it on.  A connection costs a one-way delay twice
before its first byte (the handshake), as over a real link.

A region can be cut off ("loss 100%"): every link touching it stops
reading and writing, and new connections wait, so that both ends see a
silent peer (no reset) until the region returns, as with a real
partition.  Traffic never leaves the namespaces and their loopbacks.

    relay.py SPEC.json CONTROL.sock

SPEC.json: {"links": [{"name", "listen_ns", "listen_port", "target_ns",
"target_port", "delay_ms", "jitter_ms", "regions": [..]}]}; a namespace
is a path (/run/netns/NAME) or null for the relay's own.  CONTROL.sock
takes one command per line: "cut R", "heal R", "stats" (JSON reply:
bytes and connections per link), "ping".
"""
import asyncio
import ctypes
import json
import os
import random
import socket
import sys

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)
HOME = os.open("/proc/self/ns/net", os.O_RDONLY)
CUT = set()
QUEUE = 64                      # chunks in flight per direction


def setns(fd):
    if LIBC.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def socket_in(ns):
    """A TCP socket made inside namespace ns (a path, or None)."""
    if ns is None:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fd = os.open(ns, os.O_RDONLY)
    try:
        setns(fd)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            setns(HOME)
    finally:
        os.close(fd)


class Link:
    def __init__(self, spec):
        self.spec = spec
        self.name = spec["name"]
        self.delay = spec.get("delay_ms", 0) / 1000.0
        self.jitter = spec.get("jitter_ms", 0) / 1000.0
        self.regions = set(spec.get("regions", []))
        self.bytes = [0, 0]         # towards the target, back
        self.conns = 0
        self.open = 0

    def blocked(self):
        return bool(self.regions & CUT)

    async def passable(self):
        while self.blocked():
            await asyncio.sleep(0.01)

    async def pump(self, reader, writer, way):
        loop = asyncio.get_running_loop()
        q = asyncio.Queue(QUEUE)

        async def read():
            last = 0.0
            try:
                while True:
                    await self.passable()
                    data = await reader.read(65536)
                    if not data:
                        break
                    d = self.delay
                    if self.jitter:
                        d = max(0.0, d + random.uniform(-self.jitter,
                                                        self.jitter))
                    last = max(last, loop.time() + d)
                    await q.put((last, data))
            except (ConnectionError, OSError):
                pass
            await q.put(None)

        async def write():
            try:
                while True:
                    item = await q.get()
                    if item is None:
                        if writer.can_write_eof():
                            writer.write_eof()
                        break
                    due, data = item
                    while True:
                        wait = due - loop.time()
                        if wait > 0:
                            await asyncio.sleep(wait)
                        if not self.blocked():
                            break
                        await self.passable()
                    writer.write(data)
                    self.bytes[way] += len(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
        await asyncio.gather(read(), write())

    async def serve(self, reader, writer):
        self.conns += 1
        self.open += 1
        up_w = None
        try:
            await self.passable()
            # SYN and SYN-ACK: the handshake's round trip.
            await asyncio.sleep(2 * self.delay)
            await self.passable()
            s = socket_in(self.spec["target_ns"])
            s.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(
                    s, ("127.0.0.1", self.spec["target_port"]))
            except OSError:
                s.close()
                return
            up_r, up_w = await asyncio.open_connection(sock=s)
            await asyncio.gather(self.pump(reader, up_w, 0),
                                 self.pump(up_r, writer, 1))
        finally:
            self.open -= 1
            for w in (writer, up_w):
                if w is not None:
                    w.close()

    async def start(self):
        s = socket_in(self.spec["listen_ns"])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.spec["listen_port"]))
        s.listen(512)
        s.setblocking(False)
        return await asyncio.start_server(self.serve, sock=s)


async def control(links, path):
    async def handle(reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = line.decode().split()
            out = {"ok": True}
            if cmd[:1] == ["cut"] and len(cmd) == 2:
                CUT.add(cmd[1])
            elif cmd[:1] == ["heal"] and len(cmd) == 2:
                CUT.discard(cmd[1])
            elif cmd[:1] == ["stats"]:
                out["links"] = {ln.name: {"bytes": ln.bytes,
                                          "conns": ln.conns,
                                          "open": ln.open} for ln in links}
            elif cmd[:1] != ["ping"]:
                out = {"ok": False, "error": "unknown command"}
            writer.write((json.dumps(out) + "\n").encode())
            await writer.drain()
        writer.close()
    return await asyncio.start_unix_server(handle, path=path)


async def main(spec_path, ctl_path):
    with open(spec_path) as f:
        spec = json.load(f)
    links = [Link(s) for s in spec["links"]]
    servers = [await ln.start() for ln in links]
    servers.append(await control(links, ctl_path))
    print("relay: %d links up" % len(links), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except KeyboardInterrupt:
        pass
