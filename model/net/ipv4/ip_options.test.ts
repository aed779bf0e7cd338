/**
 * Tests for model/net/ipv4/ip_options.ts: `ip_options_get` →
 * `__ip_options_compile` (skb == NULL), `ip_options_build`,
 * `ip_options_fragment` (net/ipv4/ip_options.c; kernel-notes §6). Every
 * option byte is written out by hand; offsets in `IpOptions` count from the
 * start of the IP header (option byte 0 is header byte 20).
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr, type KErr } from '../errors.js';
import type { Lab } from '../sock.js';
import { ip_options_build, ip_options_fragment, ip_options_get, type IpOptions } from './ip_options.js';
import { mkLab } from '../../testing/fixtures.js';

/** Hex with spaces for reading. */
const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const noCap = (release = '6.18.44'): Lab => mkLab(release, { capNetRaw: false, capNetAdmin: false });

function get(s: string, lab = noCap()): IpOptions | KErr {
  return ip_options_get(lab, h(s));
}
function ok(t: { fail(m: string): void }, r: IpOptions | KErr): IpOptions {
  if (isErr(r)) {
    t.fail(`expected options, got ${r.errno} from ${r.from}`);
    throw new Error('unreachable');
  }
  return r;
}
const errno = (r: IpOptions | KErr): string => (isErr(r) ? r.errno : 'ok');

const A1 = 'c6120007'; // 198.18.0.7
const A2 = 'c6120008'; // 198.18.0.8
const D = 0xc6120002; // 198.18.0.2, the final destination
const S = 0xc6120001; // 198.18.0.1, the source

// ---------------------------------------------------------------------------
// ip_options_get: padding, EOL, NOOP

test('ip_options_get: the length is rounded up to a multiple of 4 with IPOPT_END', (t) => {
  const table = [
    { description: '1 NOOP', opts: '01', want: '01000000' },
    { description: '4 NOOPs', opts: '01010101', want: '01010101' },
    { description: '5 NOOPs', opts: '0101010101', want: '0101010101000000' },
    { description: 'empty', opts: '', want: '' },
  ];
  for (const k of table) t.is(hex(ok(t, get(k.opts)).data), k.want, k.description);
});

test('__ip_options_compile IPOPT_END: every later byte is forced to 0 ([live] 01 00 07 07 → 01 00 00 00)', (t) => {
  t.is(hex(ok(t, get('01000707')).data), '01000000');
  // Even an invalid option after EOL is never looked at.
  t.is(hex(ok(t, get('00ff0301 83030000')).data), '00000000 00000000'.replace(/ /g, ''));
});

test('__ip_options_compile: a length byte < 2, > the rest, or missing → EINVAL', (t) => {
  t.is(errno(get('07010000')), 'EINVAL', 'RR len 1');
  t.is(errno(get('07090400 00000000')), 'EINVAL', 'RR len 9 of 8 bytes left');
  t.is(errno(get('01010107')), 'EINVAL', 'an option type as the last byte');
});

// ---------------------------------------------------------------------------
// RR (7)

test('__ip_options_compile RR: ptr 4 → ptr 8, one slot to fill (rr, rr_needaddr)', (t) => {
  const o = ok(t, get('07 07 04 00000000'));
  t.is(hex(o.data), '07070800000000' + '00');
  t.is(o.rr, 20);
  t.true(o.rrNeedaddr);
  // Behind two NOOPs the option starts at header byte 22.
  t.is(ok(t, get('0101 07 07 04 00000000')).rr, 22);
});

test('__ip_options_compile RR: a full RR (ptr > len) is accepted unchanged and not filled', (t) => {
  const o = ok(t, get(`07 07 08 ${A1}`));
  t.is(hex(o.data), `070708${A1}00`);
  t.is(o.rr, 20);
  t.false(o.rrNeedaddr);
});

test('__ip_options_compile RR: errors', (t) => {
  const table = [
    { description: 'ptr 3 (< 4)', opts: '07 07 03 00000000' },
    { description: 'len 2 (< 3)', opts: '0702 0101' },
    { description: 'ptr 5: ptr+3 > len', opts: '07 07 05 00000000' },
    { description: 'ptr 6: ptr+3 > len', opts: '07 07 06 00000000' },
    { description: 'a second RR', opts: '07 07 04 00000000 07 03 04 00' },
  ];
  for (const k of table) t.is(errno(get(k.opts)), 'EINVAL', k.description);
});

// ---------------------------------------------------------------------------
// TS (68)

test('__ip_options_compile TS TSONLY: ptr += 4, a time to write', (t) => {
  const o = ok(t, get('44 08 05 00 00000000'));
  t.is(hex(o.data), '4408090000000000');
  t.is(o.ts, 20);
  t.true(o.tsNeedtime);
  t.false(o.tsNeedaddr);
});

test('__ip_options_compile TS TSANDADDR: ptr += 8, address and time; room for one pair needed', (t) => {
  const o = ok(t, get('44 0c 05 01 00000000 00000000'));
  t.is(hex(o.data), '440c0d01' + '0000000000000000');
  t.true(o.tsNeedaddr);
  t.true(o.tsNeedtime);
  t.is(errno(get('44 08 05 01 00000000')), 'EINVAL', 'ptr+7 > len');
});

test('__ip_options_compile TS PRESPEC: a local address is stamped (ptr += 8), a remote one left alone', (t) => {
  const local = ok(t, get('44 0c 05 03 c6120001 00000000'));
  t.is(hex(local.data), '440c0d03c612000100000000');
  t.true(local.tsNeedtime);
  t.false(local.tsNeedaddr);
  const remote = ok(t, get('44 0c 05 03 c6120002 00000000'));
  t.is(hex(remote.data), '440c0503c612000200000000', 'inet_addr_type = RTN_UNICAST: ptr unchanged');
  t.false(remote.tsNeedtime);
  t.is(remote.ts, 20);
  // Loopback (RTN_LOCAL) and broadcast are "not unicast" either.
  t.true(ok(t, get('44 0c 05 03 7f000001 00000000')).tsNeedtime);
  t.true(ok(t, get('44 0c 05 03 c61200ff 00000000')).tsNeedtime);
  t.is(errno(get('44 08 05 03 c6120001')), 'EINVAL', 'ptr+7 > len');
});

test('__ip_options_compile TS: an unknown flag → EINVAL without CAP_NET_RAW; with it accepted, never filled', (t) => {
  t.is(errno(get('44 08 05 02 00000000', noCap())), 'EINVAL');
  const o = ok(t, get('44 08 05 02 00000000', mkLab()));
  t.is(hex(o.data), '4408050200000000');
  t.false(o.tsNeedtime);
  t.false(o.tsNeedaddr);
});

test('__ip_options_compile TS full (ptr > len): overflow 15 → EINVAL, else unchanged', (t) => {
  t.is(errno(get('44 08 09 f0 00000000')), 'EINVAL');
  const o = ok(t, get('44 08 09 e0 00000000'));
  t.is(hex(o.data), '440809e000000000', 'overflow not incremented for user options');
  t.false(o.tsNeedtime);
});

test('__ip_options_compile TS: errors', (t) => {
  const table = [
    { description: 'len 3 (< 4)', opts: '44 03 05 00' },
    { description: 'ptr 4 (< 5)', opts: '44 08 04 00 00000000' },
    { description: 'ptr 6: ptr+3 > len', opts: '44 08 06 00 00000000' },
    { description: 'a second TS', opts: '44 08 05 00 00000000 44 08 05 00 00000000' },
  ];
  for (const k of table) t.is(errno(get(k.opts)), 'EINVAL', k.description);
});

// ---------------------------------------------------------------------------
// LSRR (131) / SSRR (137)

test('__ip_options_compile LSRR: first address → faddr, the rest shift left 4 bytes', (t) => {
  const o = ok(t, get(`83 0b 04 ${A1} ${A2}`, mkLab()));
  t.is(o.faddr, 0xc6120007);
  // memmove(&optptr[3], &optptr[7], optlen-7): A2 moves to 3..6, bytes 7..10 keep A2; one EOL pads.
  t.is(hex(o.data), `830b04${A2}${A2}00`);
  t.is(o.srr, 20);
  t.false(o.isStrictroute);
});

test('__ip_options_compile SSRR: strict route; one address means no shift', (t) => {
  const o = ok(t, get(`89 07 04 ${A1}`, mkLab()));
  t.is(o.faddr, 0xc6120007);
  t.is(hex(o.data), `890704${A1}00`);
  t.true(o.isStrictroute);
});

test('__ip_options_compile LSRR/SSRR: errors', (t) => {
  const lab = mkLab();
  const table = [
    { description: 'ptr 8 (!= 4)', opts: `83 0b 08 ${A1} ${A2}` },
    { description: 'ptr 3', opts: `83 07 03 ${A1}` },
    { description: 'len 3 (< 7)', opts: '83 03 04 00' },
    { description: 'len 8: (len-3) % 4', opts: `83 08 04 ${A1} 00 000000` },
    { description: 'a second source route', opts: `83 07 04 ${A1} 89 07 04 ${A2} 0000` },
  ];
  for (const k of table) t.is(errno(get(k.opts, lab)), 'EINVAL', k.description);
});

test('ip_options_get: LSRR/SSRR without CAP_NET_RAW → EPERM where restricted (6.1.176, 6.12.107, 6.18.44)', (t) => {
  const table = [
    { release: '5.10.223', want: 'ok' },
    { release: '6.1.150', want: 'ok' },
    { release: '6.1.176', want: 'EPERM' },
    { release: '6.12.107', want: 'EPERM' },
    { release: '6.18.15', want: 'ok' },
    { release: '6.18.44', want: 'EPERM' },
  ];
  for (const k of table) {
    t.is(errno(get(`83 07 04 ${A1}`, noCap(k.release))), k.want, `${k.release} LSRR`);
    t.is(errno(get(`89 07 04 ${A1}`, noCap(k.release))), k.want, `${k.release} SSRR`);
    t.is(errno(get(`83 07 04 ${A1}`, mkLab(k.release))), 'ok', `${k.release} with CAP_NET_RAW`);
  }
  // A malformed SRR is EINVAL before the capability matters.
  t.is(errno(get('83 03 04 00', noCap('6.18.44'))), 'EINVAL');
});

// ---------------------------------------------------------------------------
// RA, SEC, SID, unknown

test('__ip_options_compile RA: len >= 4, no capability needed; value 0 sets router_alert', (t) => {
  const o = ok(t, get('94 04 00 00'));
  t.is(o.routerAlert, 20);
  t.is(hex(o.data), '94040000');
  t.is(errno(get('94 03 00 00')), 'EINVAL', 'len 3');
});

test('__ip_options_compile SEC (130), SID (136), unknown types: EINVAL without CAP_NET_RAW, accepted with it', (t) => {
  for (const opts of ['82 04 0000', '88 04 0000', '19 04 0000']) {
    t.is(errno(get(opts, noCap())), 'EINVAL', opts);
    t.is(hex(ok(t, get(opts, mkLab())).data), opts.replace(/ /g, ''), opts);
  }
});

// ---------------------------------------------------------------------------
// ip_options_build

/** A 20-byte header (only saddr/daddr matter here) followed by room for the options. */
function header(opt: IpOptions): Uint8Array {
  return new Uint8Array(20 + opt.data.length);
}

test('ip_options_build RR: the source address goes into the slot the user pointer named (ptr_user - 1)', (t) => {
  const o = ok(t, get('07 0b 04 00000000 00000000'));
  const hdr = header(o);
  t.deepEqual(ip_options_build(hdr, o, D, S, 1234), []);
  t.is(hex(hdr.subarray(20)), '070b08' + 'c6120001' + '00000000' + '00');
  // A second packet built from the same options fills the same (first) slot again.
  const hdr2 = header(o);
  ip_options_build(hdr2, o, D, S, 1234);
  t.is(hex(hdr2.subarray(20)), hex(hdr.subarray(20)));
});

test('ip_options_build TS: TSONLY time at ptr-5; TSANDADDR address at ptr-9 and time at ptr-5 (big-endian ms of day)', (t) => {
  const ms = 0x01020304;
  const only = ok(t, get('44 08 05 00 00000000'));
  const h1 = header(only);
  t.deepEqual(ip_options_build(h1, only, D, S, ms), [24]);
  t.is(hex(h1.subarray(20)), '44080900' + '01020304');
  const pair = ok(t, get('44 0c 05 01 00000000 00000000'));
  const h2 = header(pair);
  t.deepEqual(ip_options_build(h2, pair, D, S, ms), [28]);
  t.is(hex(h2.subarray(20)), '440c0d01' + 'c6120001' + '01020304');
  const pre = ok(t, get('44 0c 05 03 c6120001 00000000'));
  const h3 = header(pre);
  t.deepEqual(ip_options_build(h3, pre, D, S, ms), [28]);
  t.is(hex(h3.subarray(20)), '440c0d03' + 'c6120001' + '01020304');
  const remote = ok(t, get('44 0c 05 03 c6120002 00000000'));
  const h4 = header(remote);
  t.deepEqual(ip_options_build(h4, remote, D, S, ms), [], 'a remote PRESPEC entry is not stamped');
  t.is(hex(h4.subarray(20)), '440c0503c612000200000000');
});

test('ip_options_build SRR: the last address of the option is the final destination (cork->addr)', (t) => {
  // [live] {131,11,4,A1,A2} sent to D: option 83 0b 04 A2 D 00
  const o = ok(t, get(`83 0b 04 ${A1} ${A2}`, mkLab()));
  const hdr = header(o);
  ip_options_build(hdr, o, D, S, 0);
  t.is(hex(hdr.subarray(20)), `830b04${A2}c612000200`);
});

test('ip_options_build: options behind NOOPs are filled at their own offset', (t) => {
  const o = ok(t, get('01 01 01 07 07 04 00000000 00'));
  t.is(o.rr, 23);
  const hdr = header(o);
  ip_options_build(hdr, o, D, S, 0);
  t.is(hex(hdr.subarray(20)), '010101' + '070708' + 'c6120001' + '0000');
});

// ---------------------------------------------------------------------------
// ip_options_fragment

function frag(opts: string): string {
  const b = h(opts);
  const hdr = new Uint8Array(20 + b.length);
  hdr.set(b, 20);
  ip_options_fragment(hdr, b.length);
  return hex(hdr.subarray(20));
}

test('ip_options_fragment: options without the copied bit (RR, TS) become NOOPs; padding stays 0', (t) => {
  // [live] RR plus padding became 01×11 00 in fragments 2 and later.
  t.is(frag(`07 0b 08 c6120001 00000000 00`), '01'.repeat(11) + '00');
  t.is(frag(`44 0c 0d 01 c6120001 01020304`), '01'.repeat(12));
});

test('ip_options_fragment: LSRR, SSRR, RA, SEC keep their bytes (copied bit 0x80)', (t) => {
  for (const opts of [`830b04${A2}c612000200`, `890704${A1}00`, '94040000', '82040000']) {
    t.is(frag(opts), opts, opts);
  }
  // A mix: LSRR kept, the RR after it NOOPed.
  t.is(frag(`830704${A1} 07 07 08 ${A2} 0000`), `830704${A1}` + '01'.repeat(7) + '0000');
});

test('ip_options_fragment: the walk stops at EOL and at a bad length', (t) => {
  t.is(frag('00 07 07 08 00000000'), '0007070800000000', 'EOL first: the RR after it is left alone');
  t.is(frag('07 0c 08 00 00000000'), '070c080000000000', 'len 12 > 8 bytes left: stop');
  t.is(frag('01 07 03 08 00000000 00 000000'.replace(/ /g, '')), '01' + '010101' + '0000000000000000', 'NOOP skipped, RR len 3 NOOPed');
});

test('__ip_options_compile: a full TS PRESPEC does not count an overflow, so overflow 15 is accepted there (else if flag != PRESPEC)', (t) => {
  // TS len 12, ptr 13 (full), flags 0xf3: overflow 15, PRESPEC.
  t.is(errno(get('440c0df3 c6120001 00000000')), 'ok');
  // The same with TSONLY (0xf0): overflow 15 → EINVAL.
  t.is(errno(get('440c0df0 00000000 00000000')), 'EINVAL');
});
