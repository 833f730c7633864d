#!/usr/bin/env python3
"""An independent GRE-in-UDP (RFC 8086) endpoint for tests: a TUN device and a UDP socket,
nothing of mpt's code. Written from RFC 8086, RFC 2784 and RFC 2890 only.

  rfc8086_peer.py TUN_NAME TUN_ADDR/PREFIX LOCAL_ADDR REMOTE_ADDR [--key K] [--seq] [--csum]

Outgoing (TUN -> wire): GRE with the protocol type from the IP version nibble, and the
optional checksum (C), key (K) and sequence number (S) fields; UDP to REMOTE_ADDR:4754 from
LOCAL_ADDR:4754. Incoming: Ver must be 0; C, K and S fields are parsed (a checksum that is
present is verified; a key, if we use one, must match); IPv4/IPv6 payloads go to the TUN;
anything else is counted and dropped. Runs until killed; prints counts on SIGTERM.
"""
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
PORT = 4754


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    args = sys.argv[1:]
    key = None
    seq = csum = False
    if "--key" in args:
        i = args.index("--key")
        key = int(args[i + 1])
        del args[i:i + 2]
    if "--seq" in args:
        args.remove("--seq")
        seq = True
    if "--csum" in args:
        args.remove("--csum")
        csum = True
    name, addr, local, remote = args
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    subprocess.run(["ip", "addr", "add", addr, "dev", name], check=True)
    subprocess.run(["ip", "link", "set", name, "mtu", "1400", "up"], check=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((local, PORT))
    counts = {"sent": 0, "received": 0, "dropped": 0}
    signal.signal(signal.SIGTERM, lambda *_: (print(counts, flush=True), sys.exit(0)))
    print("ready", flush=True)
    n = 0
    while True:
        r, _, _ = select.select([tun, sock], [], [])
        if tun in r:
            pkt = os.read(tun, 65535)
            version = pkt[0] >> 4
            proto = 0x0800 if version == 4 else 0x86DD if version == 6 else None
            if proto is None:
                continue
            flags = (0x80 if csum else 0) | (0x20 if key is not None else 0) | (0x10 if seq else 0)
            opt = b""
            if csum:
                opt += b"\0\0\0\0"
            if key is not None:
                opt += struct.pack("!I", key)
            if seq:
                opt += struct.pack("!I", n & 0xFFFFFFFF)
                n += 1
            gre = bytearray(struct.pack("!BBH", flags, 0, proto) + opt + pkt)
            if csum:
                struct.pack_into("!H", gre, 4, checksum(bytes(gre)))
            sock.sendto(bytes(gre), (remote, PORT))
            counts["sent"] += 1
        if sock in r:
            data, (src, _) = sock.recvfrom(65535)
            if src != remote or len(data) < 4:
                counts["dropped"] += 1
                continue
            flags, ver, proto = data[0], data[1] & 0x07, struct.unpack("!H", data[2:4])[0]
            if ver != 0 or flags & 0x4C:
                counts["dropped"] += 1
                continue
            off = 4
            if flags & 0x80:
                if checksum(data) != 0:
                    counts["dropped"] += 1
                    continue
                off += 4
            their_key = None
            if flags & 0x20:
                their_key = struct.unpack("!I", data[off:off + 4])[0]
                off += 4
            if their_key != key:
                counts["dropped"] += 1
                continue
            if flags & 0x10:
                off += 4  # sequence number: delivered as received (no reordering here)
            if proto not in (0x0800, 0x86DD) or len(data) <= off:
                counts["dropped"] += 1  # mpt's control messages (0x88B5) land here
                continue
            os.write(tun, data[off:])
            counts["received"] += 1


if __name__ == "__main__":
    main()
