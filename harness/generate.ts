/**
 * Generated cases: a seeded, reproducible walk over the rule space of the
 * model (socket kinds, PMTU modes × MTUs × route MTUs, payload sizes at the
 * limits, IP options valid and malformed, control messages with wrong
 * lengths, corking, GSO, offloads, sysctls), as valid `skbdiff-case/1`
 * cases (../shared/case-format.md).
 *
 * Case `gen-<seed>-<i>` depends only on seed and i (each case has its own
 * PRNG stream), so one case of a failing batch can be regenerated alone.
 *
 * Traffic rule: destinations only in 198.18.0.0/24 (mostly the peer .2, never
 * .0, .1 or .255), binds to 198.18.0.1 or 0.0.0.0, no source route whose
 * first hop is local, at most 8 sends and 200 KB of payload per case. Sends
 * to local addresses are never drawn: ICMP errors of local delivery would
 * make later sends of the case nondeterministic.
 *
 * Intended CLI (wired in harness/cli.ts):
 *
 *   skbdiff generate --seed 7 --count 500 [--groups udp-pmtu,ping] > /tmp/gen-7.jsonl
 *   skbdiff run /tmp/gen-7.jsonl
 */
import type { Case, CmsgSpec, ConstName, Endpoint, SendSpec, SockoptCall, SocketSpec, Value } from '../model/case.js';

// ---- PRNG ----

/** sfc32 (small fast counter), seeded through splitmix32: deterministic on every platform. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t >>> 0;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor((this.u32() / 0x1_0000_0000) * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }

  /** Picks by weight: `[[w, x], ...]`. */
  weighted<T>(xs: ReadonlyArray<readonly [number, T]>): T {
    const total = xs.reduce((n, [w]) => n + w, 0);
    let r = (this.u32() / 0x1_0000_0000) * total;
    for (const [w, x] of xs) {
      if (r < w) return x;
      r -= w;
    }
    return xs[xs.length - 1]![1];
  }
}

// ---- groups ----

export const GROUPS = ['udp-pmtu', 'udp-options', 'udp-cmsg', 'udp-cork', 'udp-gso', 'udplite', 'raw', 'raw-hdrincl', 'ping', 'sysctl'] as const;
export type Group = (typeof GROUPS)[number];

export interface GenerateOptions {
  seed: number;
  count: number;
  /** Restrict to these groups (default: all, round robin). */
  groups?: readonly Group[];
}

/** Upper bounds of the traffic rule. */
export const MAX_SENDS = 8;
export const MAX_CASE_PAYLOAD = 200 * 1024;

const PEER = '198.18.0.2';
const TX = '198.18.0.1';

/** What the drawing of one case has to work with and notes down for `about`. */
class Draw {
  readonly notes: string[] = [];
  budget = MAX_CASE_PAYLOAD;
  constructor(readonly r: Rng) {}
  note(s: string): void {
    this.notes.push(s);
  }
}

/** A non-local destination in 198.18.0.0/24: mostly the peer. */
function dest(d: Draw): string {
  return d.r.weighted<string>([
    [8, PEER],
    [1, `198.18.0.${d.r.int(3, 254)}`],
  ]);
}

function endpoint(d: Draw, port?: number): Endpoint {
  return { addr: dest(d), port: port ?? d.r.weighted([[6, 7000], [1, d.r.int(1, 65535)], [1, 0]]) };
}

// ---- sizes ----

const MTUS = [68, 69, 100, 296, 552, 576, 1000, 1280, 1492, 1500, 1501, 2000, 4000, 8999, 9000];
const ROUTE_MTUS = [null, null, null, null, 20, 40, 67, 68, 100, 552, 576, 1000, 1280, 1400, 1500, 9000];

/** The MTU a datagram sees (route MTU locked over the device's). */
function pathMtu(mtu: number, routeMtu: number | null): number {
  return routeMtu ?? mtu;
}

/**
 * A payload size near a limit: MTU-fit (mtu - iphdr - optlen - transport hdr
 * ± 1), the 64 KB limit (65535 - 20 - optlen - thdr ± 1), fragment
 * boundaries (k 8-byte-aligned fragments), or small/random.
 */
function payloadSize(d: Draw, pmtu: number, optlen: number, thdr: number): number {
  const fit = pmtu - 20 - optlen - thdr;
  const max = 65535 - 20 - optlen - thdr;
  const frag = Math.max(8, (pmtu - 20 - optlen) & ~7);
  const k = d.r.int(2, 6);
  const kind = d.r.weighted<string>([
    [4, 'fit'],
    [2, 'max'],
    [3, 'frag'],
    [3, 'small'],
    [1, 'zero'],
    [2, 'random'],
  ]);
  const delta = d.r.pick([-1, 0, 1]);
  let n: number;
  switch (kind) {
    case 'fit':
      n = fit + delta;
      break;
    case 'max':
      n = max + delta;
      break;
    case 'frag':
      n = frag + (k - 1) * ((pmtu - 20) & ~7) - thdr + delta;
      break;
    case 'small':
      n = d.r.int(1, 64);
      break;
    case 'zero':
      n = 0;
      break;
    default:
      n = d.r.int(0, 9000);
  }
  n = Math.max(0, Math.min(n, d.budget, 70000));
  d.budget -= n;
  return n;
}

// ---- IP options ----

const hex = (b: readonly number[]): string => b.map((x) => (x & 0xff).toString(16).padStart(2, '0')).join('');
const addrBytes = (a: string): number[] => a.split('.').map(Number);

/** One option, valid or (with `bad`) malformed in length, pointer or flags. */
function ipOption(d: Draw, room: number, bad: boolean): { bytes: number[]; what: string } {
  const r = d.r;
  const kind = r.weighted<string>([
    [3, 'RR'],
    [3, 'TS'],
    [2, 'LSRR'],
    [2, 'SSRR'],
    [2, 'RA'],
    [2, 'NOOP'],
    [1, 'EOL'],
    [1, 'unknown'],
  ]);
  switch (kind) {
    case 'NOOP':
      return { bytes: [1], what: 'NOOP' };
    case 'EOL':
      return { bytes: [0], what: 'EOL' };
    case 'RA': {
      const v = bad ? r.pick([[148, 4, 0, 1], [148, 3, 0], [148, 2], [148, 6, 0, 0, 0, 0]]) : [148, 4, 0, 0];
      return { bytes: v, what: bad ? 'RA malformed' : 'RA' };
    }
    case 'unknown': {
      const type = r.pick([0x88, 0x82, 0x19, 0x5e]);
      const len = Math.min(room, r.pick([2, 4, 6]));
      return { bytes: [type, bad ? r.int(0, 1) : len, ...Array(Math.max(0, len - 2)).fill(0)], what: `option 0x${type.toString(16)}` };
    }
    case 'RR': {
      const slots = r.int(1, Math.max(1, Math.min(9, Math.floor((room - 3) / 4))));
      const len = 3 + 4 * slots;
      let ptr = 4;
      let l = len;
      if (bad) {
        const how = r.pick(['ptr-low', 'ptr-odd', 'ptr-high', 'len-short', 'len-long']);
        if (how === 'ptr-low') ptr = 3;
        else if (how === 'ptr-odd') ptr = 5;
        else if (how === 'ptr-high') ptr = len + 1 + 4 * r.int(0, 1);
        else if (how === 'len-short') l = 2;
        else l = len + r.int(1, 4);
      } else if (r.chance(0.3)) ptr = len + 1; // full: nothing recorded
      return { bytes: [7, l, ptr, ...Array(len - 3).fill(0)], what: `RR ${slots} slot${slots > 1 ? 's' : ''}${bad ? ' malformed' : ptr > 4 ? ' full' : ''}` };
    }
    case 'TS': {
      const flag = bad ? r.pick([0, 1, 3, 2, 4, 15]) : r.pick([0, 1, 3]);
      const per = flag === 0 ? 4 : 8;
      const slots = r.int(1, Math.max(1, Math.min(flag === 0 ? 9 : 4, Math.floor((room - 4) / per))));
      const len = 4 + per * slots;
      let ptr = 5;
      let l = len;
      let oflw = 0;
      if (bad && (flag === 0 || flag === 1 || flag === 3)) {
        const how = r.pick(['ptr-low', 'ptr-high', 'len', 'oflw']);
        if (how === 'ptr-low') ptr = r.pick([1, 4]);
        else if (how === 'ptr-high') ptr = len + 1 + per;
        else if (how === 'len') l = len - r.int(1, 3);
        else oflw = 15;
      } else if (!bad && r.chance(0.2)) ptr = len + 1; // full: overflow counted
      const data: number[] = [];
      for (let s = 0; s < slots; s++) {
        if (flag === 0) data.push(0, 0, 0, 0);
        else data.push(...(flag === 3 ? addrBytes(r.pick([TX, PEER, '198.18.0.9'])) : [0, 0, 0, 0]), 0, 0, 0, 0);
      }
      return { bytes: [68, l, ptr, (oflw << 4) | flag, ...data], what: `TS flag ${flag} ${slots} slot${slots > 1 ? 's' : ''}${bad ? ' malformed' : ptr > 5 ? ' full' : ''}` };
    }
    default: {
      // LSRR/SSRR: hops in 198.18.0.0/24, the first (the route's next hop) never local.
      const type = kind === 'LSRR' ? 0x83 : 0x89;
      const hops = r.int(1, Math.max(1, Math.min(9, Math.floor((room - 3) / 4))));
      const addrs: number[] = [];
      for (let h = 0; h < hops; h++) addrs.push(...addrBytes(r.chance(0.6) ? PEER : `198.18.0.${r.int(3, 254)}`));
      let len = 3 + 4 * hops;
      let ptr = 4;
      if (bad) {
        const how = r.pick(['ptr', 'len', 'ptr-odd']);
        if (how === 'ptr') ptr = r.pick([3, len + 5]);
        else if (how === 'ptr-odd') ptr = 6;
        else len = len - r.int(1, 2);
      }
      return { bytes: [type, len, ptr, ...addrs], what: `${kind} ${hops} hop${hops > 1 ? 's' : ''}${bad ? ' malformed' : ''}` };
    }
  }
}

/** A whole option block (≤ 40 bytes, now and then 41..44 to cross the limit). */
function ipOptions(d: Draw): { hex: string; what: string; optlen: number } {
  const r = d.r;
  const bad = r.chance(0.3);
  const bytes: number[] = [];
  const whats: string[] = [];
  const n = r.int(1, 3);
  for (let i = 0; i < n && bytes.length < 40; i++) {
    const o = ipOption(d, 40 - bytes.length, bad && i === n - 1);
    if (bytes.length + o.bytes.length > 40) break;
    bytes.push(...o.bytes);
    whats.push(o.what);
  }
  if (r.chance(0.05)) {
    while (bytes.length < 41 + r.int(0, 3)) bytes.push(1);
    whats.push('padded past 40');
  }
  return { hex: hex(bytes), what: whats.join(', ') || 'empty', optlen: Math.min(40, (bytes.length + 3) & ~3) };
}

// ---- socket options and control messages ----

const opt = (level: ConstName, name: ConstName, value: Value): SockoptCall => ({ level, name, value });
const cmsg = (level: ConstName, type: ConstName, value: Value, cmsgLen?: number): CmsgSpec => ({ level, type, value, ...(cmsgLen !== undefined ? { cmsg_len: cmsgLen } : {}) });

function pmtuOpt(d: Draw): SockoptCall {
  const v = d.r.weighted([[3, 0], [3, 1], [4, 2], [3, 3], [2, 4], [2, 5], [1, 6], [1, -1]]);
  d.note(`IP_MTU_DISCOVER ${v}`);
  return opt('SOL_IP', 'IP_MTU_DISCOVER', { int: v });
}

function ttlValue(d: Draw): number {
  return d.r.weighted([[4, d.r.int(1, 255)], [1, 0], [1, 256], [1, -1], [1, 64]]);
}

/** A control message of the IP/UDP/socket kinds, sometimes with a wrong cmsg_len. */
function drawCmsg(d: Draw, kind: 'udp' | 'raw' | 'ping'): CmsgSpec {
  const r = d.r;
  const what = r.weighted<string>([
    [4, 'IP_TTL'],
    [3, 'IP_TOS'],
    [3, 'IP_PKTINFO'],
    [2, 'IP_RETOPTS'],
    [kind === 'udp' ? 2 : 1, 'IP_PROTOCOL'],
    [kind === 'udp' ? 2 : 0, 'UDP_SEGMENT'],
    [2, 'SO_MARK'],
    [2, 'SO_PRIORITY'],
    [1, 'SO_TIMESTAMPING'],
    [1, 'IP_OPTIONS'],
    [1, 'unknown'],
  ]);
  let c: CmsgSpec;
  switch (what) {
    case 'IP_TTL':
      c = cmsg('SOL_IP', 'IP_TTL', r.chance(0.8) ? { int: ttlValue(d) } : { u8: r.int(0, 255) });
      break;
    case 'IP_TOS':
      c = cmsg('SOL_IP', 'IP_TOS', r.chance(0.6) ? { int: r.pick([0, 0x10, 0xb8, 0xff, 256, -1]) } : { u8: r.pick([0, 0x28, 0xfe, 0x03]) });
      break;
    case 'IP_PKTINFO':
      c = cmsg('SOL_IP', 'IP_PKTINFO', {
        pktinfo: { ifindex: r.weighted<number | 'tx'>([[3, 'tx'], [3, 0], [1, 99]]), spec_dst: r.weighted([[3, TX], [3, '0.0.0.0'], [1, '198.18.0.9']]), addr: r.pick(['0.0.0.0', PEER]) },
      });
      break;
    case 'IP_RETOPTS':
    case 'IP_OPTIONS': {
      const o = ipOptions(d);
      c = cmsg('SOL_IP', what, { hex: o.hex });
      d.note(`${what} cmsg [${o.what}]`);
      break;
    }
    case 'IP_PROTOCOL':
      c = cmsg('SOL_IP', 'IP_PROTOCOL', { int: r.pick([17, 136, 1, 0, 6, 255]) });
      break;
    case 'UDP_SEGMENT':
      c = cmsg('SOL_UDP', 'UDP_SEGMENT', r.chance(0.85) ? { u16: r.pick([0, 8, 100, 500, 1000, 1400, 1472, 1473, 9000]) } : { int: 1000 });
      break;
    case 'SO_MARK':
      c = cmsg('SOL_SOCKET', 'SO_MARK', { u32: r.pick([0, 1, 0xffffffff, 42]) });
      break;
    case 'SO_PRIORITY':
      c = cmsg('SOL_SOCKET', 'SO_PRIORITY', { u32: r.pick([0, 6, 7, 255]) });
      break;
    case 'SO_TIMESTAMPING':
      c = cmsg('SOL_SOCKET', 'SO_TIMESTAMPING', { u32: r.pick([0, 2, 0x100, 0x200, 0x80, 0x1]) });
      break;
    default:
      c = cmsg(r.pick(['SOL_IP', 'SOL_SOCKET', 'SOL_UDP', 200] as ConstName[]), r.pick([99, 250]), { int: 1 });
  }
  if (r.chance(0.1)) {
    c.cmsg_len = r.pick([0, 8, 15, 16, 17, 19, 21, 100, 4096]);
    d.note(`${String(c.type)} cmsg_len ${c.cmsg_len}`);
  } else if (what !== 'IP_RETOPTS' && what !== 'IP_OPTIONS') {
    d.note(`${String(c.type)} cmsg`);
  }
  return c;
}

function someCmsgs(d: Draw, kind: 'udp' | 'raw' | 'ping', p: number): CmsgSpec[] {
  const out: CmsgSpec[] = [];
  while (out.length < 4 && d.r.chance(out.length === 0 ? p : 0.3)) out.push(drawCmsg(d, kind));
  return out;
}

function someFlags(d: Draw, more: boolean): string[] {
  const f: string[] = [];
  if (more) f.push('MSG_MORE');
  if (d.r.chance(0.05)) f.push('MSG_PROBE');
  if (d.r.chance(0.05)) f.push('MSG_DONTROUTE');
  if (d.r.chance(0.05)) f.push('MSG_CONFIRM');
  if (d.r.chance(0.1)) f.push('MSG_DONTWAIT');
  for (const x of f) if (x !== 'MSG_MORE') d.note(x);
  return f;
}

/** Splits n bytes into 2..4 iovecs now and then (one of them may be empty). */
function someIov(d: Draw, n: number): number[] | null {
  if (!d.r.chance(0.2)) return null;
  const parts = d.r.int(2, 4);
  const cuts = Array.from({ length: parts - 1 }, () => d.r.int(0, n)).sort((a, b) => a - b);
  const out: number[] = [];
  let prev = 0;
  for (const c of [...cuts, n]) {
    out.push(c - prev);
    prev = c;
  }
  return out;
}

// ---- the net ----

interface NetDraw {
  mtu: number;
  route_mtu: number | null;
  sysctl: Record<string, number | string>;
  offload: { tx_checksum: boolean; gso: boolean };
}

/**
 * `minRouteMtu`: a raw IP_HDRINCL datagram skips ip_setup_cork, so a route MTU
 * below its header + 8 would reach ip_do_fragment with no room for data (the
 * model loops there, and the kernel's ip_frag_next may too): not drawn on the host.
 */
function drawNet(d: Draw, extraSysctl = 0.15, minRouteMtu = 0): NetDraw {
  const r = d.r;
  const mtu = r.chance(0.15) ? r.int(68, 9000) : r.pick(MTUS);
  const route_mtu = r.pick(ROUTE_MTUS.filter((m) => m === null || m >= minRouteMtu));
  const sysctl: Record<string, number | string> = {};
  if (r.chance(extraSysctl)) sysctl['net.ipv4.ip_default_ttl'] = r.pick([1, 2, 63, 128, 255]);
  if (r.chance(extraSysctl)) sysctl['net.ipv4.ip_no_pmtu_disc'] = r.pick([0, 1, 2, 3]);
  const offload = { tx_checksum: r.chance(0.15), gso: r.chance(0.15) };
  if (mtu !== 1500) d.note(`mtu ${mtu}`);
  if (route_mtu !== null) d.note(`route mtu ${route_mtu}`);
  for (const [k, v] of Object.entries(sysctl)) d.note(`${k.replace('net.ipv4.', '')}=${v}`);
  if (offload.tx_checksum) d.note('tx csum offload');
  if (offload.gso) d.note('gso offload');
  return { mtu, route_mtu, sysctl, offload };
}

// ---- per group ----

interface Shape {
  net: NetDraw;
  socket: SocketSpec;
  sends: SendSpec[];
}

function udpBase(d: Draw, protocol: 'udp' | 'udplite', group: Group): Shape {
  const r = d.r;
  const net = drawNet(d, group === 'sysctl' ? 0.9 : 0.1);
  const setsockopt: SockoptCall[] = [];
  let optlen = 0;
  const connected = r.chance(0.3);
  const bind: Endpoint | null = r.weighted<Endpoint | null>([
    [5, { addr: TX, port: 40000 }],
    [2, { addr: '0.0.0.0', port: r.pick([0, 40001]) }],
    [2, null],
  ]);
  if (group === 'udp-pmtu' || r.chance(0.3)) setsockopt.push(pmtuOpt(d));
  if (group === 'udp-options' || r.chance(0.1)) {
    const o = ipOptions(d);
    setsockopt.push(opt('SOL_IP', 'IP_OPTIONS', { hex: o.hex }));
    optlen = o.optlen;
    d.note(`IP_OPTIONS [${o.what}]`);
  }
  if (r.chance(0.2)) {
    const v = ttlValue(d);
    setsockopt.push(opt('SOL_IP', 'IP_TTL', { int: v }));
    d.note(`IP_TTL ${v}`);
  }
  if (r.chance(0.15)) {
    const v = r.pick([0, 0x10, 0xb8, 0xff]);
    setsockopt.push(opt('SOL_IP', 'IP_TOS', { int: v }));
    d.note(`IP_TOS ${v}`);
  }
  if (r.chance(0.08)) {
    setsockopt.push(opt('SOL_SOCKET', 'SO_NO_CHECK', { int: 1 }));
    d.note('SO_NO_CHECK');
  }
  if (protocol === 'udplite' && r.chance(0.6)) {
    const v = r.pick([0, 1, 7, 8, 9, 20, 100, 65535]);
    setsockopt.push(opt('SOL_UDPLITE', 'UDPLITE_SEND_CSCOV', { int: v }));
    d.note(`UDPLITE_SEND_CSCOV ${v}`);
  }
  let gsoSize = 0;
  if (group === 'udp-gso') {
    gsoSize = r.pick([0, 8, 100, 500, 1000, 1400, 1472, 1473, 9000]);
    if (r.chance(0.6)) {
      setsockopt.push(opt('SOL_UDP', 'UDP_SEGMENT', { int: gsoSize }));
      d.note(`UDP_SEGMENT ${gsoSize}`);
    }
  }
  let cork = false;
  if (group === 'udp-cork' && r.chance(0.4)) {
    cork = true;
    setsockopt.push(opt('SOL_UDP', 'UDP_CORK', { int: 1 }));
    d.note('UDP_CORK');
  }

  const pmtu = pathMtu(net.mtu, net.route_mtu);
  const nSends = group === 'udp-cork' ? r.int(2, 5) : r.weighted([[5, 1], [3, 2], [1, r.int(3, MAX_SENDS)]]);
  const sends: SendSpec[] = [];
  for (let i = 0; i < nSends; i++) {
    let len: number;
    if (group === 'udp-gso' && gsoSize > 0 && r.chance(0.7)) {
      const segs = r.pick([1, 2, 3, 10, 64, 65, 128, 129]);
      len = Math.max(0, Math.min(gsoSize * segs + r.pick([-1, 0, 1, -gsoSize + 1]), d.budget, 65535));
      d.budget -= len;
    } else {
      len = payloadSize(d, pmtu, optlen, 8);
    }
    const more = group === 'udp-cork' && i < nSends - 1 && r.chance(0.8);
    const cmsgs = someCmsgs(d, 'udp', group === 'udp-cmsg' ? 0.95 : 0.15);
    if (group === 'udp-gso' && gsoSize > 0 && r.chance(0.3)) {
      const v = r.pick([0, gsoSize, gsoSize + 1]);
      cmsgs.push(cmsg('SOL_UDP', 'UDP_SEGMENT', { u16: v }));
      d.note(`UDP_SEGMENT cmsg ${v}`);
    }
    sends.push({
      to: connected && r.chance(0.7) ? null : endpoint(d),
      payload: { length: len },
      iov: someIov(d, len),
      flags: someFlags(d, more),
      cmsgs,
    });
  }
  if (group === 'udp-cork') d.note(`${sends.filter((s) => s.flags.includes('MSG_MORE')).length} MSG_MORE`);
  return {
    net,
    socket: { type: 'dgram', protocol, bind, connect: connected ? endpoint(d, 7000) : null, setsockopt },
    sends,
  };
}

const RAW_PROTOCOLS = [1, 17, 6, 47, 253, 254, 255, 136, 0];

/** A raw IP header (IP_HDRINCL): ihl, tot_len, frag bits, id, protocol, addresses, maybe options. */
function hdrinclPayload(d: Draw, pmtu: number): { hex: string; what: string } {
  const r = d.r;
  const optBytes: number[] = [];
  let optWhat = '';
  if (r.chance(0.25)) {
    const o = ipOptions(d);
    const b = o.hex.match(/../g)?.map((x) => parseInt(x, 16)) ?? [];
    while (b.length % 4) b.push(0);
    optBytes.push(...b.slice(0, 40));
    optWhat = ` opts [${o.what}]`;
  }
  let ihl = 5 + optBytes.length / 4;
  if (r.chance(0.1)) ihl = r.pick([0, 4, 15]);
  const dataLen = Math.min(d.budget, r.weighted([[4, r.int(0, 100)], [2, Math.max(0, pmtu - 20 - optBytes.length + r.pick([-1, 0, 1]))], [1, r.int(0, 3000)]]));
  d.budget -= dataLen;
  const totLenKind = r.pick(['right', 'zero', 'junk']);
  const total = 20 + optBytes.length + dataLen;
  const totLen = totLenKind === 'right' ? total : totLenKind === 'zero' ? 0 : r.int(0, 65535);
  const id = r.pick([0, 0x1234]);
  const frag = r.weighted([[6, 0], [2, 0x4000], [1, 0x2000], [1, 0x0001]]);
  const proto = r.pick([17, 1, 6, 253]);
  const ttl = r.pick([64, 1, 0]);
  const saddr = r.weighted([[3, TX], [2, '0.0.0.0'], [1, '198.18.0.9']]);
  const head = [(4 << 4) | ihl, r.pick([0, 0x10]), totLen >> 8, totLen & 255, id >> 8, id & 255, frag >> 8, frag & 255, ttl, proto, 0xab, 0xcd, ...addrBytes(saddr), ...addrBytes(PEER)];
  const data = Array.from({ length: dataLen }, (_, i) => i & 0xff);
  return {
    hex: hex([...head, ...optBytes, ...data]),
    what: `hdrincl ihl ${ihl} tot_len ${totLenKind} id ${id} frag 0x${frag.toString(16)} proto ${proto} saddr ${saddr} data ${dataLen}${optWhat}`,
  };
}

function rawCase(d: Draw, hdrincl: boolean): Shape {
  const r = d.r;
  const net = drawNet(d, 0.15, hdrincl ? 68 : 0);
  const protocol = hdrincl ? r.pick([255, 255, 17, 1]) : r.pick(RAW_PROTOCOLS.filter((p) => p !== 255));
  const setsockopt: SockoptCall[] = [];
  if (hdrincl && protocol !== 255) {
    setsockopt.push(opt('SOL_IP', 'IP_HDRINCL', { int: 1 }));
    d.note('IP_HDRINCL');
  }
  let optlen = 0;
  if (!hdrincl && r.chance(0.3)) {
    const o = ipOptions(d);
    setsockopt.push(opt('SOL_IP', 'IP_OPTIONS', { hex: o.hex }));
    optlen = o.optlen;
    d.note(`IP_OPTIONS [${o.what}]`);
  }
  if (r.chance(0.3)) setsockopt.push(pmtuOpt(d));
  d.note(`raw protocol ${protocol}`);
  const pmtu = pathMtu(net.mtu, net.route_mtu);
  const sends: SendSpec[] = [];
  const n = r.weighted([[5, 1], [2, 2], [1, r.int(3, 4)]]);
  for (let i = 0; i < n; i++) {
    let payload: SendSpec['payload'];
    if (hdrincl) {
      const h = hdrinclPayload(d, pmtu);
      payload = { hex: h.hex };
      d.note(h.what);
    } else {
      payload = { length: payloadSize(d, pmtu, optlen, 0) };
    }
    const len = 'length' in payload ? payload.length : payload.hex.length / 2;
    sends.push({ to: endpoint(d, 0), payload, iov: someIov(d, len), flags: someFlags(d, r.chance(0.1)), cmsgs: someCmsgs(d, 'raw', 0.2) });
  }
  return { net, socket: { type: 'raw', protocol, bind: r.chance(0.3) ? { addr: TX, port: 0 } : null, connect: null, setsockopt }, sends };
}

/** An ICMP message for a ping socket: echo mostly; other types, codes and short ones too. */
function pingPayload(d: Draw, pmtu: number): { hex: string; what: string } {
  const r = d.r;
  const type = r.weighted([[8, 8], [1, 42], [1, 13], [1, 0], [1, 3]]);
  const code = r.weighted([[9, 0], [1, 1]]);
  const short = r.chance(0.07);
  const dataLen = short ? r.int(0, 7) : Math.min(d.budget, r.weighted([[6, r.int(0, 64)], [2, Math.max(0, pmtu - 28 + r.pick([-1, 0, 1]))], [1, r.int(0, 4000)]]));
  d.budget -= dataLen;
  const head = [type, code, 0xbe, 0xef, 0x12, 0x34, 0x00, r.int(0, 9)];
  const bytes = short ? head.slice(0, dataLen) : [...head, ...Array.from({ length: dataLen }, (_, i) => (0x61 + i) & 0xff)];
  return { hex: hex(bytes), what: short ? `icmp ${dataLen} bytes` : `icmp type ${type} code ${code} data ${dataLen}` };
}

function pingCase(d: Draw): Shape {
  const r = d.r;
  const net = drawNet(d);
  net.sysctl['net.ipv4.ping_group_range'] = '0 0';
  const setsockopt: SockoptCall[] = [];
  let optlen = 0;
  if (r.chance(0.2)) {
    const o = ipOptions(d);
    setsockopt.push(opt('SOL_IP', 'IP_OPTIONS', { hex: o.hex }));
    optlen = o.optlen;
    d.note(`IP_OPTIONS [${o.what}]`);
  }
  if (r.chance(0.3)) setsockopt.push(pmtuOpt(d));
  if (r.chance(0.2)) {
    const v = ttlValue(d);
    setsockopt.push(opt('SOL_IP', 'IP_TTL', { int: v }));
    d.note(`IP_TTL ${v}`);
  }
  const pmtu = pathMtu(net.mtu, net.route_mtu) - optlen;
  const connected = r.chance(0.2);
  const sends: SendSpec[] = [];
  const n = r.weighted([[5, 1], [2, 2], [1, r.int(3, 5)]]);
  for (let i = 0; i < n; i++) {
    const p = pingPayload(d, pmtu);
    d.note(p.what);
    sends.push({ to: connected && r.chance(0.7) ? null : endpoint(d, 0), payload: { hex: p.hex }, iov: someIov(d, p.hex.length / 2), flags: someFlags(d, r.chance(0.1)), cmsgs: someCmsgs(d, 'ping', 0.2) });
  }
  return {
    net,
    socket: { type: 'dgram', protocol: 'icmp', bind: r.chance(0.3) ? { addr: r.pick([TX, '0.0.0.0']), port: r.pick([0, 77]) } : null, connect: connected ? endpoint(d, 0) : null, setsockopt },
    sends,
  };
}

function drawShape(d: Draw, group: Group): Shape {
  switch (group) {
    case 'udplite':
      return udpBase(d, 'udplite', group);
    case 'raw':
      return rawCase(d, false);
    case 'raw-hdrincl':
      return rawCase(d, true);
    case 'ping':
      return pingCase(d);
    default:
      return udpBase(d, 'udp', group);
  }
}

/** Case `gen-<seed>-<index>` of group `group` (the same on every call). */
export function generateCase(seed: number, index: number, group: Group): Case {
  const d = new Draw(new Rng(seed, index));
  const s = drawShape(d, group);
  const net = { mtu: s.net.mtu, route_mtu: s.net.route_mtu, sysctl: s.net.sysctl, offload: s.net.offload };
  const total = s.sends.reduce((n, x) => n + ('length' in x.payload ? x.payload.length : x.payload.hex.length / 2), 0);
  const kind = s.socket.type === 'raw' ? `raw ${s.socket.protocol}` : String(s.socket.protocol);
  const about = `generated (seed ${seed}, case ${index}, group ${group}): ${kind}${s.socket.connect ? ' connected' : ''}, ${s.sends.length} send${s.sends.length > 1 ? 's' : ''} (${total} bytes)${d.notes.length ? '; ' + d.notes.join('; ') : ''}.`;
  return { format: 'skbdiff-case/1', id: `gen-${seed}-${index}`, about, net, socket: s.socket, sends: s.sends };
}

/** `count` cases of `seed`, groups round robin. */
export function generateCases(opts: GenerateOptions): Case[] {
  const groups = opts.groups && opts.groups.length ? opts.groups : GROUPS;
  for (const g of groups) if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`unknown group ${JSON.stringify(g)} (groups: ${GROUPS.join(', ')})`);
  if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) throw new Error(`seed must be a non-negative integer, got ${opts.seed}`);
  const out: Case[] = [];
  for (let i = 0; i < opts.count; i++) out.push(generateCase(opts.seed, i, groups[i % groups.length]!));
  return out;
}

/** The group a generated case was drawn from (from its `about`), or null. */
export function groupOf(c: Case): Group | null {
  const m = /group ([a-z-]+)\)/.exec(c.about ?? '');
  return m && (GROUPS as readonly string[]).includes(m[1]!) ? (m[1] as Group) : null;
}

/** One case per line, in the key order of case-format.md. */
export function toJsonl(cases: readonly Case[]): string {
  return cases.map((c) => JSON.stringify(c)).join('\n') + (cases.length ? '\n' : '');
}
