/**
 * Tests for model/predict.ts on whole Programs, built with `lower()` from
 * small case objects (case-format.md): the order of the calls, a failed
 * socket() ending the case, UDP_CORK, connected sends, and the run-time
 * inputs (source port, tx ifindex) the harness hands in.
 */
import test from 'ava';
import { DEFAULT_NET, type Case, type SendSpec, type SocketSpec } from './case.js';
import { lower } from './lower.js';
import { predict, STANDIN_SPORT } from './predict.js';
import { profileFor } from './profiles.js';
import type { ExpectedPacket } from './result.js';
import type { RunInputs } from './program.js';

const PEER = { addr: '198.18.0.2', port: 7000 };

function mkCase(o: { socket?: Partial<SocketSpec>; sends?: Array<Partial<SendSpec>>; net?: Partial<Case['net']> }): Case {
  return {
    format: 'skbdiff-case/1',
    id: 'unit',
    net: { ...DEFAULT_NET, ...o.net },
    socket: { type: 'dgram', protocol: 'udp', bind: null, connect: null, setsockopt: [], ...o.socket },
    sends: (o.sends ?? []).map((s) => ({ to: PEER, payload: { length: 10 }, iov: null, flags: [], cmsgs: [], ...s })),
  };
}
const run = (c: Case, release = '6.18.44', inputs?: Partial<RunInputs>, msOfDay = 0) =>
  predict(lower(c), profileFor(release), inputs, { msOfDay });
const bytes = (p: ExpectedPacket): Uint8Array => Uint8Array.from(Buffer.from(p.hex, 'hex'));
const be16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

test('predict: setsockopt, bind, sends in order; a failing call is recorded and the case goes on', (t) => {
  const r = run(
    mkCase({
      socket: {
        bind: { addr: '198.18.0.1', port: 40000 },
        setsockopt: [
          { level: 'SOL_IP', name: 'IP_TTL', value: { int: 9 } },
          { level: 'SOL_IP', name: 'IP_MTU_DISCOVER', value: { int: 7 } },
          { level: 'SOL_UDP', name: 10 /* UDPLITE_SEND_CSCOV */, value: { int: 8 } },
        ],
      },
      sends: [{}, { to: { addr: '198.18.0.2', port: 0 } }, { payload: { length: 3 } }],
    }),
  );
  t.is(r.socket, undefined);
  t.deepEqual(r.setsockopt, [{ ret: 0 }, { errno: 'EINVAL', from: 'do_ip_setsockopt' }, { errno: 'ENOPROTOOPT', from: 'udp_lib_setsockopt' }]);
  t.deepEqual(r.bind, { ret: 0 });
  t.is(r.connect, undefined);
  t.deepEqual(r.sends, [{ ret: 10 }, { errno: 'EINVAL', from: 'udp_sendmsg' }, { ret: 3 }]);
  t.is(r.packets.length, 2);
  const [a, b] = r.packets.map(bytes);
  t.is(a![8], 9, 'IP_TTL 9');
  t.is(be16(a!, 2), 38);
  t.is(be16(b!, 2), 31);
  t.is(be16(a!, 20), 40000, 'bound port');
  t.deepEqual(r.packets[0]!.rules, { 'ip.id': { rule: 'sequence', group: 0, plus: 0 }, 'ip.checksum': 'valid' });
  t.deepEqual(r.packets[1]!.rules['ip.id'], { rule: 'sequence', group: 1, plus: 0 }, 'unconnected WANT: a new opaque ID per datagram');
});

test('predict: a failed socket() ends the case (ping without ping_group_range → EACCES)', (t) => {
  const r = run(
    mkCase({
      socket: { protocol: 'icmp', bind: { addr: '198.18.0.1', port: 0 }, setsockopt: [{ level: 'SOL_IP', name: 'IP_TTL', value: { int: 9 } }] },
      sends: [{ payload: { hex: '0800000000000001' } }],
    }),
  );
  t.deepEqual(r.socket, { errno: 'EACCES', from: 'ping_init_sock' });
  t.deepEqual(r.setsockopt, []);
  t.is(r.bind, undefined);
  t.deepEqual(r.sends, []);
  t.deepEqual(r.packets, []);
});

test('predict: ping with ping_group_range "0 0" uses inputs.sport as the echo id', (t) => {
  const c = mkCase({ socket: { protocol: 'icmp' }, sends: [{ payload: { hex: '0800ffffffff0001' } }], net: { sysctl: { 'net.ipv4.ping_group_range': '0 0' } } });
  const r = run(c, '6.18.44', { sport: 0x1234 });
  t.deepEqual(r.sends, [{ ret: 8 }]);
  t.is(r.packets[0]!.hex.slice(40, 56), '0800' + 'e5ca' + '1234' + '0001');
  // ~(0800 + 1234 + 0001) = ~1a35 = e5ca
});

test('predict: UDP_CORK set by setsockopt keeps every send corked; set then cleared sends normally', (t) => {
  const cork = (vals: number[]) =>
    mkCase({
      socket: { setsockopt: vals.map((v) => ({ level: 'SOL_UDP', name: 'UDP_CORK', value: { int: v } })) },
      sends: [{ payload: { length: 10 } }, { payload: { length: 20 } }],
    });
  const corked = run(cork([1]));
  t.deepEqual(corked.setsockopt, [{ ret: 0 }]);
  t.deepEqual(corked.sends, [{ ret: 10 }, { ret: 20 }]);
  t.deepEqual(corked.packets, [], 'never pushed: setsockopt calls come before the sends');
  const cleared = run(cork([1, 0]));
  t.deepEqual(cleared.setsockopt, [{ ret: 0 }, { ret: 0 }]);
  t.is(cleared.packets.length, 2);
});

const opt = (name: string, v: number, level = name.startsWith('UDP') ? 'SOL_UDP' : 'SOL_IP') => ({ level, name, value: { int: v } });

test('predict (extension): a send\'s UDP_CORK = 0 pushes the corked datagram before that send\'s own; results continue the setsockopt count', (t) => {
  const r = run(
    mkCase({
      socket: { setsockopt: [opt('UDP_CORK', 1)] },
      sends: [{ payload: { length: 30 } }, { payload: { length: 20 } }, { setsockopt: [opt('UDP_CORK', 0), opt('IP_TTL', 7)], payload: { length: 10 } }],
    }),
  );
  t.deepEqual(r.setsockopt, [{ ret: 0 }, { ret: 0 }, { ret: 0 }]);
  t.deepEqual(r.sends, [{ ret: 30 }, { ret: 20 }, { ret: 10 }]);
  const [pushed, last] = r.packets.map(bytes);
  t.is(r.packets.length, 2);
  t.is(be16(pushed!, 2), 20 + 8 + 50, 'one datagram with both corked sends');
  t.is(pushed![8], 64, 'pushed before IP_TTL 7 was set');
  t.deepEqual([...pushed!.subarray(28, 28 + 50)], [...Array.from({ length: 30 }, (_, i) => i), ...Array.from({ length: 20 }, (_, i) => i)]);
  t.is(be16(last!, 2), 20 + 8 + 10);
  t.is(last![8], 7);
  // nothing pending: UDP_CORK = 0 pushes nothing; a zero-length MSG_PROBE send carries calls after the last real send
  const idle = run(mkCase({ sends: [{ payload: { length: 5 } }, { setsockopt: [opt('UDP_CORK', 0)], payload: { length: 0 }, flags: ['MSG_PROBE'] }] }));
  t.deepEqual(idle.setsockopt, [{ ret: 0 }]);
  t.deepEqual(idle.sends, [{ ret: 5 }, { ret: 0 }]);
  t.is(idle.packets.length, 1);
});

test('predict (extension): IP_TOS set mid-cork: 6.18 keeps the TOS of the first append (ipcm_init_sk), 6.12 reads it at push', (t) => {
  const c = mkCase({
    socket: { setsockopt: [opt('IP_TOS', 0x10)] },
    sends: [{ flags: ['MSG_MORE'], payload: { length: 8 } }, { setsockopt: [opt('IP_TOS', 0x28)], payload: { length: 8 } }],
  });
  const tos = (release: string) => run(c, release).packets.map((p) => bytes(p)[1]);
  t.deepEqual(tos('6.18.44'), [0x10]);
  t.deepEqual(tos('6.12.107'), [0x28]);
});

test('predict (extension): raw control bytes: under a header ignored, a zero cmsg_len EINVAL', (t) => {
  const send = (h: string) => run(mkCase({ sends: [{ control: { hex: h }, payload: { length: 10 } }] }));
  for (const n of [1, 8, 15]) {
    const r = send('ab'.repeat(n));
    t.deepEqual(r.sends, [{ ret: 10 }], `${n} bytes`);
    t.is(r.packets.length, 1);
  }
  const zero = send('00'.repeat(16));
  t.true('errno' in zero.sends[0]! && zero.sends[0].errno === 'EINVAL');
  t.is(zero.packets.length, 0);
});

test('predict: connected sends use the socket counter (6.1+: R+1, R+2; 5.10: R, R+1)', (t) => {
  const c = mkCase({ socket: { connect: PEER }, sends: [{ to: null }, { to: null }] });
  for (const [release, first] of [['6.18.44', 1], ['6.1.176', 1], ['5.10.223', 0]] as const) {
    const r = run(c, release);
    t.deepEqual(r.connect, { ret: 0 }, release);
    t.deepEqual(r.sends, [{ ret: 10 }, { ret: 10 }], release);
    t.deepEqual(
      r.packets.map((p) => p.rules['ip.id']),
      [first, first + 1].map((plus) => ({ rule: 'sequence', group: 0, plus })),
      release,
    );
    t.is(be16(bytes(r.packets[0]!), 22), 7000, `${release}: dport from connect`);
  }
});

test('predict: inputs.sport is the UDP source port of an unbound socket (stand-in 40000 without it)', (t) => {
  const c = mkCase({ sends: [{}] });
  const withInput = run(c, '6.18.44', { sport: 51234 });
  t.is(be16(bytes(withInput.packets[0]!), 20), 51234);
  t.is(withInput.inputs?.sport, 51234);
  const alone = run(c);
  t.is(be16(bytes(alone.packets[0]!), 20), STANDIN_SPORT);
  t.is(alone.inputs?.sport, STANDIN_SPORT);
  // The UDP checksum follows the port: a sport 1 higher lowers the checksum by 1 (one's complement).
  const a = be16(bytes(run(c, '6.18.44', { sport: 50000 }).packets[0]!), 26);
  const b = be16(bytes(run(c, '6.18.44', { sport: 50001 }).packets[0]!), 26);
  t.is((a - b + 0xffff) % 0xffff, 1);
});

test('predict: a pktinfo ifindex "tx" is patched with inputs.txIfindex before the send', (t) => {
  const c = mkCase({ sends: [{ cmsgs: [{ level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '0.0.0.0', addr: '0.0.0.0' } } }] }] });
  t.deepEqual(run(c, '6.18.44', { txIfindex: 7 }).sends, [{ ret: 10 }]);
  t.deepEqual(run(c).sends, [{ ret: 10 }]);
  const other = mkCase({ sends: [{ cmsgs: [{ level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 9, spec_dst: '0.0.0.0', addr: '0.0.0.0' } } }] }] });
  t.deepEqual(run(other, '6.18.44', { txIfindex: 7 }).sends, [{ errno: 'ENODEV', from: 'ip_route_output_key_hash_rcu' }]);
});

test('predict: IP_MTU_DISCOVER DO gives the zero ID rule; a TS option carries its time field offsets', (t) => {
  const r = run(
    mkCase({
      socket: {
        setsockopt: [
          { level: 'SOL_IP', name: 'IP_MTU_DISCOVER', value: { int: 2 } },
          { level: 'SOL_IP', name: 'IP_OPTIONS', value: { hex: '4408050000000000' } },
        ],
      },
      sends: [{}],
    }),
    '6.18.44',
    undefined,
    0x01020304,
  );
  const p = r.packets[0]!;
  t.deepEqual(p.rules, { 'ip.id': { rule: 'zero' }, 'ip.checksum': 'valid', 'ip.options.ts.time': [24] });
  t.is(p.hex.slice(40, 56), '44080900' + '01020304');
  t.is(p.hex.slice(12, 14), '40', 'DF');
});

test('predict: a 3008-byte UDP datagram at MTU 1500 is three fragments sharing one ID rule', (t) => {
  const r = run(mkCase({ sends: [{ payload: { length: 3000 } }] }));
  t.deepEqual(r.packets.map((p) => be16(bytes(p), 2)), [1500, 1500, 68]);
  t.deepEqual(r.packets.map((p) => be16(bytes(p), 6)), [0x2000, 0x2000 | 185, 370]);
  t.true(r.packets.every((p) => JSON.stringify(p.rules['ip.id']) === JSON.stringify(r.packets[0]!.rules['ip.id'])));
});

test('predict: a raw header with ihl < 5 sent untouched (5.10) keeps its own checksum, and the rule says exact', (t) => {
  // version 4, ihl 4, tot_len 0, id 0x1234, checksum 0x0000: raw_send_hdrinc rewrites nothing.
  const user = '4400000012340000401100000000000 0c6120002 0102030405060708'.replace(/\s+/g, '');
  const c = mkCase({
    socket: { type: 'raw', protocol: 253, setsockopt: [{ level: 'SOL_IP', name: 'IP_HDRINCL', value: { int: 1 } }] },
    sends: [{ to: { addr: '198.18.0.2', port: 0 }, payload: { hex: user } }],
  });
  const r = run(c, '5.10.223');
  t.deepEqual(r.sends, [{ ret: 28 }]);
  t.is(r.packets[0]!.hex, user, 'not a byte changed, the checksum included');
  t.is(r.packets[0]!.rules['ip.checksum'], 'exact');
  t.deepEqual(r.packets[0]!.rules['ip.id'], { rule: 'exact' });
  t.deepEqual(run(c, '6.18.44').sends, [{ errno: 'EINVAL', from: 'raw_send_hdrinc' }]);
});

test('predict: UDP GSO with offloads on goes to the device whole only if it takes GSO_UDP_L4 (inputs.txGsoUdpL4; default per profile)', (t) => {
  const c = mkCase({
    net: { offload: { tx_checksum: true, gso: true } },
    socket: { bind: { addr: '198.18.0.1', port: 40000 }, setsockopt: [{ level: 'SOL_UDP', name: 'UDP_SEGMENT', value: { int: 1000 } }] },
    sends: [{ payload: { length: 3000 } }],
  });
  // veth on 6.1+: one 3028-byte super-packet.
  t.deepEqual(run(c, '6.1.176').packets.map((p) => bytes(p).length), [3028]);
  // A device without GSO_UDP_L4 (a guest NIC with no HOST_USO): validate_xmit_skb segments it,
  // each segment keeping the partial sum the device completes: fold(pseudo header with 1008).
  const seg = run(c, '6.1.176', { txGsoUdpL4: false }).packets.map(bytes);
  t.deepEqual(seg.map((b) => b.length), [1028, 1028, 1028]);
  const partial = (0xc612 + 0x0001 + 0xc612 + 0x0002 + 17 + 1008) % 0xffff;
  for (const b of seg) t.is(be16(b, 26), partial);
  t.is(run(c, '6.1.176', { txGsoUdpL4: false }).inputs?.tx_gso_udp_l4, false);
});

test('predict: socket.caps decides lab.capNetRaw / capNetAdmin (raw socket, SO_MARK cmsg per version, LSRR)', (t) => {
  const raw = (caps?: SocketSpec['caps']) => run(mkCase({ socket: { type: 'raw', protocol: 253, ...(caps ? { caps } : {}) }, sends: [{}] }));
  t.deepEqual(raw().socket, undefined, 'no caps field: root, as before');
  t.deepEqual(raw([]).socket, { errno: 'EPERM', from: 'inet_create' });
  t.deepEqual(raw(['CAP_NET_ADMIN']).socket, { errno: 'EPERM', from: 'inet_create' });
  t.is(raw(['CAP_NET_RAW']).socket, undefined);
  const mark = [{ cmsgs: [{ level: 'SOL_SOCKET', type: 'SO_MARK', value: { int: 5 } }] }];
  const sendMark = (caps: SocketSpec['caps'], release: string) => run(mkCase({ socket: { caps }, sends: mark }), release).sends[0];
  t.deepEqual(sendMark(['CAP_NET_RAW'], '5.10.223'), { errno: 'EPERM', from: '__sock_cmsg_send' }, '5.10: CAP_NET_ADMIN only');
  t.deepEqual(sendMark(['CAP_NET_RAW'], '6.1.176'), { ret: 10 }, '6.1+: CAP_NET_RAW is enough');
  t.deepEqual(sendMark(['CAP_NET_ADMIN'], '5.10.223'), { ret: 10 });
  t.deepEqual(sendMark([], '6.18.44'), { errno: 'EPERM', from: '__sock_cmsg_send' });
  const lsrr = [{ to: { addr: '198.18.0.77', port: 7000 }, cmsgs: [{ level: 'SOL_IP', type: 'IP_RETOPTS', value: { hex: '830704c6120002' } }] }];
  t.deepEqual(run(mkCase({ socket: { caps: ['CAP_NET_ADMIN'] }, sends: lsrr }), '6.18.44').sends[0], { errno: 'EPERM', from: 'ip_options_get' });
  t.deepEqual(run(mkCase({ socket: { caps: ['CAP_NET_ADMIN'] }, sends: lsrr }), '5.10.223').sends[0], { ret: 10 });
});

test('predict: a bind below ip_unprivileged_port_start without CAP_NET_BIND_SERVICE is EACCES (__inet_bind)', (t) => {
  const bind = (port: number, caps?: SocketSpec['caps'], sysctl: Record<string, string> = {}) => () =>
    run(mkCase({ socket: { bind: { addr: '198.18.0.1', port }, ...(caps ? { caps } : {}) }, sends: [{}], net: { sysctl } }));
  t.deepEqual(bind(80, ['CAP_NET_RAW'])().bind, { errno: 'EACCES', from: '__inet_bind' });
  t.deepEqual(bind(80)().bind, { ret: 0 }, 'root');
  t.deepEqual(bind(80, ['CAP_NET_BIND_SERVICE'])().bind, { ret: 0 });
  t.deepEqual(bind(1024, [])().bind, { ret: 0 });
  t.deepEqual(bind(0, [])().bind, { ret: 0 }, 'port 0: the kernel picks one');
  t.deepEqual(bind(80, [], { 'net.ipv4.ip_unprivileged_port_start': '80' })().bind, { ret: 0 });
});
