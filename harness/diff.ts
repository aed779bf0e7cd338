/**
 * Compare what the model predicted with what a kernel did (case-format.md,
 * "Comparing"): every return value and errno, the number and order of
 * packets, and every packet byte for byte, except exactly the fields the
 * prediction marks as judged by rule (`PacketRules`): the IPv4 ID, the
 * header checksum, and IP timestamp-option time fields. Nothing else is ever
 * loosened. Findings are data (a discriminated union, attw `problems.ts`
 * style); the catalogue below keeps a title and description for every kind,
 * and the compiler keeps it complete.
 */
import type { CallResult, ExpectedResult, IdRule, ObservedResult, PacketRules } from '../model/result.js';
import { fieldsOf, sameValue, type Field } from '../model/wire/fields.js';
import * as ipv4 from '../model/wire/ipv4.js';
import { fromHex } from '../model/wire/error.js';

export type CallName = 'socket' | 'setsockopt' | 'bind' | 'connect' | 'send';

export type Finding =
  | {
      kind: 'CallMismatch';
      call: CallName;
      /** Position among the case's setsockopt calls or sends; null for socket, bind, connect. */
      index: number | null;
      /** null: this side has no such call (the other side made it). */
      expected: CallResult | null;
      got: CallResult | null;
    }
  | { kind: 'MissingPacket'; packet: number; expected: Uint8Array }
  | { kind: 'ExtraPacket'; packet: number; got: Uint8Array }
  | { kind: 'LengthMismatch'; packet: number; expected: number; got: number }
  | {
      kind: 'FieldMismatch';
      packet: number;
      field: string;
      /** null: the field is absent on that side (the packets' structures differ). */
      expected: Field | null;
      got: Field | null;
      /** Byte-string fields: packet offset of the first differing byte. */
      firstDiff?: number;
    }
  | {
      kind: 'ByteMismatch';
      packet: number;
      /** First differing byte offset not judged by rule; null bytes lie past that side's end. */
      offset: number;
      expected: number | null;
      got: number | null;
      /** How many byte positions differ (not judged by rule). */
      count: number;
    }
  | {
      kind: 'IdRuleViolation';
      packet: number;
      rule: IdRule;
      /** The ID the rule demands, given the other packets; null if it cannot say. */
      expected: number | null;
      /** null: the observed packet is too short to hold an ID. */
      got: number | null;
      /** `sequence`: the packets of the group that agree on the base this one breaks. */
      agree?: number[];
      base?: number;
    }
  | { kind: 'BadHeaderChecksum'; packet: number; got: number | null; correct: number | null }
  | {
      kind: 'TimestampImplausible';
      packet: number;
      /** Byte offset of the 4-byte time field. */
      offset: number;
      got: number;
      captureMsOfDay: number | null;
      reason: 'not-a-time-of-day' | 'far-from-capture';
    };

export type FindingKind = Finding['kind'];

/** A day in milliseconds: the range of an RFC 791 standard timestamp. */
export const MS_PER_DAY = 86_400_000;
/** How far a TS time may be from the capture time of the case's first packet. */
export const TS_TOLERANCE_MS = 10_000;

export const findingKinds: Record<FindingKind, { title: string; description: string }> = {
  CallMismatch: {
    title: 'Syscall result differs',
    description: 'A socket, setsockopt, bind, connect or send call returned a different value or errno than predicted, or was made on one side only.',
  },
  MissingPacket: {
    title: 'Packet missing',
    description: 'The model predicts a packet at this position that the kernel did not send.',
  },
  ExtraPacket: {
    title: 'Unexpected packet',
    description: 'The kernel sent a packet at this position beyond those the model predicts.',
  },
  LengthMismatch: {
    title: 'Packet length differs',
    description: 'The captured datagram has a different number of bytes than predicted.',
  },
  FieldMismatch: {
    title: 'Field differs',
    description: 'A named header, option or payload field differs from the prediction (or exists on one side only).',
  },
  ByteMismatch: {
    title: 'Bytes differ',
    description: 'The packets differ at this raw byte offset; reported when the packets are laid out differently, so field names alone do not place the difference.',
  },
  IdRuleViolation: {
    title: 'IPv4 ID breaks its rule',
    description: 'The identification field is judged by rule (zero, exact, or a per-group base plus an offset, shared by fragments and counting up across datagrams); this packet breaks it.',
  },
  BadHeaderChecksum: {
    title: 'Bad IPv4 header checksum',
    description: 'The header checksum does not verify over the bytes that were sent.',
  },
  TimestampImplausible: {
    title: 'Implausible IP timestamp',
    description: `An IP timestamp-option time is not milliseconds since midnight UTC (below ${MS_PER_DAY}) or is more than ${TS_TOLERANCE_MS / 1000} s from the capture time (midnight wrap tolerated).`,
  },
};

export interface DiffContext {
  /** Capture time of the case's first packet, ms since 00:00 UTC; null when unknown (TS times then get only the range check). */
  captureMsOfDay: number | null;
}

/** Diff one case's prediction against one observation. Throws if the results are not of the same case (a harness fault). */
export function diffCase(expected: ExpectedResult, observed: ObservedResult, ctx: DiffContext): Finding[] {
  if (expected.id !== observed.id) throw new Error(`diffCase: expected result of case ${JSON.stringify(expected.id)}, observed of ${JSON.stringify(observed.id)}`);
  const out: Finding[] = [];
  const call = (name: CallName, index: number | null, e: CallResult | undefined, g: CallResult | undefined) => {
    if (e === undefined && g === undefined) return;
    if (e !== undefined && g !== undefined && sameCall(e, g)) return;
    out.push({ kind: 'CallMismatch', call: name, index, expected: e ?? null, got: g ?? null });
  };
  call('socket', null, expected.socket, observed.socket);
  for (let i = 0; i < Math.max(expected.setsockopt.length, observed.setsockopt.length); i++) {
    call('setsockopt', i, expected.setsockopt[i], observed.setsockopt[i]);
  }
  call('bind', null, expected.bind, observed.bind);
  call('connect', null, expected.connect, observed.connect);
  for (let i = 0; i < Math.max(expected.sends.length, observed.sends.length); i++) {
    call('send', i, expected.sends[i], observed.sends[i]);
  }

  const exp = expected.packets.map((p) => fromHex(p.hex));
  const obs = observed.packets.map((p) => fromHex(p.hex));
  const common = Math.min(exp.length, obs.length);
  const idFindings = checkIds(expected.packets.slice(0, common).map((p) => p.rules?.['ip.id']), exp, obs);
  for (let i = 0; i < common; i++) {
    out.push(...diffPacket(i, exp[i]!, obs[i]!, expected.packets[i]!.rules, ctx));
    out.push(...idFindings.filter((f) => f.packet === i));
  }
  for (let i = common; i < exp.length; i++) out.push({ kind: 'MissingPacket', packet: i, expected: exp[i]! });
  for (let i = common; i < obs.length; i++) out.push({ kind: 'ExtraPacket', packet: i, got: obs[i]! });
  return out;
}

/** Same outcome: the same return value, or the same errno name (the model's `from` is commentary). */
export function sameCall(a: CallResult, b: CallResult): boolean {
  if ('ret' in a) return 'ret' in b && a.ret === b.ret;
  return 'errno' in b && a.errno === b.errno;
}

const TS_TIME = /^ip\.options\[\d+\]\.time\[\d+\]$/;

/**
 * Byte offsets judged by rule rather than by value for this pair: the ID and
 * the header checksum when the rules name them, and each TS time offset the
 * rules list, only where both packets hold a TS time field there (so a
 * misplaced rule never hides other bytes).
 */
export function judgedOffsets(expected: Uint8Array, observed: Uint8Array, rules: PacketRules | undefined): Set<number> {
  const judged = new Set<number>();
  if (!rules) return judged;
  if (rules['ip.id']) judged.add(ipv4.field.id).add(ipv4.field.id + 1);
  if (rules['ip.checksum'] === 'valid') judged.add(ipv4.field.checksum).add(ipv4.field.checksum + 1);
  const times = rules['ip.options.ts.time'] ?? [];
  if (times.length > 0) {
    const at = (fs: Field[]) => new Set(fs.filter((f) => TS_TIME.test(f.name) && f.length === 4).map((f) => f.offset));
    const e = at(fieldsOf(expected));
    const o = at(fieldsOf(observed));
    for (const off of times) if (e.has(off) && o.has(off)) for (let k = 0; k < 4; k++) judged.add(off + k);
  }
  return judged;
}

/** Where each field sits; a payload (or trailer) that only grows or shrinks keeps the layout. */
function layoutOf(fs: Field[]): string {
  return fs.map((f) => (f.name === 'payload' || f.name === 'trailer' ? `${f.name}@${f.offset}` : `${f.name}@${f.offset}+${f.length}`)).join(' ');
}

/** Compare one packet pair: length, fields, raw bytes, checksum and TS rules. The ID rule is checked across packets (`checkIds`). */
export function diffPacket(packet: number, e: Uint8Array, o: Uint8Array, rules: PacketRules | undefined, ctx: DiffContext): Finding[] {
  const out: Finding[] = [];
  const judged = judgedOffsets(e, o, rules);
  if (e.length !== o.length) out.push({ kind: 'LengthMismatch', packet, expected: e.length, got: o.length });

  const ef = fieldsOf(e);
  const of = fieldsOf(o);
  const byName = new Map(of.map((f) => [f.name, f]));
  const seen = new Set<string>();
  let fieldFindings = 0;
  for (const f of ef) {
    seen.add(f.name);
    const g = byName.get(f.name) ?? null;
    const m = compareField(packet, f, g, judged);
    if (m) {
      out.push(m);
      fieldFindings++;
    }
  }
  for (const g of of) {
    if (seen.has(g.name)) continue;
    out.push({ kind: 'FieldMismatch', packet, field: g.name, expected: null, got: g });
    fieldFindings++;
  }

  // Raw bytes: where the layouts differ, place the first difference by offset
  // too; and as a safety net, never let a byte difference go unreported.
  const raw = firstRawDiff(e, o, judged);
  if (raw && (layoutOf(ef) !== layoutOf(of) || fieldFindings === 0)) out.push({ kind: 'ByteMismatch', packet, ...raw });

  if (rules?.['ip.checksum'] === 'valid' && !ipv4.checksumValid(o)) {
    const fits = o.length >= ipv4.HEADER_LEN && (o[0]! & 0x0f) * 4 >= ipv4.HEADER_LEN && (o[0]! & 0x0f) * 4 <= o.length;
    out.push({
      kind: 'BadHeaderChecksum',
      packet,
      got: o.length >= ipv4.field.checksum + 2 ? (o[ipv4.field.checksum]! << 8) | o[ipv4.field.checksum + 1]! : null,
      correct: fits ? ipv4.headerChecksum(o) : null,
    });
  }

  for (const off of rules?.['ip.options.ts.time'] ?? []) {
    if (!judged.has(off)) continue; // not a TS time on both sides: compared byte for byte above
    const got = ((o[off]! << 24) | (o[off + 1]! << 16) | (o[off + 2]! << 8) | o[off + 3]!) >>> 0;
    const reason = timestampProblem(got, ctx.captureMsOfDay);
    if (reason) out.push({ kind: 'TimestampImplausible', packet, offset: off, got, captureMsOfDay: ctx.captureMsOfDay, reason });
  }
  return out;
}

function compareField(packet: number, f: Field, g: Field | null, judged: Set<number>): Finding | null {
  if (g === null) return { kind: 'FieldMismatch', packet, field: f.name, expected: f, got: null };
  if (f.mask !== undefined || g.mask !== undefined) {
    return sameValue(f.value, g.value) ? null : { kind: 'FieldMismatch', packet, field: f.name, expected: f, got: g };
  }
  if (f.offset === g.offset && f.length === g.length) {
    // Same place: compare the bytes not judged by rule (a fully judged field is skipped).
    if (typeof f.value === 'number' && typeof g.value === 'number') {
      const free = [...Array(f.length).keys()].filter((k) => !judged.has(f.offset + k));
      if (free.length === 0) return null;
      const byte = (v: number, k: number) => Math.floor(v / 256 ** (f.length - 1 - k)) & 0xff;
      if (free.every((k) => byte(f.value as number, k) === byte(g.value as number, k))) return null;
      return { kind: 'FieldMismatch', packet, field: f.name, expected: f, got: g };
    }
  }
  if (sameValue(f.value, g.value)) return null;
  const m: Finding = { kind: 'FieldMismatch', packet, field: f.name, expected: f, got: g };
  if (typeof f.value !== 'number' && typeof g.value !== 'number') {
    const n = Math.min(f.value.length, g.value.length);
    let k = 0;
    while (k < n && f.value[k] === g.value[k]) k++;
    m.firstDiff = g.offset + k;
  }
  return m;
}

function firstRawDiff(e: Uint8Array, o: Uint8Array, judged: Set<number>): { offset: number; expected: number | null; got: number | null; count: number } | null {
  let first = -1;
  let count = 0;
  for (let i = 0; i < Math.max(e.length, o.length); i++) {
    if (judged.has(i) && i < e.length && i < o.length) continue;
    if (e[i] !== o[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return null;
  return { offset: first, expected: e[first] ?? null, got: o[first] ?? null, count };
}

/**
 * An RFC 791 standard timestamp (ms since midnight UTC, `inet_current_timestamp`)
 * near the capture time: the distance is taken around the clock, so 23:59:59.9
 * and 00:00:00.1 are 200 ms apart.
 */
export function timestampProblem(ms: number, captureMsOfDay: number | null): 'not-a-time-of-day' | 'far-from-capture' | null {
  if (!(ms < MS_PER_DAY)) return 'not-a-time-of-day';
  if (captureMsOfDay === null) return null;
  return msOfDayDistance(ms, captureMsOfDay) <= TS_TOLERANCE_MS ? null : 'far-from-capture';
}

/** Distance between two times of day in ms, around the clock. */
export function msOfDayDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % MS_PER_DAY;
  return Math.min(d, MS_PER_DAY - d);
}

/**
 * The ID rules across a case's packets (result.ts `IdRule`). `sequence`:
 * each packet implies a base = id - plus (mod 2^16); within a group the base
 * most packets agree on wins (ties: the earliest packet's), and every packet
 * implying another base is a violation naming the packets it disagrees with.
 */
export function checkIds(rules: Array<IdRule | undefined>, expected: Uint8Array[], observed: Uint8Array[]): Array<Extract<Finding, { kind: 'IdRuleViolation' }>> {
  const out: Array<Extract<Finding, { kind: 'IdRuleViolation' }>> = [];
  const id = (b: Uint8Array | undefined): number | null => (b && b.length >= ipv4.field.id + 2 ? (b[ipv4.field.id]! << 8) | b[ipv4.field.id + 1]! : null);
  const groups = new Map<number, Array<{ packet: number; plus: number; base: number | null }>>();
  rules.forEach((rule, packet) => {
    if (!rule) return;
    const got = id(observed[packet]);
    if (rule.rule === 'zero') {
      if (got !== 0) out.push({ kind: 'IdRuleViolation', packet, rule, expected: 0, got });
    } else if (rule.rule === 'exact') {
      const want = id(expected[packet]);
      if (got !== want) out.push({ kind: 'IdRuleViolation', packet, rule, expected: want, got });
    } else {
      const g = groups.get(rule.group) ?? [];
      g.push({ packet, plus: rule.plus, base: got === null ? null : (got - rule.plus + 0x10000) & 0xffff });
      groups.set(rule.group, g);
    }
  });
  for (const members of groups.values()) {
    const votes = new Map<number, number[]>();
    for (const m of members) if (m.base !== null) votes.set(m.base, [...(votes.get(m.base) ?? []), m.packet]);
    let best: number | null = null;
    for (const [base, ps] of votes) {
      const cur = best === null ? undefined : votes.get(best)!;
      if (cur === undefined || ps.length > cur.length || (ps.length === cur.length && ps[0]! < cur[0]!)) best = base;
    }
    for (const m of members) {
      if (m.base !== null && m.base === best) continue;
      const rule = rules[m.packet]!;
      out.push({
        kind: 'IdRuleViolation',
        packet: m.packet,
        rule,
        expected: best === null ? null : (best + m.plus) & 0xffff,
        got: m.base === null ? null : (m.base + m.plus) & 0xffff,
        agree: best === null ? [] : votes.get(best)!,
        ...(best === null ? {} : { base: best }),
      });
    }
  }
  return out.sort((a, b) => a.packet - b.packet);
}
