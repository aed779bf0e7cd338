/**
 * Tests for model/net/ipv4/udp.ts: `udp_sendmsg` (checks, the two cmsg
 * passes, corking, SRR), `udp_send_skb` (header, checksum, SO_NO_CHECK,
 * CHECKSUM_PARTIAL, UDP-Lite coverage, the GSO checks per line) and
 * `udp_lib_setsockopt` (kernel-notes §2.1, §2.2, §3). Checksums are computed
 * here by a separate one's-complement routine (or written out in hex).
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr, Unmodelled } from '../errors.js';
import { newSock, type Lab, type Sock } from '../sock.js';
import { ip4_datagram_connect } from './af_inet.js';
import { MSG_MORE, MSG_OOB, MSG_PROBE, smallHeadCacheSize, type IdState, type WirePacket } from './ip_output.js';
import { udp_lib_setsockopt, udp_sendmsg, type SendOutcome } from './udp.js';
import { mkLab, ids as freshIds } from '../../testing/fixtures.js';

const SRC = 0xc6120001;
const PEER = 0xc6120002;
const SPORT = 40000;
const DPORT = 7000;
const UDP_CORK = 1;
const UDP_SEGMENT = 103;
const UDPLITE_SEND_CSCOV = 10;

const ids = freshIds;
function udpSock(lab: Lab, kind: 'udp' | 'udplite' = 'udp'): Sock {
  const sk = newSock(kind, kind === 'udp' ? 17 : 136, lab);
  sk.num = SPORT; // inet_autobind
  sk.sport = SPORT;
  return sk;
}
const int = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
function cmsg(level: number, type: number, data: number[], len = 16 + data.length): number[] {
  const out = new Uint8Array((16 + data.length + 7) & ~7);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setInt32(8, level, true);
  v.setInt32(12, type, true);
  out.set(data, 16);
  return [...out];
}
const ctl = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const payload = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

function send(
  lab: Lab,
  sk: Sock,
  o: { n?: number; data?: Uint8Array; to?: { addr: number; port: number } | null; flags?: number; control?: Uint8Array },
  st = ids(),
): SendOutcome {
  return udp_sendmsg(
    lab,
    sk,
    {
      to: o.to === undefined ? { addr: PEER, port: DPORT } : o.to,
      payload: o.data ?? payload(o.n ?? 10),
      flags: o.flags ?? 0,
      control: o.control ?? new Uint8Array(0),
    },
    st,
  );
}
function errno(out: SendOutcome): string {
  return isErr(out.result) ? out.result.errno : 'ok';
}
function from(out: SendOutcome): string {
  return isErr(out.result) ? out.result.from : '';
}

// An independent RFC 768/1071 checksum.
function sum16(b: Uint8Array, start = 0, end = b.length): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
function pseudo(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}
/** The checksum of a UDP segment as sent (its own check field taken as 0), `cover` bytes of it. */
function udpCsum(seg: Uint8Array, src: number, dst: number, proto = 17, pseudoLen = seg.length, cover = seg.length): number {
  const z = seg.slice();
  z[6] = 0;
  z[7] = 0;
  return ~fold(sum16(z, 0, cover) + pseudo(src, dst, proto, pseudoLen)) & 0xffff;
}
const be16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const be32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const udpOf = (p: WirePacket): Uint8Array => p.bytes.subarray((p.bytes[0]! & 15) * 4);
function only(t: { is(a: unknown, b: unknown, m?: string): void }, out: SendOutcome): WirePacket {
  t.is(errno(out), 'ok', 'send result');
  t.is(out.packets.length, 1, 'one packet');
  return out.packets[0]!;
}

// ---------------------------------------------------------------------------
// udp_sendmsg checks (§3.1)

test('udp_sendmsg: len > 0xFFFF → EMSGSIZE; MSG_OOB → EOPNOTSUPP; dport 0 → EINVAL; no name unconnected → EDESTADDRREQ', (t) => {
  const lab = mkLab();
  t.is(errno(send(lab, udpSock(lab), { n: 0x10000 })), 'EMSGSIZE');
  t.is(errno(send(lab, udpSock(lab), { flags: MSG_OOB })), 'EOPNOTSUPP');
  t.is(errno(send(lab, udpSock(lab), { to: { addr: PEER, port: 0 } })), 'EINVAL');
  t.is(errno(send(lab, udpSock(lab), { to: null })), 'EDESTADDRREQ');
});

test('udp_sendmsg: a broadcast route without SO_BROADCAST → EACCES', (t) => {
  const lab = mkLab();
  t.is(errno(send(lab, udpSock(lab), { to: { addr: 0xc61200ff, port: DPORT } })), 'EACCES');
  const sk = udpSock(lab);
  sk.broadcast = true;
  t.is(errno(send(lab, sk, { to: { addr: 0xc61200ff, port: DPORT } })), 'ok');
});

test('udp_sendmsg MSG_PROBE: returns len, sends nothing, no size check', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  sk.pmtudisc = 2; // DO
  const out = send(lab, sk, { n: 65000, flags: MSG_PROBE });
  t.is(out.result, 65000);
  t.deepEqual(out.packets, []);
});

// ---------------------------------------------------------------------------
// udp_send_skb: header and checksum (§3.2)

test('udp_send_skb: sport, dport, len = 8 + payload, checksum over pseudo-header + header + data', (t) => {
  const lab = mkLab();
  const p = only(t, send(lab, udpSock(lab), { n: 10 }));
  const u = udpOf(p);
  t.is(u.length, 18);
  t.is(be16(u, 0), SPORT);
  t.is(be16(u, 2), DPORT);
  t.is(be16(u, 4), 18);
  t.is(be16(u, 6), udpCsum(u, SRC, PEER));
  t.is(be32(p.bytes, 12), SRC);
  t.is(be32(p.bytes, 16), PEER);
  t.is(p.bytes[9], 17);
});

test('udp_send_skb: a computed checksum of 0 is sent as 0xFFFF (CSUM_MANGLED_0)', (t) => {
  // Pick 2 payload bytes X so that the one's-complement sum is 0xFFFF: then ~sum = 0.
  const head = new Uint8Array([SPORT >> 8, SPORT & 255, DPORT >> 8, DPORT & 255, 0, 10, 0, 0]);
  const s = fold(sum16(head) + pseudo(SRC, PEER, 17, 10));
  const x = 0xffff - s;
  const lab = mkLab();
  const u = udpOf(only(t, send(lab, udpSock(lab), { data: Uint8Array.from([x >> 8, x & 255]) })));
  t.is(be16(u, 6), 0xffff);
});

test('udp_send_skb: SO_NO_CHECK → checksum 0', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  sk.noCheckTx = true;
  t.is(be16(udpOf(only(t, send(lab, sk, { n: 10 }))), 6), 0);
});

test('udp_send_skb CHECKSUM_PARTIAL (tx_checksum offload): the header holds the pseudo-header sum', (t) => {
  // udp4_hwcsum: ~csum_tcpudp_magic(198.18.0.1, 198.18.0.2, 18, UDP, 0):
  // c612 + 0001 + c612 + 0002 + 0011 + 0012 = 1_8c4a → 8c4b
  const lab = mkLab('6.18.44', { txChecksum: true });
  t.is(be16(udpOf(only(t, send(lab, udpSock(lab), { n: 10 }))), 6), 0x8c4b);
});

test('udp_send_skb: corked, fragmented or no-offload datagrams get the full software checksum', (t) => {
  const lab = mkLab('6.18.44', { txChecksum: true });
  // Fragmented: the UDP header (in the first fragment) covers the whole 2008-byte datagram.
  const frag = send(lab, udpSock(lab), { n: 2000 });
  t.is(frag.packets.length, 2);
  const first = udpOf(frag.packets[0]!);
  const whole = new Uint8Array(2008);
  whole.set(first.subarray(0, 8));
  whole.set(payload(2000), 8);
  t.is(be16(first, 6), udpCsum(whole, SRC, PEER));
  // MSG_MORE then a push: software.
  const sk = udpSock(lab);
  send(lab, sk, { n: 4, flags: MSG_MORE });
  const u = udpOf(only(t, send(lab, sk, { n: 6 })));
  t.is(be16(u, 6), udpCsum(u, SRC, PEER));
});

// ---------------------------------------------------------------------------
// The two cmsg passes (§2.1, §2.2)

test('udp_sendmsg two passes: a SOL_UDP error wins over an earlier SOL_IP/SOL_SOCKET error', (t) => {
  const lab = mkLab('6.18.44', { capNetRaw: false, capNetAdmin: false });
  const badIp = cmsg(0, 2, int(0)); // IP_TTL 0: EINVAL in ip_cmsg_send
  const badMark = cmsg(1, 36, int(1)); // SO_MARK without caps: EPERM
  const badUdp = cmsg(17, 99, int(0)); // unknown SOL_UDP type: EINVAL in __udp_cmsg_send
  const a = send(lab, udpSock(lab), { control: ctl(badIp, badUdp) });
  t.is(errno(a), 'EINVAL');
  t.is(from(a), '__udp_cmsg_send');
  const b = send(lab, udpSock(lab), { control: ctl(badMark, badUdp) });
  t.is(errno(b), 'EINVAL', 'pass 1 fails before the EPERM of pass 2 is seen');
  t.is(from(b), '__udp_cmsg_send');
  const c = send(lab, udpSock(lab), { control: ctl(badUdp, badMark) });
  t.is(from(c), '__udp_cmsg_send');
  // With a good SOL_UDP cmsg, pass 2 runs and reports the SOL_IP / SOL_SOCKET error.
  const good = cmsg(17, UDP_SEGMENT, [0xe8, 0x03]); // gso_size 1000
  t.is(from(send(lab, udpSock(lab), { control: ctl(good, badIp) })), 'ip_cmsg_send');
  t.is(errno(send(lab, udpSock(lab), { control: ctl(good, badMark) })), 'EPERM');
});

test('udp_cmsg_send: CMSG_OK is checked in pass 1 for every level', (t) => {
  const lab = mkLab();
  const out = send(lab, udpSock(lab), { control: ctl(cmsg(0, 2, int(9), 15)) });
  t.is(errno(out), 'EINVAL');
  t.is(from(out), 'udp_cmsg_send');
});

test('__udp_cmsg_send UDP_SEGMENT: cmsg_len must be CMSG_LEN(2) = 18', (t) => {
  const lab = mkLab();
  t.is(errno(send(lab, udpSock(lab), { control: ctl(cmsg(17, UDP_SEGMENT, int(1000))) })), 'EINVAL', 'int form (20)');
  t.is(errno(send(lab, udpSock(lab), { control: ctl(cmsg(17, UDP_SEGMENT, [0xe8])) })), 'EINVAL', '17');
  const out = send(lab, udpSock(lab), { n: 2500, control: ctl(cmsg(17, UDP_SEGMENT, [0xe8, 0x03])) });
  t.is(errno(out), 'ok');
  t.deepEqual(out.packets.map((p) => be16(udpOf(p), 4)), [1008, 1008, 508], 'gso_size 1000 from the cmsg');
});

test('udp_sendmsg: a duplicate UDP_SEGMENT cmsg, the last wins', (t) => {
  const lab = mkLab();
  const out = send(lab, udpSock(lab), { n: 1000, control: ctl(cmsg(17, UDP_SEGMENT, [100, 0]), cmsg(17, UDP_SEGMENT, [0xf4, 0x01])) });
  t.deepEqual(out.packets.map((p) => be16(udpOf(p), 4)), [508, 508]);
});

// ---------------------------------------------------------------------------
// UDP GSO checks per line (§3.5, §11)

test('udp_send_skb GSO checks per kernel line', (t) => {
  const table: Array<{ description: string; release: string; tx: boolean; gso: number; n: number; noCheck?: boolean; lite?: boolean; want: string }> = [
    // segment too big for fragsize: 5.10 tests hlen + gso_size (EINVAL), later hlen + min(datalen, gso_size) (EMSGSIZE)
    { description: '5.10: 28 + 1480 > 1500 even for 100 bytes', release: '5.10.223', tx: true, gso: 1480, n: 100, want: 'EINVAL' },
    { description: '6.1.150 (before the backport): same as 5.10', release: '6.1.150', tx: true, gso: 1480, n: 100, want: 'EINVAL' },
    { description: '6.1.176: 28 + min(100, 1480) fits', release: '6.1.176', tx: true, gso: 1480, n: 100, want: 'ok' },
    { description: '6.1.176: 28 + min(3000, 1480) > 1500', release: '6.1.176', tx: true, gso: 1480, n: 3000, want: 'EMSGSIZE' },
    { description: '6.18: 28 + 1472 = 1500 fits', release: '6.18.44', tx: true, gso: 1472, n: 3000, want: 'ok' },
    // too many segments: datalen > gso_size * UDP_MAX_SEGMENTS
    { description: '5.10: 64 segments', release: '5.10.223', tx: true, gso: 100, n: 6400, want: 'ok' },
    { description: '5.10: 6401 > 100*64', release: '5.10.223', tx: true, gso: 100, n: 6401, want: 'EINVAL' },
    { description: '6.1: 128 segments', release: '6.1.176', tx: true, gso: 100, n: 12800, want: 'ok' },
    { description: '6.1: 12801 > 100*128', release: '6.1.176', tx: true, gso: 100, n: 12801, want: 'EINVAL' },
    { description: '6.18: 12801 > 100*128', release: '6.18.44', tx: true, gso: 100, n: 12801, want: 'EINVAL' },
    // SO_NO_CHECK
    { description: '5.10 SO_NO_CHECK', release: '5.10.223', tx: true, gso: 1000, n: 3000, noCheck: true, want: 'EINVAL' },
    { description: '6.18 SO_NO_CHECK', release: '6.18.44', tx: true, gso: 1000, n: 3000, noCheck: true, want: 'EINVAL' },
    // checksum mode: not CHECKSUM_PARTIAL → EIO until 6.12; UDP-Lite always EIO
    { description: '5.10 without offload', release: '5.10.223', tx: false, gso: 1000, n: 3000, want: 'EIO' },
    { description: '6.1 without offload', release: '6.1.176', tx: false, gso: 1000, n: 3000, want: 'EIO' },
    { description: '6.1 without offload, datalen ≤ gso_size', release: '6.1.176', tx: false, gso: 1000, n: 500, want: 'EIO' },
    { description: '6.12 without offload', release: '6.12.107', tx: false, gso: 1000, n: 3000, want: 'ok' },
    { description: '6.18 without offload', release: '6.18.44', tx: false, gso: 1000, n: 3000, want: 'ok' },
    { description: '6.18 UDP-Lite', release: '6.18.44', tx: true, gso: 1000, n: 3000, lite: true, want: 'EIO' },
    { description: '5.10 UDP-Lite', release: '5.10.223', tx: true, gso: 1000, n: 3000, lite: true, want: 'EIO' },
  ];
  for (const k of table) {
    const lab = mkLab(k.release, { txChecksum: k.tx });
    const sk = udpSock(lab, k.lite ? 'udplite' : 'udp');
    sk.gsoSize = k.gso;
    sk.noCheckTx = k.noCheck ?? false;
    const out = send(lab, sk, { n: k.n });
    t.is(errno(out), k.want, k.description);
    if (isErr(out.result)) t.is(out.result.from, 'udp_send_skb', k.description);
    else t.is(out.packets.length, Math.ceil(k.n / k.gso), `${k.description}: segments`);
  }
});

test('UDP GSO segments (software): gso_size bytes each, own UDP len and checksum, IP IDs counting up, DF from the whole skb', (t) => {
  const lab = mkLab('6.18.44');
  const sk = udpSock(lab);
  sk.gsoSize = 1000;
  const out = send(lab, sk, { n: 2500 });
  t.is(errno(out), 'ok');
  const data = payload(2500);
  t.deepEqual(out.packets.map((p) => be16(p.bytes, 2)), [1028, 1028, 528]);
  for (const [i, p] of out.packets.entries()) {
    const u = udpOf(p);
    t.is(be16(u, 0), SPORT);
    t.is(be16(u, 4), u.length);
    t.true(Buffer.from(u.subarray(8)).equals(Buffer.from(data.subarray(i * 1000, i * 1000 + u.length - 8))), `segment ${i} data`);
    t.is(be16(u, 6), udpCsum(u, SRC, PEER), `segment ${i} checksum`);
    t.is(be16(p.bytes, 6), 0, 'WANT and the 2528-byte skb > mtu: DF=0 on every segment ([live] §3.5)');
    t.deepEqual(p.id, { kind: 'sequence', group: 0, plus: i });
  }
});

test('UDP GSO on 6.1+ with tx_checksum and gso on: one super-packet with the partial sum', (t) => {
  const lab = mkLab('6.18.44', { txChecksum: true, gso: true });
  const sk = udpSock(lab);
  sk.gsoSize = 1000;
  const p = only(t, send(lab, sk, { n: 2500 }));
  t.is(be16(p.bytes, 2), 2528);
  const u = udpOf(p);
  t.is(be16(u, 4), 2508);
  t.is(be16(u, 6), fold(pseudo(SRC, PEER, 17, 2508)));
});

test('UDP GSO on 5.10 with gso on: no GSO_UDP_L4 in NETIF_F_GSO_SOFTWARE, segmented, each with its partial sum', (t) => {
  const lab = mkLab('5.10.223', { txChecksum: true, gso: true });
  const sk = udpSock(lab);
  sk.gsoSize = 1000;
  const out = send(lab, sk, { n: 2500 });
  t.deepEqual(out.packets.map((p) => be16(udpOf(p), 6)), [1008, 1008, 508].map((l) => fold(pseudo(SRC, PEER, 17, l))));
});

test('UDP GSO: a send no longer than gso_size is one ordinary datagram (6.12+: ordinary checksum)', (t) => {
  const lab = mkLab('6.18.44');
  const sk = udpSock(lab);
  sk.gsoSize = 1000;
  const u = udpOf(only(t, send(lab, sk, { n: 1000 })));
  t.is(be16(u, 4), 1008);
  t.is(be16(u, 6), udpCsum(u, SRC, PEER));
});

test('UDP GSO on a connected socket: segments count up from the batch ID; the counter moved by 1 (6.1+ add_return)', (t) => {
  const lab = mkLab('6.18.44');
  const sk = udpSock(lab);
  const st = ids();
  t.is(ip4_datagram_connect(lab, sk, { addr: PEER, port: DPORT }, SPORT, st), true);
  sk.gsoSize = 1000;
  const a = send(lab, sk, { n: 2500, to: null }, st);
  t.deepEqual(a.packets.map((p) => p.id), [1, 2, 3].map((plus) => ({ kind: 'sequence', group: 0, plus })));
  sk.gsoSize = 0;
  const b = send(lab, sk, { n: 10, to: null }, st);
  t.deepEqual(b.packets[0]!.id, { kind: 'sequence', group: 0, plus: 2 }, '[live] the next datagram reuses id+1');
});

// ---------------------------------------------------------------------------
// UDP-Lite (§3.4)

function setopt(lab: Lab, sk: Sock, name: number, val: number, st = ids()): string {
  const r = udp_lib_setsockopt(lab, sk, name, Uint8Array.from(int(val)), st);
  return isErr(r.result) ? r.result.errno : 'ok';
}

test('udplite_csum: coverage per UDPLITE_SEND_CSCOV (0 → length field 0 covering all; 1..7 → 8; > 65535 → 65535)', (t) => {
  const table: Array<{ description: string; cscov: number | null; n: number; wantLen: number; cover: number }> = [
    { description: 'SEND_CC not set: full length, full coverage', cscov: null, n: 50, wantLen: 58, cover: 58 },
    { description: 'cscov 0: length field 0, covers everything', cscov: 0, n: 50, wantLen: 0, cover: 58 },
    { description: 'cscov 3 → 8: header only', cscov: 3, n: 50, wantLen: 8, cover: 8 },
    { description: 'cscov 1 → 8', cscov: 1, n: 50, wantLen: 8, cover: 8 },
    { description: 'cscov 20', cscov: 20, n: 50, wantLen: 20, cover: 20 },
    { description: 'cscov 21 (odd)', cscov: 21, n: 50, wantLen: 21, cover: 21 },
    { description: 'cscov 100 ≥ len: full', cscov: 100, n: 50, wantLen: 58, cover: 58 },
    { description: 'cscov 70000 → 65535 ≥ len: full', cscov: 70000, n: 50, wantLen: 58, cover: 58 },
  ];
  for (const k of table) {
    const lab = mkLab();
    const sk = udpSock(lab, 'udplite');
    if (k.cscov !== null) t.is(setopt(lab, sk, UDPLITE_SEND_CSCOV, k.cscov), 'ok', k.description);
    const p = only(t, send(lab, sk, { n: k.n }));
    t.is(p.bytes[9], 136, k.description);
    const u = udpOf(p);
    t.is(be16(u, 4), k.wantLen, `${k.description}: length field`);
    // The pseudo-header length is always the full length; protocol 136.
    t.is(be16(u, 6), udpCsum(u, SRC, PEER, 136, 58, k.cover), `${k.description}: checksum`);
  }
});

test('udp_lib_setsockopt UDPLITE_SEND_CSCOV on a plain UDP socket → ENOPROTOOPT; UDP-Lite ignores SO_NO_CHECK', (t) => {
  const lab = mkLab();
  t.is(setopt(lab, udpSock(lab), UDPLITE_SEND_CSCOV, 20), 'ENOPROTOOPT');
  const sk = udpSock(lab, 'udplite');
  sk.noCheckTx = true;
  const u = udpOf(only(t, send(lab, sk, { n: 10 })));
  t.is(be16(u, 6), udpCsum(u, SRC, PEER, 136));
  t.not(be16(u, 6), 0);
});

test('udp_lib_setsockopt: optlen < 4 → EINVAL; UDP_SEGMENT 0..65535; unknown → ENOPROTOOPT', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  t.is(isErr(udp_lib_setsockopt(lab, sk, UDP_CORK, Uint8Array.from([1]), ids()).result) ? 'EINVAL' : 'ok', 'EINVAL');
  t.is(setopt(lab, sk, UDP_SEGMENT, 65535), 'ok');
  t.is(sk.gsoSize, 65535);
  t.is(setopt(lab, sk, UDP_SEGMENT, 65536), 'EINVAL');
  t.is(setopt(lab, sk, UDP_SEGMENT, -1), 'EINVAL');
  t.is(setopt(lab, sk, 77, 1), 'ENOPROTOOPT');
});

// ---------------------------------------------------------------------------
// Corking (§3.3)

test('udp_sendmsg MSG_MORE: appended without a new UDP header, pushed by the first send without it', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  const a = send(lab, sk, { data: Uint8Array.from([1, 2, 3]), flags: MSG_MORE });
  t.is(a.result, 3);
  t.deepEqual(a.packets, []);
  // The later send's name and (invalid) control data are not looked at.
  const b = send(lab, sk, { data: Uint8Array.from([4, 5]), to: { addr: PEER, port: 9 }, control: ctl(cmsg(0, 2, int(0), 3)) });
  t.is(b.result, 2);
  t.is(b.packets.length, 1);
  const u = udpOf(b.packets[0]!);
  t.is(Buffer.from(u).toString('hex').slice(0, 12), '9c401b58000d', 'ports of the first send, len 13');
  t.deepEqual([...u.subarray(8)], [1, 2, 3, 4, 5]);
  t.is(be16(u, 6), udpCsum(u, SRC, PEER));
  t.is(sk.pending, null);
});

test('udp_lib_setsockopt UDP_CORK = 0 pushes the corked datagram', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  const st = ids();
  t.is(setopt(lab, sk, UDP_CORK, 1, st), 'ok');
  t.deepEqual(send(lab, sk, { n: 10 }, st).packets, []);
  t.deepEqual(send(lab, sk, { n: 20 }, st).packets, [], 'UDP_CORK set: a send without MSG_MORE still corks');
  const r = udp_lib_setsockopt(lab, sk, UDP_CORK, Uint8Array.from(int(0)), st);
  t.is(r.result, true);
  t.is(r.packets.length, 1);
  const u = udpOf(r.packets[0]!);
  t.is(be16(u, 4), 38);
  t.deepEqual([...u.subarray(8)], [...payload(10), ...payload(20)]);
  t.is(be16(u, 6), udpCsum(u, SRC, PEER));
  t.deepEqual(udp_lib_setsockopt(lab, sk, UDP_CORK, Uint8Array.from(int(0)), st).packets, [], 'nothing pending any more');
});

test('udp_sendmsg: an error while appending flushes all pending data (udp_flush_pending_frames)', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  sk.pmtudisc = 2; // DO: limit 1472
  t.is(send(lab, sk, { n: 1000, flags: MSG_MORE }).result, 1000);
  const e = send(lab, sk, { n: 1000 });
  t.is(errno(e), 'EMSGSIZE');
  t.is(sk.pending, null);
  const next = only(t, send(lab, sk, { n: 10, to: { addr: PEER, port: 9 } }));
  t.is(be16(udpOf(next), 2), 9, 'a fresh datagram with its own destination');
  t.is(be16(udpOf(next), 4), 18);
});

// ---------------------------------------------------------------------------
// Source routing (§3.1 step 8, §3.2, §6.3)

test('udp_sendmsg with LSRR: daddr and the pseudo-header use the first hop; the option ends with the final destination', (t) => {
  const lab = mkLab();
  const lsrr = [0x83, 0x0b, 0x04, 198, 18, 0, 7, 198, 18, 0, 8];
  const p = only(t, send(lab, udpSock(lab), { n: 10, control: ctl(cmsg(0, 7 /* IP_RETOPTS */, lsrr)) }));
  t.is(p.bytes[0], 0x48);
  t.is(be32(p.bytes, 16), 0xc6120007);
  t.is(Buffer.from(p.bytes.subarray(20, 32)).toString('hex'), '830b04c6120008c612000200');
  const u = udpOf(p);
  t.is(be16(u, 6), udpCsum(u, SRC, 0xc6120007));
});

test('udp_sendmsg corked with LSRR: inet->cork.fl gets daddr, so ip.dst and the pseudo-header name the final destination', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  const lsrr = [0x83, 0x0b, 0x04, 198, 18, 0, 7, 198, 18, 0, 8];
  const st = ids();
  t.deepEqual(send(lab, sk, { n: 10, flags: MSG_MORE, control: ctl(cmsg(0, 7 /* IP_RETOPTS */, lsrr)) }, st).packets, []);
  const p = only(t, send(lab, sk, { n: 5 }, st));
  t.is(be32(p.bytes, 16), PEER); // not the first hop .7, as uncorked
  t.is(Buffer.from(p.bytes.subarray(20, 32)).toString('hex'), '830b04c6120008c612000200');
  const u = udpOf(p);
  t.is(be16(u, 6), udpCsum(u, SRC, PEER));
});

test('udp_sendmsg: a source route with daddr 0 → EINVAL', (t) => {
  const lab = mkLab();
  const out = send(lab, udpSock(lab), { to: { addr: 0, port: DPORT }, control: ctl(cmsg(0, 7, [0x83, 0x07, 0x04, 198, 18, 0, 7])) });
  t.is(errno(out), 'EINVAL');
  t.is(from(out), 'udp_sendmsg');
});

test('udp_sendmsg: the socket IP_OPTIONS apply unless an IP_RETOPTS cmsg (even an empty one) replaces them', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  sk.opt = { data: Uint8Array.from([0x94, 4, 0, 0]), faddr: 0, srr: 0, isStrictroute: false, rr: 0, rrNeedaddr: false, ts: 0, tsNeedaddr: false, tsNeedtime: false, routerAlert: 20 };
  t.is(only(t, send(lab, sk, { n: 10 })).bytes[0], 0x46);
  t.is(only(t, send(lab, sk, { n: 10, control: ctl(cmsg(0, 7, [])) })).bytes[0], 0x45);
});

test('udp_sendmsg on a connected socket: inet_daddr/dport, no port check (connected to port 0 sends dport 0)', (t) => {
  const lab = mkLab('5.10.223');
  const sk = udpSock(lab);
  const st = ids();
  t.is(ip4_datagram_connect(lab, sk, { addr: PEER, port: 0 }, SPORT, st), true);
  const a = only(t, send(lab, sk, { to: null }, st));
  t.is(be16(udpOf(a), 2), 0);
  t.deepEqual(a.id, { kind: 'sequence', group: 0, plus: 0 }, '5.10: the old counter value');
  const b = only(t, send(lab, sk, { to: null }, st));
  t.deepEqual(b.id, { kind: 'sequence', group: 0, plus: 1 });
});

test('udp_sendmsg connected fast path: fl4 is inet->cork.fl.u.ip4, which a corked sendto rewrote (dport, daddr); a cmsg send is not on it', (t) => {
  const lab = mkLab();
  const sk = udpSock(lab);
  const st = ids();
  t.is(ip4_datagram_connect(lab, sk, { addr: PEER, port: DPORT }, SPORT, st), true);
  t.is(be16(udpOf(only(t, send(lab, sk, { to: null }, st))), 2), DPORT);
  const other = { addr: 0xc6120005, port: 9000 };
  t.deepEqual(send(lab, sk, { to: other, flags: MSG_MORE }, st).packets, []);
  t.is(be32(only(t, send(lab, sk, { to: other }, st)).bytes, 16), other.addr); // the corked datagram itself
  const stale = only(t, send(lab, sk, { to: null }, st));
  t.is(be32(stale.bytes, 16), other.addr);
  t.is(be16(udpOf(stale), 2), 9000);
  t.is(be16(udpOf(stale), 6), udpCsum(udpOf(stale), SRC, other.addr));
  const withCmsg = only(t, send(lab, sk, { to: null, control: ctl(cmsg(0, 2 /* IP_TTL */, [9, 0, 0, 0])) }, st));
  t.deepEqual([be32(withCmsg.bytes, 16), be16(udpOf(withCmsg), 2)], [PEER, DPORT]);
});

// Found by generated cases on 6.18.44 (harness/generate.ts), then read in __ip_append_data.

test('__ip_append_data: the last skb takes the rest whole when it fits mtu - hlen, though not a multiple of 8', (t) => {
  // route MTU 1000: room 980, per fragment (980 & ~7) = 976. 8 + 1945 = 1953 bytes of UDP:
  // 976, then 977 <= 980 stays one fragment (997 bytes on the wire), not 976 + 1.
  const lab = mkLab('6.18.44', { routeMtu: 1000 });
  const out = send(lab, udpSock(lab), { n: 1945 });
  t.is(out.result, 1945);
  t.deepEqual(out.packets.map((p) => (p.bytes[2]! << 8) | p.bytes[3]!), [996, 997]);
  t.deepEqual(out.packets.map((p) => ((p.bytes[6]! << 8) | p.bytes[7]!) & 0x3fff), [0x2000, 976 / 8]);
});

test('__ip_append_data: ENOBUFS once the skbs after the first pass 2 * sk_sndbuf (truesize, not bytes)', (t) => {
  // route MTU 100: 80 data bytes per skb, 40961 bytes → 513 skbs of about 1 KiB truesize each.
  const lab = mkLab('6.18.44', { routeMtu: 100 });
  const out = send(lab, udpSock(lab), { n: 40953 });
  t.is(errno(out), 'ENOBUFS');
  t.is(from(out), '__ip_append_data');
  t.is(out.packets.length, 0);
  // 10 KB at the same MTU (about 130 skbs) stays well inside the limit.
  t.is(send(lab, udpSock(lab), { n: 10000 }).result, 10000);
  // Before skb_small_head_cache (6.3) a 131-byte head is a kmalloc-512 object:
  // truesize 768, 512 * 768 < 425984, and the same send fits.
  const l61 = mkLab('6.1.176', { routeMtu: 100 });
  t.is(send(l61, udpSock(l61), { n: 40953 }).result, 40953);
});

test('kmalloc_reserve: skb_small_head_cache is sized by MAX_HEADER (SKB_SMALL_HEAD_CACHE_SIZE: 576, 640, 704)', (t) => {
  // SKB_HEAD_ALIGN(max(L1_CACHE_ALIGN(128 + MAX_HEADER), MAX_HEADER + 128 + NET_SKB_PAD)), x86_64.
  t.is(smallHeadCacheSize(32), 576); // no tunnels, no Hyper-V/WLAN: max(192, 224) -> 256 + 320
  t.is(smallHeadCacheSize(80), 640); // Debian cloud: tunnels as modules: max(256, 272) -> 320 + 320
  t.is(smallHeadCacheSize(176), 704); // HYPERV_NET=y and tunnels: max(320, 368) -> 384 + 320
  // Never a power of two: MAX_HEADER 0 gives max(128, 192) -> 192 + 320 = 512, which gets L1_CACHE_BYTES more.
  t.is(smallHeadCacheSize(0), 576);
  for (let mh = 0; mh <= 256; mh += 16) t.not(smallHeadCacheSize(mh) & (smallHeadCacheSize(mh) - 1), 0);
});

test('__ip_append_data: 491 skbs of a 131-byte head: sent with a 576-byte small-head cache, ENOBUFS with 640, unmodelled if unknown (6.3+)', (t) => {
  // route MTU 100: 39232 + 8 bytes = 490 skbs of 80 + one of 40. Charged before the last: 490 heads.
  // 490 * (576 + 256) + 1 = 407681 <= 425984; 490 * (640 + 256) + 1 = 439041 > 425984.
  const on = (release: string, maxHeader: number | null) => {
    const lab = mkLab(release, { routeMtu: 100, maxHeader });
    return send(lab, udpSock(lab), { n: 39232 });
  };
  t.is(on('6.18.44', 32).result, 39232);
  t.is(on('6.18.44', 32).packets.length, 491);
  t.is(errno(on('6.18.15', 80)), 'ENOBUFS');
  t.is(errno(on('6.12.117', 176)), 'ENOBUFS');
  t.throws(() => on('6.18.44', null), { instanceOf: Unmodelled, message: /491 skbs at the send-buffer limit/ });
  // Before 6.3 heads are kmalloc objects whatever MAX_HEADER: 490 * 768 + 1 fits.
  t.is(on('6.1.176', null).result, 39232);
  t.is(on('5.10.223', 80).result, 39232);
});
