/**
 * Tests for model/net/ipv4/icmp.ts: `__icmp_send` as `ip_fragment` calls it
 * (ICMP_DEST_UNREACH / ICMP_FRAG_NEEDED), with `icmp_route_lookup` and
 * `icmp_push_reply`. The packet in error is a DF datagram from `src`.
 */
import test from 'ava';
import { checksumValid } from '../../wire/ipv4.js';
import { ICMP_DEST_UNREACH } from '../../wire/icmp.js';
import * as checksum from '../../wire/checksum.js';
import { Unmodelled } from '../errors.js';
import { icmp_send, ICMP_FRAG_NEEDED } from './icmp.js';
import { ip_route_output_flow, type Rtable } from './route.js';
import { mkLab, ids } from '../../testing/fixtures.js';
import type { Lab } from '../sock.js';

const PEER = 0xc6120002;
const ON_LINK = 0xc6120009;

/** A built IPv4 packet of `total` bytes: DF, the given tos, protocol and first payload bytes. */
function packet(total: number, o: { src?: number; tos?: number; proto?: number; frag?: number; data?: number[] } = {}): Uint8Array {
  const b = new Uint8Array(total);
  const v = new DataView(b.buffer);
  b[0] = 0x45;
  b[1] = o.tos ?? 0;
  v.setUint16(2, total);
  v.setUint16(6, o.frag ?? 0x4000);
  b[8] = 64;
  b[9] = o.proto ?? 253;
  v.setUint32(12, o.src ?? ON_LINK);
  v.setUint32(16, PEER);
  b.set(o.data ?? [], 20);
  for (let i = 20 + (o.data?.length ?? 0); i < total; i++) b[i] = i & 0xff;
  return b;
}

function route(lab: Lab): Rtable {
  const rt = ip_route_output_flow(lab, { oif: 0, saddr: 0, daddr: PEER, anysrc: true });
  if ('kind' in rt) throw new Error(rt.errno);
  return rt;
}

const fragNeeded = (lab: Lab, pkt: Uint8Array, mtu = 1000) => icmp_send(lab, pkt, route(lab), ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu, ids());

test('__icmp_send: to the on-link source, from the route\'s address, TOS 0xc0, no DF, TTL default, 576 bytes quoting the packet', (t) => {
  const lab = mkLab('6.18.44', { routeMtu: 1000 });
  const pkt = packet(1200);
  const [p, more] = fragNeeded(lab, pkt);
  t.is(more, undefined);
  const b = p!.bytes;
  const v = new DataView(b.buffer, b.byteOffset);
  t.is(b.length, 576);
  t.is(b[1], 0xc0); // RT_TOS(0) | IPTOS_PREC_INTERNETCONTROL
  t.is(v.getUint16(6), 0); // IP_PMTUDISC_DONT on the ICMP socket
  t.is(b[8], 64);
  t.is(b[9], 1);
  t.is(v.getUint32(12), 0xc6120001); // icmp_route_lookup with saddr 0: the route's source
  t.is(v.getUint32(16), ON_LINK);
  t.true(checksumValid(b));
  // ICMP: type 3 code 4, un.gateway = htonl(mtu), then the packet's first 576 - 28 bytes.
  t.deepEqual([...b.subarray(20, 28)].filter((_, i) => i !== 2 && i !== 3), [3, 4, 0, 0, 0x03, 0xe8]);
  t.is(checksum.finish(checksum.data(b.subarray(20))), 0);
  t.deepEqual(b.subarray(28), pkt.subarray(0, 548));
  t.like(p!.id, { kind: 'sequence' }); // ip_select_ident without DF: hashed
});

test('__icmp_send: TOS is RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL; TTL follows ip_default_ttl', (t) => {
  const lab = mkLab('6.18.44', { routeMtu: 1000, sysctl: new Map([['net.ipv4.ip_default_ttl', '33']]) });
  const b = fragNeeded(lab, packet(1200, { tos: 0xff }))[0]!.bytes;
  t.is(b[1], 0xde);
  t.is(b[8], 33);
});

test('__icmp_send: a local source (through lo) or one with no route gets nothing on tx', (t) => {
  const lab = mkLab('6.18.44', { routeMtu: 1000 });
  t.deepEqual(fragNeeded(lab, packet(1200, { src: 0xc6120001 })), []);
  t.deepEqual(fragNeeded(lab, packet(1200, { src: 0x0a010203 })), []);
});

test('__icmp_send: only fragment 0; never about an ICMP error or an unknown ICMP type; an echo request gets one', (t) => {
  const lab = mkLab('6.18.44', { routeMtu: 1000 });
  t.deepEqual(fragNeeded(lab, packet(1200, { frag: 0x4001 })), []);
  t.deepEqual(fragNeeded(lab, packet(1200, { proto: 1, data: [3, 1] })), []);
  t.deepEqual(fragNeeded(lab, packet(1200, { proto: 1, data: [19, 0] })), []);
  t.is(fragNeeded(lab, packet(1200, { proto: 1, data: [8, 0] })).length, 1);
});

test('__icmp_send: room = min(dst_mtu, 576) - 28; a route MTU below 68 fails ip_setup_cork (nothing sent)', (t) => {
  const at = (mtu: number) => fragNeeded(mkLab('6.18.44', { routeMtu: mtu }), packet(400), mtu);
  t.is(at(300)[0]!.bytes.length, 300);
  t.is(at(68)[0]!.bytes.length, 68);
  t.deepEqual(at(67), []);
});

test('__icmp_send: other types than FRAG_NEEDED are rate-limited: not modelled', (t) => {
  const lab = mkLab();
  t.throws(() => icmp_send(lab, packet(100), route(lab), 11, 0, 0, ids()), { instanceOf: Unmodelled });
});
