/**
 * Tests for model/net/ipv4/route.ts: the lab's routing
 * (`ip_route_output_key_hash_rcu`, `__mkroute_output`, `ipv4_mtu`,
 * `__inet_dev_addr_type`; kernel-notes §3.1 step 11, §4.1).
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr } from '../errors.js';
import type { Lab } from '../sock.js';
import { inet_addr_type, ip_route_output_flow, type Flowi4 } from './route.js';
import { mkLab } from '../../testing/fixtures.js';

const fl = (o: Partial<Flowi4>): Flowi4 => ({ oif: 0, saddr: 0, daddr: 0xc6120002, anysrc: false, ...o });
const errno = (r: unknown): string => (isErr(r) ? r.errno : 'ok');

test('ip_route_output_flow: the peer is on tx; saddr filled with 198.18.0.1 (fib_prefsrc)', (t) => {
  const f = fl({});
  const rt = ip_route_output_flow(mkLab(), f);
  if (isErr(rt)) return t.fail(rt.errno);
  t.is(rt.dev, 'tx');
  t.is(rt.type, 'unicast');
  t.is(rt.mtu, 1500);
  t.false(rt.mtuLocked);
  t.is(f.saddr, 0xc6120001);
});

test('ipv4_mtu: a locked route MTU is dst_mtu; the device MTU stays devMtu', (t) => {
  const rt = ip_route_output_flow(mkLab('6.18.44', { routeMtu: 1280 }), fl({}));
  if (isErr(rt)) return t.fail(rt.errno);
  t.is(rt.mtu, 1280);
  t.true(rt.mtuLocked);
  t.is(rt.devMtu, 1500);
});

test('ip_route_output_key_hash_rcu: saddr multicast/broadcast/0-net → EINVAL; not local → ENETUNREACH unless ANYSRC', (t) => {
  t.is(errno(ip_route_output_flow(mkLab(), fl({ saddr: 0xe0000001 }))), 'EINVAL');
  t.is(errno(ip_route_output_flow(mkLab(), fl({ saddr: 0xffffffff }))), 'EINVAL');
  t.is(errno(ip_route_output_flow(mkLab(), fl({ saddr: 0x00000005 }))), 'EINVAL');
  t.is(errno(ip_route_output_flow(mkLab(), fl({ saddr: 0xc6120009 }))), 'ENETUNREACH');
  t.is(errno(ip_route_output_flow(mkLab(), fl({ saddr: 0xc6120009, anysrc: true }))), 'ok');
});

test('ip_route_output_key_hash_rcu: unknown oif → ENODEV; off-link with no default route → ENETUNREACH', (t) => {
  t.is(errno(ip_route_output_flow(mkLab(), fl({ oif: 9 }))), 'ENODEV');
  t.is(errno(ip_route_output_flow(mkLab(), fl({ daddr: 0xc6130001 }))), 'ENETUNREACH');
  t.is(errno(ip_route_output_flow(mkLab(), fl({ daddr: 0xc6130001, oif: 2 }))), 'ok', 'oif given: assumed on link');
});

test('ip_route_output_key_hash_rcu: daddr 0 → loopback, daddr = saddr = 127.0.0.1; local addresses go via lo', (t) => {
  const f = fl({ daddr: 0 });
  const rt = ip_route_output_flow(mkLab(), f);
  if (isErr(rt)) return t.fail(rt.errno);
  t.is(rt.dev, 'lo');
  t.is(f.daddr, 0x7f000001);
  t.is(f.saddr, 0x7f000001);
  const self = ip_route_output_flow(mkLab(), fl({ daddr: 0xc6120001 }));
  t.is(isErr(self) ? '' : self.dev, 'lo');
});

test('route: 198.18.0.255 is a broadcast route on tx', (t) => {
  const rt = ip_route_output_flow(mkLab(), fl({ daddr: 0xc61200ff }));
  if (isErr(rt)) return t.fail(rt.errno);
  t.true(rt.broadcast);
  t.is(rt.dev, 'tx');
});

test('inet_addr_type: the subnet-zero address is broadcast before 5.14 (fib_add_ifaddr), unicast after', (t) => {
  t.is(inet_addr_type(mkLab('5.10.223'), 0xc6120000), 'broadcast');
  t.is(inet_addr_type(mkLab('6.1.176'), 0xc6120000), 'unicast');
  t.is(inet_addr_type(mkLab(), 0xc6120001), 'local');
  t.is(inet_addr_type(mkLab(), 0xc6120002), 'unicast');
  t.is(inet_addr_type(mkLab(), 0x7f000005), 'local');
  t.is(inet_addr_type(mkLab(), 0xe0000001), 'multicast');
  t.is(inet_addr_type(mkLab(), 0), 'broadcast');
});
