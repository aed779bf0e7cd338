/**
 * Tests for model/net/ipv4/raw.ts: `raw_sendmsg`, `raw_probe_proto_opt` and
 * `raw_send_hdrinc` (kernel-notes §8). Headers are written out in hex; the
 * header checksum is checked with a one's-complement sum written here.
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr } from '../errors.js';
import { newSock, type Lab, type Sock } from '../sock.js';
import { MSG_MORE, type IdState } from './ip_output.js';
import { raw_sendmsg } from './raw.js';
import type { SendOutcome } from './udp.js';
import { mkLab, ids as freshIds } from '../../testing/fixtures.js';

const PEER = 0xc6120002;

const ids = freshIds;
const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
function send(lab: Lab, sk: Sock, data: Uint8Array, o: { flags?: number; control?: Uint8Array } = {}, st = ids()): SendOutcome {
  return raw_sendmsg(lab, sk, { to: { addr: PEER, port: 0 }, payload: data, flags: o.flags ?? 0, control: o.control ?? new Uint8Array(0) }, st);
}
const errno = (o: SendOutcome): string => (isErr(o.result) ? o.result.errno : 'ok');
function onesSum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
/** The header checksum field for `hdr` (its own field taken as 0). */
function hdrCsum(hdr: Uint8Array): number {
  const z = hdr.slice();
  z[10] = 0;
  z[11] = 0;
  return ~onesSum(z) & 0xffff;
}
const hdrincl = (lab: Lab, proto = 255): Sock => newSock('raw', proto, lab);

/**
 * A user header: version 4 ihl 5, tos 0, tot_len 0 (the kernel rewrites it),
 * id, flags, ttl 0x40, protocol 17, check 0xbeef (rewritten), saddr, daddr 198.18.0.2;
 * then 8 bytes.
 */
function userPacket(id: string, flags: string, saddr: string): Uint8Array {
  return h(`45 00 0000 ${id} ${flags} 40 11 beef ${saddr} c6120002  0102030405060708`);
}

test('raw_send_hdrinc: saddr 0 filled from the route, tot_len = length, id 0 with DF stays 0, check recomputed', (t) => {
  const lab = mkLab();
  const out = send(lab, hdrincl(lab), userPacket('0000', '4000', '00000000'));
  t.is(out.result, 28);
  t.is(out.packets.length, 1);
  const p = out.packets[0]!;
  // Everything but saddr, tot_len and check is the user's.
  const want = h('45 00 001c 0000 4000 40 11 0000 c6120001 c6120002 0102030405060708');
  const csum = hdrCsum(want.subarray(0, 20));
  want[10] = csum >> 8;
  want[11] = csum & 0xff;
  t.is(hex(p.bytes), hex(want));
  t.is(onesSum(p.bytes.subarray(0, 20)), 0xffff);
  t.deepEqual(p.id, { kind: 'zero' }, 'ip_select_ident(sk=NULL): DF and ignore_df 0 → 0');
});

test('raw_send_hdrinc: id 0 without DF → the shared generator (a new opaque group)', (t) => {
  const lab = mkLab();
  const out = send(lab, hdrincl(lab), userPacket('0000', '0000', 'c6120001'));
  t.deepEqual(out.packets[0]!.id, { kind: 'sequence', group: 0, plus: 0 });
});

test('raw_send_hdrinc: a nonzero id is kept exactly; a nonzero (even non-local) saddr is kept', (t) => {
  const lab = mkLab();
  const out = send(lab, hdrincl(lab), userPacket('1234', '4000', 'c6120009'));
  const p = out.packets[0]!;
  t.deepEqual(p.id, { kind: 'exact', id: 0x1234 });
  t.is(hex(p.bytes.subarray(4, 6)), '1234');
  t.is(hex(p.bytes.subarray(12, 16)), 'c6120009');
  t.is(onesSum(p.bytes.subarray(0, 20)), 0xffff);
});

test('raw_send_hdrinc: length > dev->mtu → EMSGSIZE (never fragmented); < 20 → EINVAL', (t) => {
  const lab = mkLab('6.18.44', { devMtu: 1500 });
  const big = new Uint8Array(1501);
  big.set(userPacket('0000', '0000', '00000000'));
  t.is(errno(send(lab, hdrincl(lab), big)), 'EMSGSIZE');
  const fits = new Uint8Array(1500);
  fits.set(userPacket('0000', '0000', '00000000'));
  t.is(send(lab, hdrincl(lab), fits).result, 1500);
  t.is(errno(send(lab, hdrincl(lab), h('45000000 00000000 40110000 00000000 c61200'))), 'EINVAL', '19 bytes');
});

test('raw_send_hdrinc: ≤ dev mtu but > the route MTU: DF set → EMSGSIZE (ip_fragment), DF clear → fragments', (t) => {
  const lab = mkLab('6.18.44', { devMtu: 1500, routeMtu: 1000 });
  const pkt = (flags: string): Uint8Array => {
    const b = new Uint8Array(1400);
    b.set(userPacket('0000', flags, '00000000'));
    return b;
  };
  const df = send(lab, hdrincl(lab), pkt('4000'));
  t.is(errno(df), 'EMSGSIZE');
  const frag = send(lab, hdrincl(lab), pkt('0000'));
  t.is(frag.result, 1400);
  // (1000-20)&~7 = 976: 996, then 1380 - 976 = 404 → 424
  t.deepEqual(frag.packets.map((p) => (p.bytes[2]! << 8) | p.bytes[3]!), [996, 424]);
});

test('raw_sendmsg: IP options (setsockopt or cmsg) with IP_HDRINCL → EINVAL', (t) => {
  const lab = mkLab();
  const sk = hdrincl(lab);
  sk.opt = { data: h('94040000'), faddr: 0, srr: 0, isStrictroute: false, rr: 0, rrNeedaddr: false, ts: 0, tsNeedaddr: false, tsNeedtime: false, routerAlert: 20 };
  t.is(errno(send(lab, sk, userPacket('0000', '0000', '00000000'))), 'EINVAL');
  // IP_RETOPTS cmsg: cmsg_len 20, level 0, type 7, RA
  const ctl = h('1400000000000000 00000000 07000000 94040000 00000000');
  t.is(errno(send(lab, hdrincl(lab), userPacket('0000', '0000', '00000000'), { control: ctl })), 'EINVAL');
});

test('raw_send_hdrinc: ihl < 5 is EINVAL where rejected (6.1.176, 6.12.107, 6.18.44), else sent untouched (5.10, 6.18.15)', (t) => {
  const short = h('44 00 0000 0000 0000 40 11 0000 00000000 c6120002 0102030405060708');
  const table = [
    { release: '5.10.223', want: 'untouched' },
    { release: '6.1.150', want: 'untouched' },
    { release: '6.1.176', want: 'EINVAL' },
    { release: '6.12.107', want: 'EINVAL' },
    { release: '6.18.15', want: 'untouched' },
    { release: '6.18.44', want: 'EINVAL' },
  ];
  for (const k of table) {
    const lab = mkLab(k.release);
    const out = send(lab, hdrincl(lab), short);
    if (k.want === 'EINVAL') {
      t.is(errno(out), 'EINVAL', k.release);
    } else {
      t.is(out.result, 28, k.release);
      t.is(hex(out.packets[0]!.bytes), hex(short), `${k.release}: no rewrite at all`);
    }
  }
});

test('raw_send_hdrinc: ihl*4 > length → EINVAL', (t) => {
  const lab = mkLab();
  const b = new Uint8Array(40);
  b.set(userPacket('0000', '0000', '00000000'));
  b[0] = 0x4f; // 60-byte header in a 40-byte packet
  t.is(errno(send(lab, hdrincl(lab), b)), 'EINVAL');
});

test('raw_sendmsg (not hdrincl): payload verbatim, no L4 checksum, header per __ip_make_skb with the socket protocol', (t) => {
  const lab = mkLab();
  const sk = newSock('raw', 1, lab);
  const icmp = h('0800 0000 1234 0001 aabbcc');
  const out = send(lab, sk, icmp);
  t.is(out.result, 11);
  const p = out.packets[0]!.bytes;
  t.is(hex(p.subarray(20)), hex(icmp), 'the zero checksum is not filled in');
  t.is(p[9], 1);
  t.is(p[8], 64);
  t.is((p[2]! << 8) | p[3]!, 31);
  t.is(hex(p.subarray(12, 20)), 'c6120001c6120002');
});

test('raw_probe_proto_opt: an ICMP raw socket with < 2 bytes of data → EFAULT; other protocols are fine', (t) => {
  const lab = mkLab();
  t.is(errno(send(lab, newSock('raw', 1, lab), h('08'))), 'EFAULT');
  t.is(errno(send(lab, newSock('raw', 1, lab), h('0800'))), 'ok');
  t.is(errno(send(lab, newSock('raw', 17, lab), h('08'))), 'ok');
  t.is(errno(send(lab, newSock('raw', 17, lab), new Uint8Array(0))), 'ok');
});

test('raw_sendmsg: SOL_UDP cmsgs are ignored (only ip_cmsg_send runs)', (t) => {
  const lab = mkLab();
  // cmsg_len 18, level 17, type 103 (UDP_SEGMENT), value 1000, padded to 24
  const ctl = h('1200000000000000 11000000 67000000 e803 000000000000');
  const out = send(lab, newSock('raw', 17, lab), new Uint8Array(3000), { control: ctl });
  t.is(out.result, 3000);
  t.is(out.packets.length, 3, 'plain IP fragments at 1500, not GSO segments');
});

test('raw_sendmsg MSG_MORE: the payloads of corked calls go out as one datagram', (t) => {
  const lab = mkLab();
  const sk = newSock('raw', 253, lab);
  const st = ids();
  t.deepEqual(send(lab, sk, h('0102'), { flags: MSG_MORE }, st).packets, []);
  const out = send(lab, sk, h('0304'), {}, st);
  t.is(hex(out.packets[0]!.bytes.subarray(20)), '01020304');
  t.is(out.packets[0]!.bytes[9], 253);
});

test('ip_do_fragment: mtu < hlen + 8 is EMSGSIZE on 6.12 (107); elsewhere the slow path is unguarded, so the model says it does not cover it', (t) => {
  // A 60-byte header (ihl 15) and 40 bytes of data, DF clear, under a locked route MTU of 64.
  const big = h('4f000000 00000000 40fd0000 00000000 c6120002' + '01'.repeat(40) + '00'.repeat(40));
  const l612 = mkLab('6.12.107', { routeMtu: 64 });
  t.is(errno(send(l612, hdrincl(l612), big)), 'EMSGSIZE');
  const l61 = mkLab('6.1.176', { routeMtu: 64 });
  t.throws(() => send(l61, hdrincl(l61), big), { name: 'Unmodelled' });
});

test('ip_do_fragment: a raw header that is itself a fragment keeps its offset as the base, and MF on every piece if it had MF', (t) => {
  // ihl 5, frag_off 0x2001 (MF, offset 8), 1100 bytes of data under a locked route MTU of 1000:
  // (1000-20)&~7 = 976 per fragment, then 124; offsets 8 and 8 + 976 = 984, MF on both.
  const user = h('45000000 1234 2001 40fd0000 00000000 c6120002') ;
  const data = new Uint8Array(1100).fill(7);
  const pkt = new Uint8Array(user.length + data.length);
  pkt.set(user);
  pkt.set(data, user.length);
  const lab = mkLab('6.18.44', { routeMtu: 1000 });
  const out = send(lab, hdrincl(lab), pkt);
  t.is(out.result, 1120);
  t.deepEqual(out.packets.map((p) => (p.bytes[6]! << 8) | p.bytes[7]!), [0x2000 | (8 >> 3), 0x2000 | (984 >> 3)]);
});
