/**
 * Tests for model/net/ipv4/ip_sockglue.ts: the CMSG walk of
 * include/linux/socket.h (`for_each_cmsghdr`, `__cmsg_nxthdr`, `CMSG_OK`),
 * `ip_cmsg_send` per control-message type, and `do_ip_setsockopt`.
 * Expected values come from kernel-notes §2.1, §2.3, §4.3, §6.1; control
 * buffers are written out here byte by byte (x86_64 cmsghdr: u64 cmsg_len,
 * i32 level, i32 type), not with the project's layout code.
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr, type KErr } from '../errors.js';
import { newSock, type Lab, type Sock } from '../sock.js';
import { ipcm_init_sk, type Ipcm } from './ip_output.js';
import { CMSG_OK, do_ip_setsockopt, for_each_cmsghdr, ip_cmsg_send } from './ip_sockglue.js';
import { mkLab } from '../../testing/fixtures.js';


/** One cmsghdr + data, padded with zeros to a multiple of 8 (CMSG_SPACE). `len` overrides cmsg_len. */
function cmsg(level: number, type: number, data: number[], len = 16 + data.length): number[] {
  const out = new Uint8Array((16 + data.length + 7) & ~7);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint32(4, 0, true);
  v.setInt32(8, level, true);
  v.setInt32(12, type, true);
  out.set(data, 16);
  return [...out];
}
const int = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const buf = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());

/**
 * The headers the walk visits, at most `max`: like the kernel macro, the walk
 * itself revisits a header whose cmsg_len is 0..7 (CMSG_ALIGN(len) = 0); every
 * parser stops there because CMSG_OK fails first.
 */
function walk(control: Uint8Array, max = 8): Array<{ offset: number; len: number; level: number; type: number }> {
  const out = [];
  for (const h of for_each_cmsghdr(control)) {
    out.push({ offset: h.offset, len: h.len, level: h.level, type: h.type });
    if (out.length >= max) break;
  }
  return out;
}

function send(control: Uint8Array, lab = mkLab(), sk?: Sock): { r: true | KErr; ipc: Ipcm } {
  const s = sk ?? newSock('udp', 17, lab);
  const ipc = ipcm_init_sk(lab, s);
  return { r: ip_cmsg_send(lab, s, control, ipc), ipc };
}
function errno(r: true | KErr): string {
  return isErr(r) ? r.errno : 'ok';
}

const SOL_IP = 0;
const SOL_SOCKET = 1;
const IP_TOS = 1;
const IP_TTL = 2;
const IP_RETOPTS = 7;
const IP_PKTINFO = 8;
const IP_PROTOCOL = 52;

// ---------------------------------------------------------------------------
// for_each_cmsghdr / CMSG_OK (include/linux/socket.h), kernel-notes §2.1

test('for_each_cmsghdr: CMSG_FIRSTHDR is NULL below 16 bytes, so controllen 0..15 is ignored', (t) => {
  for (let n = 0; n <= 15; n++) {
    const junk = new Uint8Array(n).fill(0xff);
    t.deepEqual(walk(junk), [], `controllen ${n}`);
    t.is(errno(send(junk).r), 'ok', `ip_cmsg_send, controllen ${n}`);
  }
});

test('for_each_cmsghdr: 16 bytes are a header; cmsg_len 0 then fails CMSG_OK → EINVAL', (t) => {
  const zeros = new Uint8Array(16);
  t.is(walk(zeros, 1).length, 1);
  t.is(errno(send(zeros).r), 'EINVAL');
});

test('__cmsg_nxthdr: 15 trailing junk bytes are ignored, 16 are parsed (and fail CMSG_OK)', (t) => {
  const ttl = cmsg(SOL_IP, IP_TTL, int(9)); // 24 bytes
  const with15 = buf(ttl, new Array<number>(15).fill(0xee));
  const a = send(with15);
  t.is(errno(a.r), 'ok');
  t.is(a.ipc.ttl, 9);
  t.is(walk(with15).length, 1);
  const with16 = buf(ttl, new Array<number>(16).fill(0xee));
  t.is(walk(with16).length, 2);
  t.is(errno(send(with16).r), 'EINVAL');
});

test('CMSG_OK: cmsg_len 0..15 and past the end of the buffer → EINVAL; exactly the rest is fine', (t) => {
  for (let len = 0; len < 16; len++) {
    t.is(errno(send(buf(cmsg(SOL_IP, IP_TTL, int(9), len))).r), 'EINVAL', `cmsg_len ${len}`);
  }
  // 24-byte buffer: cmsg_len 25 runs past it. Level 99 would be ignored if CMSG_OK passed.
  t.is(errno(send(buf(cmsg(99, 1, int(0), 25))).r), 'EINVAL');
  t.is(errno(send(buf(cmsg(99, 1, int(0), 24))).r), 'ok');
  // CMSG_OK is on the cmsg's own offset: a second header whose length runs past the end.
  t.is(errno(send(buf(cmsg(99, 1, int(0)), cmsg(99, 1, int(0), 25))).r), 'EINVAL');
});

test('CMSG_OK: a size_t cmsg_len with the high 32 bits set is past any buffer → EINVAL', (t) => {
  const c = Uint8Array.from(cmsg(99, 1, int(0)));
  c[4] = 1; // cmsg_len = 2^32 + 20
  const [h] = for_each_cmsghdr(c);
  t.false(CMSG_OK(c, h!));
  t.is(errno(send(c).r), 'EINVAL');
});

test('__cmsg_nxthdr: the next header is at CMSG_ALIGN(cmsg_len), not at cmsg_len', (t) => {
  // IP_TOS u8 form: cmsg_len 17, next header at 24 (bytes 17..23 are padding).
  const c = buf(cmsg(SOL_IP, IP_TOS, [0x2e]), cmsg(SOL_IP, IP_TTL, int(33)));
  t.deepEqual(walk(c).map((h) => [h.offset, h.len, h.level, h.type]), [
    [0, 17, SOL_IP, IP_TOS],
    [24, 20, SOL_IP, IP_TTL],
  ]);
  const r = send(c);
  t.is(errno(r.r), 'ok');
  t.is(r.ipc.tos, 0x2e);
  t.is(r.ipc.ttl, 33);
  // cmsg_len not a multiple of 8 is fine by itself: only the next header is aligned.
  t.is(errno(send(buf(cmsg(SOL_IP, IP_TOS, [7]))).r), 'ok');
});

// ---------------------------------------------------------------------------
// ip_cmsg_send per type (net/ipv4/ip_sockglue.c), kernel-notes §2.3

test('ip_cmsg_send IP_TTL: cmsg_len must be CMSG_LEN(4); value 1..255', (t) => {
  const cases: Array<{ description: string; c: number[]; want: string; ttl?: number }> = [
    { description: 'int 1', c: cmsg(SOL_IP, IP_TTL, int(1)), want: 'ok', ttl: 1 },
    { description: 'int 255', c: cmsg(SOL_IP, IP_TTL, int(255)), want: 'ok', ttl: 255 },
    { description: 'int 0', c: cmsg(SOL_IP, IP_TTL, int(0)), want: 'EINVAL' },
    { description: 'int 256', c: cmsg(SOL_IP, IP_TTL, int(256)), want: 'EINVAL' },
    { description: 'int -1 (setsockopt "unset" is not a cmsg value)', c: cmsg(SOL_IP, IP_TTL, int(-1)), want: 'EINVAL' },
    { description: '1-byte form (cmsg_len 17)', c: cmsg(SOL_IP, IP_TTL, [9]), want: 'EINVAL' },
    { description: '8-byte form (cmsg_len 24)', c: cmsg(SOL_IP, IP_TTL, [9, 0, 0, 0, 0, 0, 0, 0]), want: 'EINVAL' },
  ];
  for (const k of cases) {
    const r = send(buf(k.c));
    t.is(errno(r.r), k.want, k.description);
    if (k.ttl !== undefined) t.is(r.ipc.ttl, k.ttl, k.description);
  }
});

test('ip_cmsg_send IP_TOS: int (CMSG_LEN(4)) or u8 (CMSG_LEN(1)) form, 0..255, full byte with ECN bits', (t) => {
  const cases: Array<{ description: string; c: number[]; want: string; tos?: number }> = [
    { description: 'int 0xff', c: cmsg(SOL_IP, IP_TOS, int(0xff)), want: 'ok', tos: 0xff },
    { description: 'int 0 (explicit zero overrides the socket TOS)', c: cmsg(SOL_IP, IP_TOS, int(0)), want: 'ok', tos: 0 },
    { description: 'u8 0x03 (ECN bits only)', c: cmsg(SOL_IP, IP_TOS, [0x03]), want: 'ok', tos: 0x03 },
    { description: 'u8 0xb8', c: cmsg(SOL_IP, IP_TOS, [0xb8]), want: 'ok', tos: 0xb8 },
    { description: 'int 256', c: cmsg(SOL_IP, IP_TOS, int(256)), want: 'EINVAL' },
    { description: 'int -1', c: cmsg(SOL_IP, IP_TOS, int(-1)), want: 'EINVAL' },
    { description: '2-byte form (cmsg_len 18)', c: cmsg(SOL_IP, IP_TOS, [1, 0]), want: 'EINVAL' },
    { description: 'empty (cmsg_len 16)', c: cmsg(SOL_IP, IP_TOS, []), want: 'EINVAL' },
  ];
  for (const k of cases) {
    const r = send(buf(k.c));
    t.is(errno(r.r), k.want, k.description);
    if (k.tos !== undefined) t.is(r.ipc.tos, k.tos, k.description);
  }
});

test('ip_cmsg_send IP_TOS: priority = rt_tos2priority(tos) (skb->priority, not on the wire)', (t) => {
  // ip_tos2prio[IPTOS_TOS(tos) >> 1]: tos 0x10 (LOWDELAY) → index 8 → TC_PRIO_INTERACTIVE (6);
  // tos 0x08 (THROUGHPUT) → index 4 → TC_PRIO_BULK (2).
  t.is(send(buf(cmsg(SOL_IP, IP_TOS, [0x10]))).ipc.priority, 6);
  t.is(send(buf(cmsg(SOL_IP, IP_TOS, [0x08]))).ipc.priority, 2);
});

test('ip_cmsg_send IP_PKTINFO: cmsg_len must be 28; ipc->addr = ipi_spec_dst always; nonzero ifindex → oif', (t) => {
  const lab = mkLab();
  const sk = newSock('udp', 17, lab);
  sk.saddr = 0xc6120001; // bound to 198.18.0.1: ipcm_init_sk starts from it
  sk.boundDevIf = 0;
  // struct in_pktinfo { int ipi_ifindex; be32 ipi_spec_dst; be32 ipi_addr; }
  const pkt = (ifindex: number, spec: number[], addr: number[]): number[] => [...int(ifindex), ...spec, ...addr];
  const zeroSpec = send(buf(cmsg(SOL_IP, IP_PKTINFO, pkt(0, [0, 0, 0, 0], [198, 18, 0, 9]))), lab, sk);
  t.is(errno(zeroSpec.r), 'ok');
  t.is(zeroSpec.ipc.addr, 0, 'spec_dst 0 overrides the bound source address');
  t.is(zeroSpec.ipc.oif, 0, 'ifindex 0 leaves oif alone');
  const withIf = send(buf(cmsg(SOL_IP, IP_PKTINFO, pkt(7, [198, 18, 0, 1], [1, 2, 3, 4]))), lab, sk);
  t.is(withIf.ipc.oif, 7);
  t.is(withIf.ipc.addr, 0xc6120001, 'spec_dst in network byte order; ipi_addr ignored');
  t.is(errno(send(buf(cmsg(SOL_IP, IP_PKTINFO, pkt(0, [0, 0, 0, 0], [0, 0, 0]))), lab, sk).r), 'EINVAL', 'cmsg_len 27');
  t.is(errno(send(buf(cmsg(SOL_IP, IP_PKTINFO, [...pkt(0, [0, 0, 0, 0], [0, 0, 0, 0]), 0])), lab, sk).r), 'EINVAL', 'cmsg_len 29');
});

test('ip_cmsg_send IP_RETOPTS: data truncated to 40 bytes; empty gives "no options" (not NULL)', (t) => {
  const noops44 = new Array<number>(44).fill(1);
  const r = send(buf(cmsg(SOL_IP, IP_RETOPTS, noops44)));
  t.is(errno(r.r), 'ok');
  t.is(r.ipc.opt?.data.length, 40, '44 NOOPs → 40 (err < 40 ? err : 40)');
  // A bad byte beyond 40 is never seen: 40 NOOPs then garbage (an RR with ptr 0).
  const r2 = send(buf(cmsg(SOL_IP, IP_RETOPTS, [...new Array<number>(40).fill(1), 7, 3, 0])));
  t.is(errno(r2.r), 'ok');
  const empty = send(buf(cmsg(SOL_IP, IP_RETOPTS, [])));
  t.is(errno(empty.r), 'ok');
  t.not(empty.ipc.opt, null, 'an empty IP_RETOPTS replaces the socket options');
  t.is(empty.ipc.opt?.data.length, 0);
  // Compile errors come back: RR with ptr 3 (< 4).
  t.is(errno(send(buf(cmsg(SOL_IP, IP_RETOPTS, [7, 7, 3, 0, 0, 0, 0]))).r), 'EINVAL');
});

test('ip_cmsg_send IP_PROTOCOL: CMSG_LEN(4), 1..255', (t) => {
  const r = send(buf(cmsg(SOL_IP, IP_PROTOCOL, int(255))));
  t.is(errno(r.r), 'ok');
  t.is(r.ipc.protocol, 255);
  t.is(errno(send(buf(cmsg(SOL_IP, IP_PROTOCOL, int(0)))).r), 'EINVAL');
  t.is(errno(send(buf(cmsg(SOL_IP, IP_PROTOCOL, int(256)))).r), 'EINVAL');
  t.is(errno(send(buf(cmsg(SOL_IP, IP_PROTOCOL, [17]))).r), 'EINVAL');
});

test('ip_cmsg_send: an unknown SOL_IP type → EINVAL (default case)', (t) => {
  for (const type of [3 /* IP_HDRINCL */, 4 /* IP_OPTIONS */, 99, 0]) {
    t.is(errno(send(buf(cmsg(SOL_IP, type, int(1)))).r), 'EINVAL', `type ${type}`);
  }
});

test('ip_cmsg_send: levels other than SOL_IP and SOL_SOCKET are ignored (SOL_IPV6, SOL_UDP, 1234)', (t) => {
  const r = send(buf(cmsg(41, 50, [0xff, 0xff]), cmsg(17, 103, [0x10]), cmsg(1234, 1, int(-1))));
  t.is(errno(r.r), 'ok');
  t.deepEqual(r.ipc, send(new Uint8Array(0)).ipc, 'nothing changed');
});

test('ip_cmsg_send: SOL_SOCKET goes to __sock_cmsg_send and its error is returned', (t) => {
  const r = send(buf(cmsg(SOL_SOCKET, 36 /* SO_MARK */, int(0x1234))));
  t.is(errno(r.r), 'ok');
  t.is(r.ipc.mark, 0x1234);
  t.is(errno(send(buf(cmsg(SOL_SOCKET, 99, int(0)))).r), 'EINVAL');
});

test('ip_cmsg_send: duplicates, the last one wins (TTL, TOS, PKTINFO address, RETOPTS)', (t) => {
  const r = send(
    buf(
      cmsg(SOL_IP, IP_TTL, int(3)),
      cmsg(SOL_IP, IP_TOS, [0x10]),
      cmsg(SOL_IP, IP_PKTINFO, [...int(0), 198, 18, 0, 1, 0, 0, 0, 0]),
      cmsg(SOL_IP, IP_RETOPTS, [1, 1, 1, 1, 1, 1, 1, 1]),
      cmsg(SOL_IP, IP_TTL, int(9)),
      cmsg(SOL_IP, IP_TOS, int(0x20)),
      cmsg(SOL_IP, IP_PKTINFO, [...int(0), 0, 0, 0, 0, 0, 0, 0, 0]),
      cmsg(SOL_IP, IP_RETOPTS, [1, 1, 1, 1]),
    ),
  );
  t.is(errno(r.r), 'ok');
  t.is(r.ipc.ttl, 9);
  t.is(r.ipc.tos, 0x20);
  t.is(r.ipc.addr, 0);
  t.is(r.ipc.opt?.data.length, 4);
});

test('ip_cmsg_send: the first failing cmsg in buffer order decides the errno', (t) => {
  const lab = mkLab('6.18.44', { capNetRaw: false, capNetAdmin: false });
  const mark = cmsg(SOL_SOCKET, 36, int(1)); // EPERM without capabilities
  const badTtl = cmsg(SOL_IP, IP_TTL, int(0)); // EINVAL
  t.is(errno(send(buf(mark, badTtl), lab).r), 'EPERM');
  t.is(errno(send(buf(badTtl, mark), lab).r), 'EINVAL');
});

// ---------------------------------------------------------------------------
// do_ip_setsockopt (net/ipv4/ip_sockglue.c)

function setopt(name: number, val: number[], lab = mkLab(), sk = newSock('udp', 17, lab)): { r: true | KErr; sk: Sock } {
  return { r: do_ip_setsockopt(lab, sk, name, Uint8Array.from(val)), sk };
}

test('do_ip_setsockopt IP_TTL: -1 (unset) or 1..255; optlen < 4 reads one byte', (t) => {
  t.is(setopt(IP_TTL, int(-1)).sk.ucTtl, -1);
  t.is(setopt(IP_TTL, int(77)).sk.ucTtl, 77);
  t.is(errno(setopt(IP_TTL, int(0)).r), 'EINVAL');
  t.is(errno(setopt(IP_TTL, int(256)).r), 'EINVAL');
  t.is(errno(setopt(IP_TTL, int(-2)).r), 'EINVAL');
  t.is(setopt(IP_TTL, [200]).sk.ucTtl, 200, 'a 1-byte optval is read as an unsigned byte');
  t.is(errno(setopt(IP_TTL, []).r), 'EINVAL', 'optlen 0');
});

test('do_ip_setsockopt IP_TOS: the whole byte for datagram sockets (inet->tos is a u8)', (t) => {
  t.is(setopt(IP_TOS, int(0xff)).sk.tos, 0xff);
  t.is(setopt(IP_TOS, int(0x03)).sk.tos, 0x03, 'ECN bits kept (only SOCK_STREAM masks them)');
  t.is(setopt(IP_TOS, int(0x1b8)).sk.tos, 0xb8);
});

test('do_ip_setsockopt IP_MTU_DISCOVER: 0..5 (ip_sock_set_mtu_discover), else EINVAL', (t) => {
  for (let m = 0; m <= 5; m++) t.is(setopt(10, int(m)).sk.pmtudisc, m, `mode ${m}`);
  t.is(errno(setopt(10, int(6)).r), 'EINVAL');
  t.is(errno(setopt(10, int(-1)).r), 'EINVAL');
});

test('do_ip_setsockopt IP_OPTIONS: more than 40 bytes → EINVAL; empty clears; compiled and stored', (t) => {
  t.is(errno(setopt(4, new Array<number>(41).fill(1)).r), 'EINVAL');
  t.is(errno(setopt(4, new Array<number>(40).fill(1)).r), 'ok');
  const lab = mkLab();
  const sk = newSock('udp', 17, lab);
  setopt(4, [7, 7, 4, 0, 0, 0, 0], lab, sk);
  t.deepEqual([...sk.opt!.data], [7, 7, 8, 0, 0, 0, 0, 0], 'RR compiled: ptr 4 → 8, padded with EOL');
  setopt(4, [], lab, sk);
  t.is(sk.opt, null);
});

test('do_ip_setsockopt IP_HDRINCL / IP_NODEFRAG on a non-raw socket → ENOPROTOOPT', (t) => {
  t.is(errno(setopt(3, int(1)).r), 'ENOPROTOOPT');
  t.is(errno(setopt(22, int(1)).r), 'ENOPROTOOPT');
  const lab = mkLab();
  const raw = newSock('raw', 17, lab);
  t.false(raw.hdrincl);
  t.is(errno(setopt(3, int(1), lab, raw).r), 'ok');
  t.true(raw.hdrincl);
});

test('do_ip_setsockopt IP_MULTICAST_TTL: -1 means 1, 0..255', (t) => {
  t.is(setopt(33, int(-1)).sk.mcTtl, 1);
  t.is(setopt(33, int(0)).sk.mcTtl, 0);
  t.is(errno(setopt(33, int(256)).r), 'EINVAL');
});
