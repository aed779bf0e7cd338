/**
 * Tests for model/net/ipv4/ping.ts: `ping_common_sendmsg`, `ping_supported`,
 * `ping_v4_sendmsg` and the echo header of `ping_getfrag` /
 * `ping_v4_push_pending_frames` (kernel-notes §9). The ICMP checksum is
 * computed here with a separate one's-complement sum.
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr } from '../errors.js';
import { newSock, type Lab, type Sock } from '../sock.js';
import { MSG_MORE, MSG_OOB, type IdState } from './ip_output.js';
import { ping_v4_sendmsg } from './ping.js';
import type { SendOutcome } from './udp.js';
import { mkLab } from '../../testing/fixtures.js';

const PEER = 0xc6120002;
const IDENT = 40000; // 0x9c40

const ids = (): IdState => ({ nextGroup: 0, connectedGroup: null, msOfDay: 0 });
const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
function pingSock(lab: Lab): Sock {
  const sk = newSock('ping', 1, lab);
  sk.num = IDENT; // ping_get_port
  sk.sport = IDENT;
  return sk;
}
function send(lab: Lab, data: Uint8Array, o: { flags?: number; to?: { addr: number; port: number } | null } = {}, sk = pingSock(lab)): SendOutcome {
  return ping_v4_sendmsg(lab, sk, { to: o.to === undefined ? { addr: PEER, port: 0 } : o.to, payload: data, flags: o.flags ?? 0, control: new Uint8Array(0) }, ids());
}
const errno = (o: SendOutcome): string => (isErr(o.result) ? o.result.errno : 'ok');
function icmpCsum(b: Uint8Array): number {
  const z = b.slice();
  z[2] = 0;
  z[3] = 0;
  let s = 0;
  for (let i = 0; i < z.length; i += 2) s += (z[i]! << 8) | (z[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

test('ping_common_sendmsg: len < 8 → EINVAL (before MSG_OOB); MSG_OOB → EOPNOTSUPP', (t) => {
  const lab = mkLab();
  t.is(errno(send(lab, h('08000000 000001'))), 'EINVAL');
  t.is(errno(send(lab, h('08000000 000001'), { flags: MSG_OOB })), 'EINVAL');
  t.is(errno(send(lab, h('08000000 00000001'), { flags: MSG_OOB })), 'EOPNOTSUPP');
});

test('ping_supported: echo (8/0) always; ICMP_EXT_ECHO (42/0) from 6.1; anything else EINVAL', (t) => {
  const table = [
    { release: '5.10.223', type: 8, code: 0, want: 'ok' },
    { release: '5.10.223', type: 42, code: 0, want: 'EINVAL' },
    { release: '6.1.176', type: 42, code: 0, want: 'ok' },
    { release: '6.1.0-44-cloud-amd64', type: 42, code: 0, want: 'ok' },
    { release: '6.18.44', type: 42, code: 0, want: 'ok' },
    { release: '6.18.44', type: 42, code: 1, want: 'EINVAL' },
    { release: '6.18.44', type: 8, code: 1, want: 'EINVAL' },
    { release: '6.18.44', type: 0, code: 0, want: 'EINVAL' },
  ];
  for (const k of table) {
    const data = Uint8Array.from([k.type, k.code, 0, 0, 0, 0, 0, 1]);
    t.is(errno(send(mkLab(k.release), data)), k.want, `${k.release} type ${k.type} code ${k.code}`);
  }
});

test('ping_v4_sendmsg: echo id = the socket ident, the user id and checksum ignored, sequence and data kept', (t) => {
  const lab = mkLab();
  const out = send(lab, h('0800 ffff dead 0007 61626364'));
  t.is(out.result, 12);
  const p = out.packets[0]!.bytes;
  t.is(p[9], 1);
  const icmp = p.subarray(20);
  t.is(hex(icmp.subarray(0, 2)), '0800');
  t.is(hex(icmp.subarray(4)), '9c40' + '0007' + '61626364');
  t.is((icmp[2]! << 8) | icmp[3]!, icmpCsum(icmp));
});

test('ping_v4_push_pending_frames: the checksum is left as computed, 0 is not mapped to 0xFFFF', (t) => {
  // 0800 + 9c40 + 0001 = a441; two data bytes 5bbe make the sum ffff, so the checksum is 0000.
  const out = send(mkLab(), h('0800 0000 0000 0001 5bbe'));
  t.is(hex(out.packets[0]!.bytes.subarray(20)), '0800' + '0000' + '9c40' + '0001' + '5bbe');
});

test('ping_v4_sendmsg: no name and not connected → EDESTADDRREQ; MSG_MORE does not cork', (t) => {
  const lab = mkLab();
  t.is(errno(send(lab, h('08000000 00000001'), { to: null })), 'EDESTADDRREQ');
  const out = send(lab, h('08000000 00000001'), { flags: MSG_MORE });
  t.is(out.packets.length, 1);
});

test('ping_v4_sendmsg: a broadcast destination without SO_BROADCAST → EACCES', (t) => {
  t.is(errno(send(mkLab(), h('08000000 00000001'), { to: { addr: 0xc61200ff, port: 0 } })), 'EACCES');
});
