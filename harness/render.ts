/**
 * One printer for findings and packets, plain text for terminals and CI logs
 * (no colour). Lines read like packetdrill's `check_field` failures:
 *
 *     packet 2 ip.total_length: expected 1500 (0x05dc), got 1496 (0x05d8)
 *     send 0: expected errno EINVAL (ip_cmsg_send), got ret 100
 */
import type { CallResult } from '../model/result.js';
import type { Field } from '../model/wire/fields.js';
import { ipOptions } from '../model/wire/ipopt.js';
import * as ipv4 from '../model/wire/ipv4.js';
import * as icmp from '../model/wire/icmp.js';
import { toHex } from '../model/wire/error.js';
import { msOfDayDistance, type Finding } from './diff.js';

/** Short byte strings are printed whole; longer ones by their first difference. */
const SHORT_BYTES = 16;

export function renderFindings(findings: Finding[]): string {
  return findings.map(renderFinding).join('\n');
}

/** One line per finding. */
export function renderFinding(f: Finding): string {
  switch (f.kind) {
    case 'CallMismatch': {
      const who = f.index === null ? f.call : `${f.call} ${f.index}`;
      return `${who}: expected ${renderCall(f.expected)}, got ${renderCall(f.got)}`;
    }
    case 'MissingPacket':
      return `packet ${f.packet}: expected ${summarize(f.expected)}, got nothing`;
    case 'ExtraPacket':
      return `packet ${f.packet}: expected nothing, got ${summarize(f.got)}`;
    case 'LengthMismatch':
      return `packet ${f.packet} length: expected ${f.expected} bytes, got ${f.got} bytes`;
    case 'FieldMismatch':
      return `packet ${f.packet} ${f.field}: ${renderFieldValues(f.expected, f.got, f.firstDiff)}`;
    case 'ByteMismatch':
      return `packet ${f.packet} byte ${f.offset}: expected ${byteOrEnd(f.expected)}, got ${byteOrEnd(f.got)} (${f.count} byte${f.count === 1 ? '' : 's'} differ${f.count === 1 ? 's' : ''})`;
    case 'IdRuleViolation': {
      const got = f.got === null ? 'no ID (packet too short)' : hex16(f.got);
      if (f.rule.rule === 'zero') return `packet ${f.packet} ip.id: expected 0 (rule zero), got ${got}`;
      if (f.rule.rule === 'exact') return `packet ${f.packet} ip.id: expected ${f.expected === null ? 'none' : hex16(f.expected)} (rule exact), got ${got}`;
      const why = f.base === undefined
        ? `rule sequence: group ${f.rule.group}, no packet gives a base`
        : `rule sequence: group ${f.rule.group} base ${hex16(f.base)} from packet${(f.agree ?? []).length === 1 ? '' : 's'} ${(f.agree ?? []).join(',')}, plus ${f.rule.plus}`;
      return `packet ${f.packet} ip.id: expected ${f.expected === null ? 'any' : hex16(f.expected)} (${why}), got ${got}`;
    }
    case 'BadHeaderChecksum':
      return f.correct === null
        ? `packet ${f.packet} ip.checksum: cannot verify, the header does not fit in the packet`
        : `packet ${f.packet} ip.checksum: ${hex16(f.got ?? 0)} does not verify, correct is ${hex16(f.correct)}`;
    case 'TimestampImplausible':
      return f.reason === 'not-a-time-of-day'
        ? `packet ${f.packet} ip.options TS time at byte ${f.offset}: ${f.got} (0x${f.got.toString(16).padStart(8, '0')}) is not ms since midnight UTC (must be below 86400000)`
        : `packet ${f.packet} ip.options TS time at byte ${f.offset}: ${timeOfDay(f.got)} is ${(msOfDayDistance(f.got, f.captureMsOfDay!) / 1000).toFixed(3)} s from the capture at ${timeOfDay(f.captureMsOfDay!)} (limit 10 s)`;
  }
}

export function renderCall(c: CallResult | null): string {
  if (c === null) return 'no call';
  if ('ret' in c) return `ret ${c.ret}`;
  return c.from === undefined ? `errno ${c.errno}` : `errno ${c.errno} (${c.from})`;
}

function renderFieldValues(e: Field | null, g: Field | null, firstDiff: number | undefined): string {
  if (e && g && typeof e.value !== 'number' && typeof g.value !== 'number') {
    if (e.value.length <= SHORT_BYTES && g.value.length <= SHORT_BYTES) return `expected ${hexOrEmpty(e.value)}, got ${hexOrEmpty(g.value)}`;
    const k = (firstDiff ?? g.offset) - g.offset;
    const sizes = e.value.length === g.value.length ? `${e.value.length} bytes` : `expected ${e.value.length} bytes, got ${g.value.length} bytes`;
    const at = k < Math.min(e.value.length, g.value.length)
      ? `first difference at byte ${k} (packet offset ${firstDiff}): expected ${hex8(e.value[k]!)}, got ${hex8(g.value[k]!)}`
      : `equal for the first ${k} bytes`;
    return `${sizes}, ${at}`;
  }
  return `expected ${renderValue(e)}, got ${renderValue(g)}`;
}

/** A field's value: `1500 (0x05dc)`, addresses dotted, 1-bit flags bare, byte strings in hex. */
export function renderValue(f: Field | null): string {
  if (f === null) return 'absent';
  const v = f.value;
  if (typeof v !== 'number') return hexOrEmpty(v);
  if (f.format === 'ip4') return ipString(v);
  const bitCount = f.mask === undefined ? f.length * 8 : popcount(f.mask);
  if (bitCount === 1) return String(v);
  const digits = Math.ceil((f.mask === undefined ? bitCount : bitCount + (f.name === 'ip.frag_offset' ? 3 : 0)) / 4);
  return `${v} (0x${v.toString(16).padStart(digits, '0')})`;
}

/**
 * One line per packet, printing only what is not the default (smoltcp
 * `Display`): `IPv4 198.18.0.1 > 198.18.0.2 id 0x1234 DF ttl 64 len 128 UDP 40000 > 7000 len 108`.
 */
export function summarize(bytes: Uint8Array): string {
  let p: ReturnType<typeof ipv4.parse>;
  try {
    p = ipv4.parse(bytes);
  } catch {
    return `IPv4 (malformed, ${bytes.length} bytes) ${toHex(bytes.subarray(0, 24))}${bytes.length > 24 ? '...' : ''}`;
  }
  const r = p.repr;
  const parts = [`IPv4 ${ipString(r.src)} > ${ipString(r.dst)}`];
  if (r.tos !== 0) parts.push(`tos 0x${r.tos.toString(16).padStart(2, '0')}`);
  parts.push(`id ${hex16(r.id)}`);
  if (r.reserved) parts.push('RF');
  if (r.df) parts.push('DF');
  if (r.mf) parts.push('MF');
  if (r.fragOffset !== 0) parts.push(`frag ${r.fragOffset}`);
  parts.push(`ttl ${r.ttl}`);
  if (r.options.length > 0) parts.push(`options [${[...ipOptions(r.options)].map((o) => o.name === 'unknown' ? `opt${o.type}` : o.name).join(',')}]`);
  if (!ipv4.checksumValid(bytes)) parts.push(`bad cksum ${hex16(r.checksum)}`);
  parts.push(`len ${r.totalLength}`);
  const l4 = p.payload;
  const name = r.protocol === ipv4.PROTO_UDP ? 'UDP' : r.protocol === ipv4.PROTO_UDPLITE ? 'UDPLite' : r.protocol === ipv4.PROTO_ICMP ? 'ICMP' : `proto ${r.protocol}`;
  if (r.fragOffset !== 0) {
    parts.push(`${name} fragment ${l4.length} bytes`);
  } else if ((r.protocol === ipv4.PROTO_UDP || r.protocol === ipv4.PROTO_UDPLITE) && l4.length >= 8) {
    const w = (o: number) => (l4[o]! << 8) | l4[o + 1]!;
    parts.push(`${name} ${w(0)} > ${w(2)} ${r.protocol === ipv4.PROTO_UDP ? 'len' : 'cov'} ${w(4)}`);
  } else if (r.protocol === ipv4.PROTO_ICMP && l4.length >= 8) {
    const w = (o: number) => (l4[o]! << 8) | l4[o + 1]!;
    const type = l4[0]!;
    const echo = type === icmp.ICMP_ECHO ? 'echo request' : type === icmp.ICMP_ECHOREPLY ? 'echo reply' : null;
    parts.push(echo ? `ICMP ${echo} id ${hex16(w(4))} seq ${w(6)}` : `ICMP type ${type} code ${l4[1]}`);
    if (echo && l4[1] !== 0) parts.push(`code ${l4[1]}`);
  } else {
    parts.push(`${name} ${l4.length} bytes`);
  }
  return parts.join(' ');
}

/**
 * Side-by-side dump, 16 bytes a row, a marker row under each row that
 * differs: `^^` under bytes that differ, `~~` under bytes that differ but are
 * judged by rule (`judged`, e.g. the ID), `--` stands for a byte past a
 * packet's end.
 */
export function hexDiff(expected: Uint8Array, got: Uint8Array, judged: ReadonlySet<number> = new Set()): string {
  const width = 16 * 3 - 1;
  const lines = [`${'offs'}  ${'expected'.padEnd(width)}  |  got`];
  const cell = (b: Uint8Array, i: number) => (i < b.length ? b[i]!.toString(16).padStart(2, '0') : '--');
  for (let row = 0; row < Math.max(expected.length, got.length); row += 16) {
    const idx = [...Array(16).keys()].map((k) => row + k).filter((i) => i < Math.max(expected.length, got.length));
    const left = idx.map((i) => (i < expected.length ? cell(expected, i) : '--')).join(' ');
    const right = idx.map((i) => (i < got.length ? cell(got, i) : '--')).join(' ');
    lines.push(`${row.toString(16).padStart(4, '0')}  ${left.padEnd(width)}  |  ${right}`.trimEnd());
    const marks = idx.map((i) => (expected[i] === got[i] ? '  ' : judged.has(i) && i < expected.length && i < got.length ? '~~' : '^^'));
    if (marks.some((m) => m !== '  ')) {
      const m = marks.join(' ');
      lines.push(`      ${m.padEnd(width)}  |  ${m}`.trimEnd());
    }
  }
  return lines.join('\n');
}

/** A packet pair for a report: both summaries, then the dump. */
export function renderPacketDiff(packet: number, expected: Uint8Array, got: Uint8Array, judged: ReadonlySet<number> = new Set()): string {
  return [`packet ${packet} expected: ${summarize(expected)}`, `packet ${packet}      got: ${summarize(got)}`, hexDiff(expected, got, judged)].join('\n');
}

function ipString(a: number): string {
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
}

function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

function hex8(v: number): string {
  return `0x${v.toString(16).padStart(2, '0')}`;
}

function byteOrEnd(v: number | null): string {
  return v === null ? 'end of packet' : hex8(v);
}

function hexOrEmpty(b: Uint8Array): string {
  return b.length === 0 ? '(empty)' : toHex(b);
}

function popcount(m: number): number {
  let c = 0;
  for (let x = m; x; x >>>= 1) c += x & 1;
  return c;
}

/** ms since midnight as hh:mm:ss.mmm */
function timeOfDay(ms: number): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(Math.floor(ms / 3_600_000))}:${p(Math.floor(ms / 60_000) % 60)}:${p(Math.floor(ms / 1000) % 60)}.${p(ms % 1000, 3)}`;
}

/** One packet alone (a missing or extra one): its summary, then 16 bytes a row. */
export function renderPacket(packet: number, side: 'expected' | 'got', bytes: Uint8Array): string {
  const lines = [`packet ${packet} ${side.padStart(8)}: ${summarize(bytes)} (no ${side === 'got' ? 'expected' : 'observed'} packet)`];
  for (let row = 0; row < bytes.length; row += 16) {
    const cells = [...bytes.subarray(row, row + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`${row.toString(16).padStart(4, '0')}  ${cells}`);
  }
  return lines.join('\n');
}
