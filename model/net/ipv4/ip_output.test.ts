/**
 * Tests for model/net/ipv4/ip_output.ts: `ip_setup_cork` (fragsize),
 * `__ip_append_data` (EMSGSIZE limits, CHECKSUM_PARTIAL), `__ip_make_skb`
 * (DF, TTL, TOS), `ip_select_ident_segs`, and `ip_finish_output` /
 * `ip_do_fragment` geometry (kernel-notes §4, §5, §7). Expected sizes are
 * worked out from the kernel rules in the tables; the header checksum is
 * verified with a one's-complement sum written here.
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr, type KErr } from '../errors.js';
import { newSock, type Lab, type Sock } from '../sock.js';
import { ip_options_get, type IpOptions } from './ip_options.js';
import {
  __ip_append_data,
  __ip_make_skb,
  ip_finish_output,
  ip_select_ident,
  ip_setup_cork,
  ipcm_init_sk,
  MSG_MORE,
  type Cork,
  type Flow,
  type IdState,
  type Ipcm,
  type WirePacket,
} from './ip_output.js';
import { ip_route_output_flow, type Rtable } from './route.js';
import { mkLab as lab, ids as freshIds } from '../../testing/fixtures.js';

const mkLab = (o: Partial<Lab> = {}, release = '6.18.44'): Lab => lab(release, o);

const DONT = 0;
const WANT = 1;
const DO = 2;
const PROBE = 3;
const INTERFACE = 4;
const OMIT = 5;
const MODE_NAMES = ['DONT', 'WANT', 'DO', 'PROBE', 'INTERFACE', 'OMIT'];
const SRC = 0xc6120001;
const PEER = 0xc6120002;

const ids = freshIds;
const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function opts(lab: Lab, s: string): IpOptions {
  const o = ip_options_get(lab, h(s));
  if (isErr(o)) throw new Error(`bad test options ${s}: ${o.errno}`);
  return o;
}
/** 12 option bytes: RR with two slots (07 0b 04 ...) and one EOL. */
const RR12 = '07 0b 04 00000000 00000000';
/** 40 option bytes: RR with nine slots (len 39) and one EOL. */
const RR40 = '07 27 04' + ' 00000000'.repeat(9);

interface Setup {
  lab: Lab;
  sk: Sock;
  rt: Rtable;
  ipc: Ipcm;
  fl4: Flow;
}
function setup(o: { lab?: Lab; mode?: number; opt?: string; daddr?: number; oif?: number; ipc?: Partial<Ipcm> } = {}): Setup {
  const lab = o.lab ?? mkLab();
  const sk = newSock('udp', 17, lab);
  sk.pmtudisc = o.mode ?? WANT;
  const fl = { oif: o.oif ?? 0, saddr: 0, daddr: o.daddr ?? PEER, anysrc: false };
  const rt = ip_route_output_flow(lab, fl);
  if (isErr(rt)) throw new Error(`route: ${rt.errno}`);
  const ipc = { ...ipcm_init_sk(lab, sk), ...(o.opt !== undefined ? { opt: opts(lab, o.opt) } : {}), ...o.ipc };
  ipc.addr = fl.daddr;
  return { lab, sk, rt, ipc, fl4: { saddr: fl.saddr, daddr: fl.daddr, sport: 40000, dport: 7000 } };
}
function cork(s: Setup): Cork {
  const c = ip_setup_cork(s.sk, s.ipc, s.rt, s.fl4);
  if (isErr(c)) throw new Error(`ip_setup_cork: ${c.errno}`);
  return c;
}
const errno = (r: unknown): string => (isErr(r) ? r.errno : 'ok');
const body = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

/** RFC 1071 sum, written for the tests: a header with a correct checksum sums to 0xffff. */
function onesSum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const be16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const be32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/** Queue `n` bytes (no transport header) and run __ip_make_skb + ip_finish_output. */
function sendRaw(s: Setup, n: number, st = ids()): { packets: WirePacket[] | KErr; data: Uint8Array } {
  const c = cork(s);
  const data = body(n);
  const err = __ip_append_data(s.lab, s.sk, c, data, 0, 0);
  if (err !== true) return { packets: err, data };
  const skb = __ip_make_skb(s.lab, s.sk, c, s.fl4, st);
  return { packets: ip_finish_output(s.lab, s.sk, skb, st), data };
}

// ---------------------------------------------------------------------------
// ip_setup_cork

test('ip_setup_cork fragsize: dst_mtu for DONT/WANT/DO; the raw dev->mtu for PROBE/INTERFACE/OMIT', (t) => {
  const table = [
    { mode: DONT, want: 1400 },
    { mode: WANT, want: 1400 },
    { mode: DO, want: 1400 },
    { mode: PROBE, want: 1500 },
    { mode: INTERFACE, want: 1500 },
    { mode: OMIT, want: 1500 },
  ];
  for (const k of table) {
    const s = setup({ lab: mkLab({ devMtu: 1500, routeMtu: 1400 }), mode: k.mode });
    t.is(cork(s).fragsize, k.want, MODE_NAMES[k.mode]!);
  }
});

test('ip_setup_cork: fragsize < 68 (inetdev_valid_mtu) → ENETUNREACH, only where the route MTU is used', (t) => {
  const lab = mkLab({ devMtu: 1500, routeMtu: 67 });
  for (const mode of [DONT, WANT, DO]) {
    const s = setup({ lab, mode });
    t.is(errno(ip_setup_cork(s.sk, s.ipc, s.rt, s.fl4)), 'ENETUNREACH', MODE_NAMES[mode]!);
  }
  for (const mode of [PROBE, INTERFACE, OMIT]) {
    const s = setup({ lab, mode });
    t.is(errno(ip_setup_cork(s.sk, s.ipc, s.rt, s.fl4)), 'ok', MODE_NAMES[mode]!);
  }
  const s68 = setup({ lab: mkLab({ routeMtu: 68 }) });
  t.is(cork(s68).fragsize, 68);
});

test('ip_setup_cork: cork->addr = ipc->addr only with options', (t) => {
  const withOpt = setup({ opt: '01010101' });
  t.is(cork(withOpt).addr, PEER);
  t.is(cork(setup()).addr, 0);
});

// ---------------------------------------------------------------------------
// __ip_append_data: the EMSGSIZE limit

test('__ip_append_data EMSGSIZE: UDP payload ≤ 65507 − optlen (DONT/WANT/OMIT), ≤ mtu − 28 − optlen (DO/PROBE/INTERFACE)', (t) => {
  // cork->length + length > maxnonfragsize - fragheaderlen; length includes the 8-byte UDP header.
  const table = [
    { mode: DONT, opt: '', max: 65507 },
    { mode: WANT, opt: '', max: 65507 },
    { mode: OMIT, opt: '', max: 65507 },
    { mode: DO, opt: '', max: 1472 },
    { mode: PROBE, opt: '', max: 1472 },
    { mode: INTERFACE, opt: '', max: 1472 },
    { mode: WANT, opt: RR12, max: 65495 },
    { mode: DO, opt: RR12, max: 1460 },
    { mode: INTERFACE, opt: RR40, max: 1432 },
    { mode: OMIT, opt: RR40, max: 65467 },
  ];
  for (const k of table) {
    const name = `${MODE_NAMES[k.mode]} optlen ${(h(k.opt).length + 3) & ~3}`;
    const s = setup({ mode: k.mode, ...(k.opt ? { opt: k.opt } : {}) });
    t.is(errno(__ip_append_data(s.lab, s.sk, cork(s), new Uint8Array(8 + k.max), 8, 0)), 'ok', `${name}: ${k.max}`);
    const e = __ip_append_data(s.lab, s.sk, cork(s), new Uint8Array(8 + k.max + 1), 8, 0);
    t.is(errno(e), 'EMSGSIZE', `${name}: ${k.max + 1}`);
    if (isErr(e)) t.is(e.from, '__ip_append_data');
  }
});

test('__ip_append_data EMSGSIZE: DO uses the route MTU, PROBE/INTERFACE the device MTU', (t) => {
  const lab = mkLab({ devMtu: 1500, routeMtu: 1400 });
  const table = [
    { mode: DO, max: 1372 },
    { mode: PROBE, max: 1472 },
    { mode: INTERFACE, max: 1472 },
  ];
  for (const k of table) {
    const s = setup({ lab, mode: k.mode });
    t.is(errno(__ip_append_data(lab, s.sk, cork(s), new Uint8Array(8 + k.max), 8, 0)), 'ok', MODE_NAMES[k.mode]!);
    t.is(errno(__ip_append_data(lab, s.sk, cork(s), new Uint8Array(9 + k.max), 8, 0)), 'EMSGSIZE', MODE_NAMES[k.mode]!);
  }
});

test('__ip_append_data EMSGSIZE: with gso_size the mtu is IP_MAX_MTU even for DO (65507)', (t) => {
  const s = setup({ mode: DO, ipc: { gsoSize: 1400 } });
  t.is(errno(__ip_append_data(s.lab, s.sk, cork(s), new Uint8Array(8 + 65507), 8, 0)), 'ok');
  t.is(errno(__ip_append_data(s.lab, s.sk, cork(s), new Uint8Array(8 + 65508), 8, 0)), 'EMSGSIZE');
});

test('__ip_append_data EMSGSIZE: corked appends count cork->length', (t) => {
  const s = setup({ mode: DO });
  const c = cork(s);
  t.is(errno(__ip_append_data(s.lab, s.sk, c, new Uint8Array(8 + 1000), 8, MSG_MORE)), 'ok');
  t.is(c.length, 1008);
  t.is(errno(__ip_append_data(s.lab, s.sk, c, new Uint8Array(472), 0, MSG_MORE)), 'ok', '1008 + 472 = 1480');
  t.is(errno(__ip_append_data(s.lab, s.sk, c, new Uint8Array(1), 0, 0)), 'EMSGSIZE');
});

test('__ip_append_data CHECKSUM_PARTIAL: first skb, fits the mtu, device csum, no MSG_MORE unless gso_size', (t) => {
  const offload = mkLab({ txChecksum: true });
  const table: Array<{ description: string; lab: Lab; n: number; flags: number; gso?: number; thl?: number; want: boolean }> = [
    { description: 'fits, offload', lab: offload, n: 1480, flags: 0, want: true },
    { description: 'one byte over the mtu', lab: offload, n: 1481, flags: 0, want: false },
    { description: 'no device csum', lab: mkLab(), n: 100, flags: 0, want: false },
    { description: 'MSG_MORE', lab: offload, n: 100, flags: MSG_MORE, want: false },
    { description: 'MSG_MORE with gso_size', lab: offload, n: 100, flags: MSG_MORE, gso: 1000, want: true },
    { description: 'gso: mtu 65535', lab: offload, n: 3000, flags: 0, gso: 1000, want: true },
    { description: 'no transport header (raw)', lab: offload, n: 100, flags: 0, thl: 0, want: false },
  ];
  for (const k of table) {
    const s = setup({ lab: k.lab, ipc: { gsoSize: k.gso ?? 0 } });
    const c = cork(s);
    t.is(errno(__ip_append_data(k.lab, s.sk, c, new Uint8Array(k.n), k.thl ?? 8, k.flags)), 'ok', k.description);
    t.is(c.csumPartial, k.want, k.description);
  }
});

// ---------------------------------------------------------------------------
// __ip_make_skb: DF, TTL, TOS

function makeHeader(s: Setup, n: number, st = ids()): Uint8Array {
  const c = cork(s);
  c.chunks.push(body(n));
  c.length += n;
  return __ip_make_skb(s.lab, s.sk, c, s.fl4, st).header;
}
const dfOf = (hdr: Uint8Array): number => (hdr[6]! & 0x40) >> 6;

test('__ip_make_skb DF per mode (kernel-notes §4.3 table), fitting and over dst_mtu, route MTU locked or not', (t) => {
  // DF = DO || PROBE || (skb->len <= dst_mtu && ip_dont_fragment), ip_dont_fragment = DO || (WANT && !locked)
  const table: Array<{ mode: number; locked: boolean; n: number; wantDf: number }> = [
    { mode: DONT, locked: false, n: 100, wantDf: 0 },
    { mode: DONT, locked: false, n: 3000, wantDf: 0 },
    { mode: WANT, locked: false, n: 100, wantDf: 1 },
    { mode: WANT, locked: false, n: 1480, wantDf: 1 },
    { mode: WANT, locked: false, n: 1481, wantDf: 0 },
    { mode: WANT, locked: true, n: 100, wantDf: 0 },
    { mode: DO, locked: false, n: 100, wantDf: 1 },
    { mode: DO, locked: true, n: 100, wantDf: 1 },
    { mode: PROBE, locked: false, n: 100, wantDf: 1 },
    { mode: PROBE, locked: true, n: 3000, wantDf: 1 },
    { mode: INTERFACE, locked: false, n: 100, wantDf: 0 },
    { mode: OMIT, locked: false, n: 100, wantDf: 0 },
    { mode: OMIT, locked: true, n: 100, wantDf: 0 },
  ];
  for (const k of table) {
    const lab = mkLab({ routeMtu: k.locked ? 1500 : null });
    const hdr = makeHeader(setup({ lab, mode: k.mode }), k.n);
    t.is(dfOf(hdr), k.wantDf, `${MODE_NAMES[k.mode]} locked=${k.locked} skb->len=${20 + k.n}`);
  }
});

test('__ip_make_skb header: version/ihl, protocol = sk_protocol, saddr/daddr from fl4, ihl counts options', (t) => {
  const hdr = makeHeader(setup(), 10);
  t.is(hdr.length, 20);
  t.is(hdr[0], 0x45);
  t.is(hdr[9], 17);
  t.is(be32(hdr, 12), SRC);
  t.is(be32(hdr, 16), PEER);
  const withOpt = makeHeader(setup({ opt: RR12 }), 10);
  t.is(withOpt.length, 32);
  t.is(withOpt[0], 0x48);
  t.is(Buffer.from(withOpt.subarray(20)).toString('hex'), '070b08c612000100000000' + '00', 'RR slot = saddr');
});

test('__ip_make_skb TTL: cmsg (cork->ttl) > IP_TTL (uc_ttl) > net.ipv4.ip_default_ttl; multicast route → mc_ttl', (t) => {
  const table: Array<{ description: string; cmsg: number; uc: number; sysctl?: string; want: number }> = [
    { description: 'nothing set: default 64', cmsg: 0, uc: -1, want: 64 },
    { description: 'sysctl 50', cmsg: 0, uc: -1, sysctl: '50', want: 50 },
    { description: 'uc_ttl 77 beats the sysctl', cmsg: 0, uc: 77, sysctl: '50', want: 77 },
    { description: 'cmsg 3 beats uc_ttl', cmsg: 3, uc: 77, sysctl: '50', want: 3 },
  ];
  for (const k of table) {
    const lab = mkLab({ sysctl: new Map(k.sysctl ? [['net.ipv4.ip_default_ttl', k.sysctl]] : []) });
    const s = setup({ lab, ipc: { ttl: k.cmsg } });
    s.sk.ucTtl = k.uc;
    t.is(makeHeader(s, 10)[8], k.want, k.description);
  }
  // [live] cmsg 3 beat mc_ttl 9 and uc_ttl 77; without the cmsg a multicast route takes mc_ttl.
  const mc = setup({ daddr: 0xe0000005, oif: 2 });
  mc.sk.ucTtl = 77;
  mc.sk.mcTtl = 9;
  t.is(mc.rt.type, 'multicast');
  t.is(makeHeader(mc, 10)[8], 9);
  const mcCmsg = setup({ daddr: 0xe0000005, oif: 2, ipc: { ttl: 3 } });
  mcCmsg.sk.mcTtl = 9;
  t.is(makeHeader(mcCmsg, 10)[8], 3);
});

test('__ip_make_skb TOS: cmsg tos if given (-1 = none), else inet->tos; the full byte (6.12: inet->tos read at make time)', (t) => {
  const lab = () => mkLab({}, '6.12.107');
  const s = setup({ lab: lab() });
  s.sk.tos = 0x10;
  t.is(makeHeader(s, 10)[1], 0x10);
  const c = setup({ lab: lab(), ipc: { tos: 0xff } });
  c.sk.tos = 0x10;
  t.is(makeHeader(c, 10)[1], 0xff);
  const zero = setup({ lab: lab(), ipc: { tos: 0 } });
  zero.sk.tos = 0x10;
  t.is(makeHeader(zero, 10)[1], 0, 'a cmsg tos of 0 still wins');
});

test('ipcm_init_sk 6.18: ipc.tos starts at inet->tos, so the cork keeps the TOS the socket had when the send began', (t) => {
  const s = setup({ lab: mkLab({}, '6.18.44') });
  s.sk.tos = 0x10; // changed after ipcm_init_sk: not seen
  t.is(makeHeader(s, 10)[1], 0);
});

// ---------------------------------------------------------------------------
// ip_select_ident_segs (include/net/ip.h)

test('ip_select_ident: connected socket, 5.10 returns the old counter then adds segs', (t) => {
  const lab = mkLab({}, '5.10.223');
  const sk = newSock('udp', 17, lab);
  sk.daddr = PEER;
  const st: IdState = { nextGroup: 5, connectedGroup: 4, msOfDay: 0 };
  t.deepEqual(ip_select_ident(lab, sk, false, true, st), { kind: 'sequence', group: 4, plus: 0 });
  t.deepEqual(ip_select_ident(lab, sk, true, false, st), { kind: 'sequence', group: 4, plus: 1 }, 'DF does not matter when connected');
  t.deepEqual(ip_select_ident(lab, sk, false, true, st, 3), { kind: 'sequence', group: 4, plus: 2 });
  t.deepEqual(ip_select_ident(lab, sk, false, true, st), { kind: 'sequence', group: 4, plus: 5 });
  t.is(st.nextGroup, 5, 'no new opaque group');
});

test('ip_select_ident: connected socket, 6.1.176+ atomic_add_return gives the new value; 6.1.150 still the old', (t) => {
  for (const [release, first] of [['6.1.176', 1], ['6.12.107', 1], ['6.18.44', 1], ['6.1.150', 0]] as const) {
    const lab = mkLab({}, release);
    const sk = newSock('udp', 17, lab);
    sk.daddr = PEER;
    const st: IdState = { nextGroup: 1, connectedGroup: 0, msOfDay: 0 };
    t.is((ip_select_ident(lab, sk, true, false, st) as { plus: number }).plus, first, release);
    t.is((ip_select_ident(lab, sk, true, false, st, 3) as { plus: number }).plus, first === 1 ? 4 : 1, release);
  }
});

test('ip_select_ident: unconnected, DF without ignore_df → 0; otherwise a new opaque group each datagram', (t) => {
  const lab = mkLab();
  const sk = newSock('udp', 17, lab);
  const st = ids();
  t.deepEqual(ip_select_ident(lab, sk, true, false, st), { kind: 'zero' }, 'DO/PROBE');
  t.deepEqual(ip_select_ident(lab, sk, true, true, st), { kind: 'sequence', group: 0, plus: 0 }, 'WANT with DF');
  t.deepEqual(ip_select_ident(lab, sk, false, false, st), { kind: 'sequence', group: 1, plus: 0 }, 'INTERFACE: DF clear');
  t.deepEqual(ip_select_ident(lab, null, true, false, st), { kind: 'zero' }, 'no socket (raw hdrincl), DF');
  t.deepEqual(ip_select_ident(lab, null, false, false, st), { kind: 'sequence', group: 2, plus: 0 });
});

test('__ip_make_skb ID per mode on an unconnected socket: DO and PROBE zero, the rest a new group', (t) => {
  for (const [mode, zero] of [[DONT, false], [WANT, false], [DO, true], [PROBE, true], [INTERFACE, false], [OMIT, false]] as const) {
    const s = setup({ mode });
    const c = cork(s);
    c.chunks.push(body(10));
    const skb = __ip_make_skb(s.lab, s.sk, c, s.fl4, ids());
    t.is(skb.id.kind, zero ? 'zero' : 'sequence', MODE_NAMES[mode]!);
  }
});

// ---------------------------------------------------------------------------
// ip_finish_output / ip_do_fragment geometry

interface Frag {
  len: number;
  offset: number;
  mf: boolean;
}

test('ip_do_fragment: every non-last fragment carries (mtu - hlen) & ~7 bytes; MF on all but the last', (t) => {
  const table: Array<{ description: string; mtu: number; opt: string; payloadSize: number; wantFragments: Frag[] }> = [
    {
      // [live] 3008-byte UDP at MTU 1500: 1500/1500/68 at offsets 0/1480/2960
      description: '3008 bytes at 1500, no options',
      mtu: 1500,
      opt: '',
      payloadSize: 3008,
      wantFragments: [
        { len: 1500, offset: 0, mf: true },
        { len: 1500, offset: 1480, mf: true },
        { len: 68, offset: 2960, mf: false },
      ],
    },
    {
      // [live] with 12 option bytes: 1496/1496/112 at 0/1464/2928 ((1500-32)&~7 = 1464)
      description: '3008 bytes at 1500, 12 option bytes',
      mtu: 1500,
      opt: RR12,
      payloadSize: 3008,
      wantFragments: [
        { len: 1496, offset: 0, mf: true },
        { len: 1496, offset: 1464, mf: true },
        { len: 112, offset: 2928, mf: false },
      ],
    },
    {
      // (576-20)&~7 = 552: five full fragments of 572, then 3008-2760 = 248 → 268
      description: '3008 bytes at 576',
      mtu: 576,
      opt: '',
      payloadSize: 3008,
      wantFragments: [0, 552, 1104, 1656, 2208].map((offset) => ({ len: 572, offset, mf: true })).concat([{ len: 268, offset: 2760, mf: false }]),
    },
    {
      // (1280-60)&~7 = 1216: 1276, 1276, then 2500-2432 = 68 → 128
      description: '2500 bytes at 1280, 40 option bytes',
      mtu: 1280,
      opt: RR40,
      payloadSize: 2500,
      wantFragments: [
        { len: 1276, offset: 0, mf: true },
        { len: 1276, offset: 1216, mf: true },
        { len: 128, offset: 2432, mf: false },
      ],
    },
    {
      // the minimum MTU: (68-20)&~7 = 48
      description: '100 bytes at 68',
      mtu: 68,
      opt: '',
      payloadSize: 100,
      wantFragments: [
        { len: 68, offset: 0, mf: true },
        { len: 68, offset: 48, mf: true },
        { len: 24, offset: 96, mf: false },
      ],
    },
    {
      // (1500-24)&~7 = 1472 (not 1476): the 8-byte rule bites with 4 option bytes
      description: '1477 bytes at 1500, 4 option bytes',
      mtu: 1500,
      opt: '94040000',
      payloadSize: 1477,
      wantFragments: [
        { len: 1496, offset: 0, mf: true },
        { len: 29, offset: 1472, mf: false },
      ],
    },
    {
      description: 'exactly the mtu: one packet',
      mtu: 1500,
      opt: '',
      payloadSize: 1480,
      wantFragments: [{ len: 1500, offset: 0, mf: false }],
    },
  ];
  for (const k of table) {
    const s = setup({ lab: mkLab({ devMtu: k.mtu }), mode: WANT, ...(k.opt ? { opt: k.opt } : {}) });
    const { packets, data } = sendRaw(s, k.payloadSize);
    if (isErr(packets)) {
      t.fail(`${k.description}: ${packets.errno}`);
      continue;
    }
    const got = packets.map((p) => ({ len: be16(p.bytes, 2), offset: (be16(p.bytes, 6) & 0x1fff) * 8, mf: (p.bytes[6]! & 0x20) !== 0 }));
    t.deepEqual(got, k.wantFragments, k.description);
    const hlen = 20 + ((h(k.opt).length + 3) & ~3); // options padded to 4
    for (const [i, p] of packets.entries()) {
      t.is(p.bytes.length, got[i]!.len, `${k.description}: buffer length = tot_len`);
      t.is(p.bytes[0]! & 0x0f, hlen / 4, `${k.description}: same ihl in every fragment`);
      t.is(onesSum(p.bytes.subarray(0, hlen)), 0xffff, `${k.description} #${i}: header checksum`);
      t.deepEqual(p.id, packets[0]!.id, `${k.description}: fragments share the ID`);
    }
    // The payloads, in order, are the datagram.
    const joined = Buffer.concat(packets.map((p) => p.bytes.subarray(hlen)));
    t.true(joined.equals(Buffer.from(data)), `${k.description}: payload bytes`);
    if (packets.length > 1) t.is(dfOf(packets[0]!.bytes), 0, 'fragments carry no DF');
  }
});

test('ip_do_fragment: options in fragments after the first go through ip_options_fragment (RR → NOOP)', (t) => {
  const s = setup({ mode: WANT, opt: RR12 });
  const { packets } = sendRaw(s, 3008);
  if (isErr(packets)) return t.fail(packets.errno);
  const optHex = (p: WirePacket): string => Buffer.from(p.bytes.subarray(20, 32)).toString('hex');
  t.is(optHex(packets[0]!), '070b08c6120001000000' + '0000');
  t.is(optHex(packets[1]!), '01'.repeat(11) + '00');
  t.is(optHex(packets[2]!), '01'.repeat(11) + '00');
});

test('ip_do_fragment: LSRR is copied into every fragment unchanged', (t) => {
  const s = setup({ mode: WANT, opt: '83 07 04 c6120002' });
  const { packets } = sendRaw(s, 2000);
  if (isErr(packets)) return t.fail(packets.errno);
  t.is(packets.length, 2);
  for (const p of packets) t.is(Buffer.from(p.bytes.subarray(20, 28)).toString('hex'), '830704c612000200');
});

test('ip_finish_output: DONT and OMIT fragment; the fragment size follows the mode (OMIT ignores the route MTU)', (t) => {
  const lab = mkLab({ devMtu: 1500, routeMtu: 1000 });
  const dont = sendRaw(setup({ lab, mode: DONT }), 2000).packets;
  const omit = sendRaw(setup({ lab, mode: OMIT }), 2000).packets;
  if (isErr(dont) || isErr(omit)) return t.fail('unexpected error');
  // DONT: dst_mtu 1000 → (1000-20)&~7 = 976 per fragment; OMIT: dev mtu 1500 → 1480.
  t.deepEqual(dont.map((p) => be16(p.bytes, 2)), [996, 996, 68]);
  t.deepEqual(omit.map((p) => be16(p.bytes, 2)), [1500, 540]);
});

test('ip_fragment: DF set without ignore_df and over the mtu → EMSGSIZE (PROBE skb bigger than the device)', (t) => {
  // Only reachable past __ip_append_data when the MTU shrank (or lo's 65536 edge); built by hand here.
  const s = setup({ mode: PROBE });
  const c = cork(s);
  c.chunks.push(body(1600));
  c.length = 1600;
  const st = ids();
  const out = ip_finish_output(s.lab, s.sk, __ip_make_skb(s.lab, s.sk, c, s.fl4, st), st);
  t.is(errno(out), 'EMSGSIZE');
  // Its icmp_send goes to the local source through lo: nothing leaves tx.
  if (isErr(out)) t.like(out, { from: 'ip_fragment', sent: [] });
});

test('ip_finish_output: a datagram routed through lo never reaches tx', (t) => {
  const s = setup({ daddr: SRC });
  t.is(s.rt.dev, 'lo');
  const { packets } = sendRaw(s, 100);
  t.deepEqual(packets, []);
});

test('ip_finish_output: tot_len and a valid header checksum on a single packet', (t) => {
  const { packets } = sendRaw(setup(), 37);
  if (isErr(packets)) return t.fail(packets.errno);
  t.is(packets.length, 1);
  const p = packets[0]!.bytes;
  t.is(be16(p, 2), 57);
  t.is(onesSum(p.subarray(0, 20)), 0xffff);
  t.is(be16(p, 6), 0x4000, 'WANT, fits: DF, offset 0');
});
