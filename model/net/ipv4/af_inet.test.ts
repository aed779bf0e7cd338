/**
 * Tests for model/net/ipv4/af_inet.ts: `inet_create` (+ `ping_init_sock`),
 * bind, `__ip4_datagram_connect`, the setsockopt dispatch and
 * `____sys_sendmsg` (kernel-notes §1, §8, §9, §10).
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr } from '../errors.js';
import type { Lab, Sock } from '../sock.js';
import { inet_bind, inet_create, ip4_datagram_connect, sendmsg, setsockopt } from './af_inet.js';
import type { IdState } from './ip_output.js';
import { mkLab as lab, ids as freshIds } from '../../testing/fixtures.js';

const mkLab = (o: Partial<Lab> = {}, release = '6.18.44'): Lab => lab(release, o);

const ids = freshIds;
const errno = (r: unknown): string => (isErr(r) ? r.errno : 'ok');
const udp = { domain: 2, type: 2, protocol: 17 };
function create(lab: Lab, s = udp): Sock {
  const sk = inet_create(lab, s);
  if (isErr(sk)) throw new Error(sk.errno);
  return sk;
}
const int = (n: number): Uint8Array => Uint8Array.from([n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255]);

test('inet_create: raw needs CAP_NET_RAW (EPERM); raw protocol 0 and dgram TCP → EPROTONOSUPPORT', (t) => {
  t.is(errno(inet_create(mkLab({ capNetRaw: false }), { domain: 2, type: 3, protocol: 1 })), 'EPERM');
  t.is(errno(inet_create(mkLab(), { domain: 2, type: 3, protocol: 0 })), 'EPROTONOSUPPORT');
  t.is(errno(inet_create(mkLab(), { domain: 2, type: 2, protocol: 6 })), 'EPROTONOSUPPORT');
  t.true(create(mkLab(), { domain: 2, type: 3, protocol: 255 }).hdrincl, 'IPPROTO_RAW turns hdrincl on');
  t.is(create(mkLab(), { domain: 2, type: 2, protocol: 0 }).protocol, 17, 'protocol 0 → UDP');
});

test('ping_init_sock: the default ping_group_range "1 0" admits nobody, not even root → EACCES', (t) => {
  const r = inet_create(mkLab(), { domain: 2, type: 2, protocol: 1 });
  t.is(errno(r), 'EACCES');
  t.is(errno(inet_create(mkLab({ sysctl: new Map([['net.ipv4.ping_group_range', '0 0']]) }), { domain: 2, type: 2, protocol: 1 })), 'ok');
  t.is(errno(inet_create(mkLab({ sysctl: new Map([['net.ipv4.ping_group_range', '1 100']]) }), { domain: 2, type: 2, protocol: 1 })), 'EACCES');
});

test('inet_create: net.ipv4.ip_no_pmtu_disc nonzero → new sockets start in DONT, else WANT', (t) => {
  t.is(create(mkLab()).pmtudisc, 1);
  t.is(create(mkLab({ sysctl: new Map([['net.ipv4.ip_no_pmtu_disc', '3']]) })).pmtudisc, 0);
});

test('__inet_bind: a non-local address → EADDRNOTAVAIL unless IP_FREEBIND; a second bind → EINVAL', (t) => {
  const lab = mkLab();
  t.is(errno(inet_bind(lab, create(lab), { addr: 0xc6120009, port: 5000 }, 40000)), 'EADDRNOTAVAIL');
  const fb = create(lab);
  fb.freebind = true;
  t.is(errno(inet_bind(lab, fb, { addr: 0xc6120009, port: 5000 }, 40000)), 'ok');
  const sk = create(lab);
  t.is(errno(inet_bind(lab, sk, { addr: 0xc6120001, port: 0 }, 41000)), 'ok');
  t.is(sk.sport, 41000, 'port 0: the port the kernel picked (a run-time input)');
  t.is(errno(inet_bind(lab, sk, { addr: 0xc6120001, port: 5000 }, 41000)), 'EINVAL');
});

test('__ip4_datagram_connect: ESTABLISHED with daddr/dport; broadcast without SO_BROADCAST → EACCES', (t) => {
  const lab = mkLab();
  const sk = create(lab);
  const st = ids();
  t.is(errno(ip4_datagram_connect(lab, sk, { addr: 0xc6120002, port: 7000 }, 40000, st)), 'ok');
  t.is(sk.state, 'ESTABLISHED');
  t.is(sk.daddr, 0xc6120002);
  t.is(sk.saddr, 0xc6120001);
  t.is(st.connectedGroup, 0);
  t.is(errno(ip4_datagram_connect(lab, create(lab), { addr: 0xc61200ff, port: 7000 }, 40000, ids())), 'EACCES');
});

test('setsockopt dispatch: unknown SOL_SOCKET/SOL_IP numbers → ENOPROTOOPT; SOL_UDP on raw → ENOPROTOOPT', (t) => {
  const lab = mkLab();
  t.is(errno(setsockopt(lab, create(lab), 1, 9999, int(1), ids()).result), 'ENOPROTOOPT');
  t.is(errno(setsockopt(lab, create(lab), 0, 9999, int(1), ids()).result), 'ENOPROTOOPT');
  t.is(errno(setsockopt(lab, create(lab, { domain: 2, type: 3, protocol: 17 }), 17, 1, int(1), ids()).result), 'ENOPROTOOPT');
  t.is(errno(setsockopt(lab, create(lab), 6, 1, int(1), ids()).result), 'ENOPROTOOPT', 'SOL_TCP on UDP');
});

test('setsockopt dispatch: UDP_CORK = 0 returns the pushed datagram', (t) => {
  const lab = mkLab();
  const sk = create(lab);
  const st = ids();
  t.is(setsockopt(lab, sk, 17, 1, int(1), st).result, true);
  const s = sendmsg(lab, sk, { to: { addr: 0xc6120002, port: 7000 }, payload: new Uint8Array(10), flags: 0, control: new Uint8Array(0) }, 40000, st);
  t.is(s.result, 10);
  t.deepEqual(s.packets, []);
  const r = setsockopt(lab, sk, 17, 1, int(0), st);
  t.is(r.packets.length, 1);
  t.is(r.packets[0]!.bytes.length, 38);
});

test('____sys_sendmsg: control data > 36 bytes needs sock_kmalloc: size < optmem_max, else ENOBUFS', (t) => {
  const msg = (n: number) => ({ to: { addr: 0xc6120002, port: 7000 }, payload: new Uint8Array(1), flags: 0, control: new Uint8Array(n) });
  const lab = mkLab({ sysctl: new Map([['net.core.optmem_max', '40']]) });
  t.is(errno(sendmsg(lab, create(lab), msg(40), 40000, ids()).result), 'ENOBUFS', '40 is not < 40');
  // 40 zero bytes are two headers with cmsg_len 0 → EINVAL from the parser, past sock_kmalloc.
  const lab41 = mkLab({ sysctl: new Map([['net.core.optmem_max', '41']]) });
  t.is(errno(sendmsg(lab41, create(lab41), msg(40), 40000, ids()).result), 'EINVAL');
  t.is(errno(sendmsg(lab, create(lab), msg(32), 40000, ids()).result), 'EINVAL', '≤ 36 bytes: the stack buffer');
});

test('inet_send_prepare: an unbound UDP socket is autobound even when the send then fails', (t) => {
  const lab = mkLab();
  const sk = create(lab);
  const r = sendmsg(lab, sk, { to: null, payload: new Uint8Array(1), flags: 0, control: new Uint8Array(0) }, 45678, ids());
  t.is(errno(r.result), 'EDESTADDRREQ');
  t.is(sk.num, 45678);
  const raw = create(lab, { domain: 2, type: 3, protocol: 17 });
  sendmsg(lab, raw, { to: null, payload: new Uint8Array(1), flags: 0, control: new Uint8Array(0) }, 45678, ids());
  t.is(raw.num, 17, 'raw sockets never autobind (inet_num = protocol)');
});

// Rules confirmed in the Debian sources (model/PROVENANCE.md).

test('ping_check_bind_addr: a ping socket never binds a broadcast or multicast address, even with ip_nonlocal_bind', (t) => {
  const ping = { domain: 2, type: 2, protocol: 1 };
  const lab = mkLab({ sysctl: new Map([['net.ipv4.ping_group_range', '0 0'], ['net.ipv4.ip_nonlocal_bind', '1']]) });
  t.is(errno(inet_bind(lab, create(lab, ping), { addr: 0xc61200ff, port: 0 }, 7)), 'EADDRNOTAVAIL', '198.18.0.255');
  t.is(errno(inet_bind(lab, create(lab, ping), { addr: 0xe0000001, port: 0 }, 7)), 'EADDRNOTAVAIL', '224.0.0.1');
  t.is(errno(inet_bind(lab, create(lab, ping), { addr: 0xc6120009, port: 0 }, 7)), 'ok', 'non-local with ip_nonlocal_bind');
  t.is(errno(inet_bind(lab, create(lab), { addr: 0xc61200ff, port: 0 }, 7)), 'ok', 'UDP may bind the broadcast address');
});

test('raw_bind: 5.10 ignores ip_nonlocal_bind (address type only); 6.1+ uses inet_addr_valid_or_nonlocal', (t) => {
  const raw = { domain: 2, type: 3, protocol: 253 };
  const sys = new Map([['net.ipv4.ip_nonlocal_bind', '1']]);
  const l510 = mkLab({ sysctl: sys }, '5.10.223');
  const l61 = mkLab({ sysctl: sys }, '6.1.176');
  t.is(errno(inet_bind(l510, create(l510, raw), { addr: 0xc6120009, port: 0 }, 0)), 'EADDRNOTAVAIL');
  t.is(errno(inet_bind(l61, create(l61, raw), { addr: 0xc6120009, port: 0 }, 0)), 'ok');
});

test('__mkroute_output: a loopback source on tx is EINVAL unless route_localnet', (t) => {
  const lab = mkLab();
  const sk = create(lab);
  t.is(errno(inet_bind(lab, sk, { addr: 0x7f000001, port: 5000 }, 0)), 'ok');
  const send = { to: { addr: 0xc6120002, port: 7000 }, payload: new Uint8Array(4), flags: 0, control: new Uint8Array(0) };
  t.is(errno(sendmsg(lab, sk, send, 5000, ids()).result), 'EINVAL');
  const lab2 = mkLab({ sysctl: new Map([['net.ipv4.conf.all.route_localnet', '1']]) });
  const sk2 = create(lab2);
  inet_bind(lab2, sk2, { addr: 0x7f000001, port: 5000 }, 0);
  t.is(sendmsg(lab2, sk2, send, 5000, ids()).result, 4);
});

test('fib_add_ifaddr on lo: 127.255.255.255 is a broadcast route (EACCES without SO_BROADCAST); 127.0.0.0 too on 5.10', (t) => {
  const send = (addr: number) => ({ to: { addr, port: 7000 }, payload: new Uint8Array(4), flags: 0, control: new Uint8Array(0) });
  const lab = mkLab();
  t.is(errno(sendmsg(lab, create(lab), send(0x7fffffff), 40000, ids()).result), 'EACCES');
  const l510 = mkLab({}, '5.10.223');
  t.is(errno(sendmsg(l510, create(l510), send(0x7f000000), 40000, ids()).result), 'EACCES');
  t.is(sendmsg(lab, create(lab), send(0x7f000000), 40000, ids()).result, 4, '6.1+: 127.0.0.0 is a local address');
});

test('__inet_bind: a UDP port below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE (inet_port_requires_bind_service) → EACCES', (t) => {
  const lab = mkLab({ capNetBindService: false });
  t.is(errno(inet_bind(lab, create(lab), { addr: 0xc6120001, port: 1023 }, 0)), 'EACCES');
  t.is(errno(inet_bind(lab, create(lab), { addr: 0xc6120001, port: 1024 }, 0)), 'ok');
  t.is(errno(inet_bind(lab, create(lab), { addr: 0xc6120001, port: 0 }, 40000)), 'ok', 'port 0 picks an unprivileged port');
  t.is(errno(inet_bind(lab, create(lab), { addr: 0xc6120009, port: 80 }, 0)), 'EADDRNOTAVAIL', 'the address is checked first');
  const low = mkLab({ capNetBindService: false, sysctl: new Map([['net.ipv4.ip_unprivileged_port_start', '80']]) });
  t.is(errno(inet_bind(low, create(low), { addr: 0xc6120001, port: 80 }, 0)), 'ok');
  t.is(errno(inet_bind(mkLab(), create(mkLab()), { addr: 0xc6120001, port: 80 }, 0)), 'ok', 'root');
});
