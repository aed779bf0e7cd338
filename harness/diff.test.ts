import test from 'ava';
import { diffCase, findingKinds, timestampProblem, type Finding } from './diff.js';
import type { ExpectedPacket, ExpectedResult, IdRule, ObservedResult, PacketRules } from '../model/result.js';
import * as ipv4 from '../model/wire/ipv4.js';
import * as udp from '../model/wire/udp.js';
import { fieldsOf } from '../model/wire/fields.js';
import { toHex, fromHex } from '../model/wire/error.js';

const SRC = 0xc6120001;
const DST = 0xc6120002;
const CTX = { captureMsOfDay: null };

function datagram(over: Partial<ipv4.Ipv4Repr> = {}, payloadLen = 4): Uint8Array {
  const seg = udp.emit({ srcPort: 40000, dstPort: 7000 }, Uint8Array.from({ length: payloadLen }, (_, i) => i & 0xff));
  udp.fillChecksum(SRC, DST, 17, seg);
  return ipv4.emit({ tos: 0, id: 0x1234, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 17, src: SRC, dst: DST, options: new Uint8Array(), ...over }, seg);
}

/** Re-stamp a valid header checksum after a mutation (what a kernel would send). */
function recheck(b: Uint8Array): Uint8Array {
  b[10] = 0;
  b[11] = 0;
  const c = ipv4.headerChecksum(b);
  b[10] = c >> 8;
  b[11] = c & 0xff;
  return b;
}

const rules = (id: IdRule, extra: Partial<PacketRules> = {}): PacketRules => ({ 'ip.id': id, 'ip.checksum': 'valid', ...extra });
const seq0: IdRule = { rule: 'sequence', group: 0, plus: 0 };

function results(exp: Array<[Uint8Array, PacketRules]>, obs: Uint8Array[], calls: Partial<ExpectedResult> = {}, got: Partial<ObservedResult> = {}) {
  const expected: ExpectedResult = { id: 'c', setsockopt: [], sends: [{ ret: 4 }], packets: exp.map(([b, r]): ExpectedPacket => ({ hex: toHex(b), rules: r })), ...calls };
  const observed: ObservedResult = { id: 'c', setsockopt: [], sends: [{ ret: 4 }], packets: obs.map((b) => ({ hex: toHex(b) })), ...got };
  return [expected, observed] as const;
}

const kinds = (fs: Finding[]) => fs.map((f) => (f.kind === 'FieldMismatch' ? `${f.kind} ${f.field}` : f.kind));

test('identical up to the rule-judged ID and a recomputed checksum: no findings', (t) => {
  const e = datagram();
  const o = recheck(datagram({ id: 0xbeef }));
  t.deepEqual(diffCase(...results([[e, rules(seq0)]], [o]), CTX), []);
});

test('one flipped byte anywhere not judged by rule is named by the field that owns it', (t) => {
  const e = datagram({ options: Uint8Array.of(0x94, 0x04, 0x00, 0x00) });
  const owner = (i: number) => fieldsOf(e).filter((f) => i >= f.offset && i < f.offset + f.length && (f.mask === undefined || f.mask !== 0));
  for (let i = 0; i < e.length; i++) {
    if (i === 4 || i === 5 || i === 10 || i === 11) continue;
    const o = e.slice();
    o[i] = o[i]! ^ 0x01;
    recheck(o);
    const fs = diffCase(...results([[e, rules({ rule: 'exact' })]], [o]), CTX);
    const named = fs.filter((f): f is Extract<Finding, { kind: 'FieldMismatch' }> => f.kind === 'FieldMismatch').map((f) => f.field);
    t.true(named.length > 0, `byte ${i}: ${JSON.stringify(kinds(fs))}`);
    // The first name is always the owner; where the flip leaves the layout alone, every name is.
    t.true(owner(i).some((f) => f.name === named[0]), `byte ${i} named ${named.join(',')}`);
    const layout = (b: Uint8Array) => fieldsOf(b).map((f) => `${f.name}@${f.offset}+${f.length}`).join();
    if (layout(o) === layout(e)) t.true(named.every((n) => owner(i).some((f) => f.name === n)), `byte ${i} named ${named.join(',')}`);
  }
});

test('a changed TTL: FieldMismatch ip.ttl, and without re-stamping also BadHeaderChecksum', (t) => {
  const e = datagram();
  const o = e.slice();
  o[8] = 63;
  const fs = diffCase(...results([[e, rules(seq0)]], [o]), CTX);
  t.deepEqual(kinds(fs), ['FieldMismatch ip.ttl', 'BadHeaderChecksum']);
  t.like(fs[0], { packet: 0, expected: { value: 64 }, got: { value: 63 } });
  const c = ipv4.headerChecksum(o);
  t.like(fs[1], { got: (e[10]! << 8) | e[11]!, correct: c });
});

test('a corrupted checksum alone is BadHeaderChecksum, not a field diff', (t) => {
  const e = datagram();
  const o = e.slice();
  o[11] = o[11]! ^ 0xff;
  const fs = diffCase(...results([[e, rules(seq0)]], [o]), CTX);
  t.deepEqual(kinds(fs), ['BadHeaderChecksum']);
  t.like(fs[0], { correct: (e[10]! << 8) | e[11]! });
});

test('without rules the ID and checksum are compared byte for byte (never loosened)', (t) => {
  const e = datagram();
  const o = recheck(datagram({ id: 0x1235 }));
  const fs = diffCase(...results([[e, undefined as unknown as PacketRules]], [o]), CTX);
  t.deepEqual(kinds(fs), ['FieldMismatch ip.id', 'FieldMismatch ip.checksum']);
});

test('payload difference: the offset of the first differing byte', (t) => {
  const e = datagram({}, 100);
  const o = e.slice();
  o[28 + 57] = 0xee; // udp checksum now stale too: it must be reported, it is not a judged field
  const fs = diffCase(...results([[e, rules(seq0)]], [o]), CTX);
  t.deepEqual(kinds(fs), ['FieldMismatch payload']);
  t.like(fs[0], { firstDiff: 85 });
  const o2 = e.slice();
  o2[26] = o2[26]! ^ 1;
  t.deepEqual(kinds(diffCase(...results([[e, rules(seq0)]], [o2]), CTX)), ['FieldMismatch udp.checksum']);
});

test('ID rule sequence: a fragment whose ID differs from its siblings is the one reported', (t) => {
  const frag = (id: number, off: number) => recheck(datagram({ id, fragOffset: off, mf: off < 16, df: false }));
  const exp: Array<[Uint8Array, PacketRules]> = [0, 8, 16].map((off) => [frag(0, off), rules(seq0)]);
  t.deepEqual(diffCase(...results(exp, [frag(0x77, 0), frag(0x77, 8), frag(0x77, 16)]), CTX), []);
  for (const bad of [0, 1, 2]) {
    const ids = [0x1234, 0x1234, 0x1234];
    ids[bad] = 0x1235;
    const fs = diffCase(...results(exp, ids.map((id, i) => frag(id, i * 8))), CTX);
    t.is(fs.length, 1);
    t.like(fs[0], { kind: 'IdRuleViolation', packet: bad, expected: 0x1234, got: 0x1235, base: 0x1234, agree: [0, 1, 2].filter((i) => i !== bad) });
  }
});

test('ID rule sequence: datagrams count up by plus, modulo 2^16; a skipped value is caught', (t) => {
  const exp: Array<[Uint8Array, PacketRules]> = [0, 1, 2].map((plus) => [datagram({ id: 0 }), rules({ rule: 'sequence', group: 3, plus })]);
  t.deepEqual(diffCase(...results(exp, [0xffff, 0x0000, 0x0001].map((id) => recheck(datagram({ id })))), CTX), []);
  const fs = diffCase(...results(exp, [0xffff, 0x0000, 0x0002].map((id) => recheck(datagram({ id })))), CTX);
  t.like(fs, [{ kind: 'IdRuleViolation', packet: 2, expected: 0x0001, got: 0x0002, agree: [0, 1] }]);
});

test('ID rules zero and exact', (t) => {
  const e = datagram({ id: 0 });
  t.deepEqual(diffCase(...results([[e, rules({ rule: 'zero' })]], [e]), CTX), []);
  const fs = diffCase(...results([[e, rules({ rule: 'zero' })]], [recheck(datagram({ id: 5 }))]), CTX);
  t.like(fs, [{ kind: 'IdRuleViolation', packet: 0, rule: { rule: 'zero' }, expected: 0, got: 5 }]);
  const ex = datagram({ id: 0xabcd });
  t.deepEqual(diffCase(...results([[ex, rules({ rule: 'exact' })]], [ex]), CTX), []);
  t.like(diffCase(...results([[ex, rules({ rule: 'exact' })]], [recheck(datagram({ id: 0xabce }))]), CTX), [{ kind: 'IdRuleViolation', expected: 0xabcd, got: 0xabce }]);
});

test('TS option times: judged by plausibility at the listed offsets only', (t) => {
  // TS TSONLY, len 8, ptr 9 (one time recorded), at header offset 20: time at 24.
  const withTime = (ms: number) => recheck(datagram({ options: Uint8Array.of(0x44, 0x08, 0x09, 0x00, ms >>> 24, (ms >>> 16) & 255, (ms >>> 8) & 255, ms & 255) }));
  const e = withTime(0);
  const r = rules(seq0, { 'ip.options.ts.time': [24] });
  const noon = 43_200_000;
  t.deepEqual(diffCase(...results([[e, r]], [withTime(noon + 5_000)]), { captureMsOfDay: noon }), []);
  t.like(diffCase(...results([[e, r]], [withTime(noon + 11_000)]), { captureMsOfDay: noon }), [{ kind: 'TimestampImplausible', offset: 24, got: noon + 11_000, reason: 'far-from-capture' }]);
  t.like(diffCase(...results([[e, r]], [withTime(90_000_000)]), { captureMsOfDay: null }), [{ kind: 'TimestampImplausible', reason: 'not-a-time-of-day' }]);
  t.deepEqual(diffCase(...results([[e, r]], [withTime(86_399_000)]), { captureMsOfDay: 2_000 }), [], 'midnight wrap');
  // Without the rule, the time is an ordinary field.
  t.deepEqual(kinds(diffCase(...results([[e, rules(seq0)]], [withTime(noon)]), { captureMsOfDay: noon })), ['FieldMismatch ip.options[0].time[0]']);
  // A rule pointing at a byte that is not a TS time hides nothing.
  const plain = datagram({}, 8);
  const o = plain.slice();
  o[30] = 0x99;
  t.deepEqual(kinds(diffCase(...results([[plain, rules(seq0, { 'ip.options.ts.time': [28] })]], [o]), CTX)), ['FieldMismatch payload']);
});

test('timestampProblem boundaries', (t) => {
  t.is(timestampProblem(86_399_999, null), null);
  t.is(timestampProblem(86_400_000, null), 'not-a-time-of-day');
  t.is(timestampProblem(0x80000000, null), 'not-a-time-of-day');
  t.is(timestampProblem(10_000, 0), null);
  t.is(timestampProblem(10_001, 0), 'far-from-capture');
  t.is(timestampProblem(86_390_000, 0), null);
  t.is(timestampProblem(86_389_999, 0), 'far-from-capture');
});

test('calls: errno vs ret, missing results, and `from` is commentary', (t) => {
  const [e, o] = results([], [], {
    setsockopt: [{ ret: 0 }, { errno: 'EINVAL', from: 'do_ip_setsockopt' }],
    sends: [{ errno: 'EINVAL', from: 'ip_cmsg_send' }, { ret: 1 }],
  }, { setsockopt: [{ ret: 0 }, { errno: 'EINVAL' }], sends: [{ ret: 100 }] });
  const fs = diffCase(e, o, CTX);
  t.deepEqual(fs, [
    { kind: 'CallMismatch', call: 'send', index: 0, expected: { errno: 'EINVAL', from: 'ip_cmsg_send' }, got: { ret: 100 } },
    { kind: 'CallMismatch', call: 'send', index: 1, expected: { ret: 1 }, got: null },
  ]);
  const [e2, o2] = results([], [], { bind: { ret: 0 } }, { bind: { errno: 'EADDRINUSE' } });
  t.like(diffCase(e2, o2, CTX), [{ kind: 'CallMismatch', call: 'bind', index: null }]);
});

test('missing and extra packets, matched by index', (t) => {
  const a = datagram({ ttl: 1 });
  const b = datagram({ ttl: 2 });
  t.deepEqual(kinds(diffCase(...results([[a, rules(seq0)], [b, rules(seq0)]], [a]), CTX)), ['MissingPacket']);
  t.deepEqual(kinds(diffCase(...results([[a, rules(seq0)]], [a, b]), CTX)), ['ExtraPacket']);
  // Swapped order is a difference, not a match.
  t.deepEqual(kinds(diffCase(...results([[a, rules(seq0)], [b, rules(seq0)]], [b, a]), CTX)), ['FieldMismatch ip.ttl', 'FieldMismatch ip.ttl']);
});

test('different structure (an extra option): each differing field, then the raw byte offset', (t) => {
  const e = datagram();
  const o = datagram({ options: Uint8Array.of(0x94, 0x04, 0x00, 0x00) });
  const fs = diffCase(...results([[e, rules(seq0)]], [o]), CTX);
  t.deepEqual(kinds(fs), [
    'LengthMismatch',
    'FieldMismatch ip.ihl',
    'FieldMismatch ip.total_length',
    'FieldMismatch ip.options[0].type',
    'FieldMismatch ip.options[0].length',
    'FieldMismatch ip.options[0].data',
    'ByteMismatch',
  ]);
  t.like(fs.at(-1), { offset: 0, expected: 0x45, got: 0x46 });
  t.like(fs[3], { expected: null, got: { value: 0x94 } });
});

test('a truncated observed packet is still diffed, not thrown on', (t) => {
  const e = datagram();
  const fs = diffCase(...results([[e, rules(seq0)]], [e.subarray(0, 26)]), CTX);
  t.true(kinds(fs).includes('LengthMismatch'));
  t.true(kinds(fs).includes('FieldMismatch udp.checksum'));
});

test('a harness fault: bad hex or another case id throws', (t) => {
  const [e, o] = results([], []);
  t.throws(() => diffCase(e, { ...o, id: 'other' }, CTX), { message: /case "c", observed of "other"/ });
  t.throws(() => diffCase(e, { ...o, packets: [{ hex: '4' }] }, CTX), { message: /not a hex byte string/ });
  t.notThrows(() => fromHex('45 00'));
});

test('the catalogue describes every finding kind', (t) => {
  for (const [kind, { title, description }] of Object.entries(findingKinds)) {
    t.true(title.length > 0 && description.length > 20, kind);
  }
  t.is(Object.keys(findingKinds).length, 9);
});
