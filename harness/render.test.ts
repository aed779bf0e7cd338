import test from 'ava';
import { hexDiff, renderFinding, renderFindings, summarize } from './render.js';
import { diffCase, judgedOffsets, type Finding } from './diff.js';
import type { ExpectedResult, ObservedResult } from '../model/result.js';
import * as ipv4 from '../model/wire/ipv4.js';
import * as udp from '../model/wire/udp.js';
import * as icmp from '../model/wire/icmp.js';
import { fieldsOf } from '../model/wire/fields.js';
import { fromHex, toHex } from '../model/wire/error.js';

const SRC = 0xc6120001;
const DST = 0xc6120002;
const base: ipv4.Ipv4Repr = { tos: 0, id: 0x1234, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 17, src: SRC, dst: DST, options: new Uint8Array() };

function udpDatagram(payloadLen: number, over: Partial<ipv4.Ipv4Repr> = {}): Uint8Array {
  const seg = udp.emit({ srcPort: 40000, dstPort: 7000 }, Uint8Array.from({ length: payloadLen }, (_, i) => i & 0xff));
  udp.fillChecksum(SRC, DST, 17, seg);
  return ipv4.emit({ ...base, ...over }, seg);
}

// Hand-made from RFC 791/768 (checksums from a separate Python sum).
const FIXTURE_UDP = '450000201234400040119c71c6120001c6120002' + '9c401b58000cba11' + '00010203';

test('summary: only non-default flags', (t) => {
  t.is(summarize(udpDatagram(100)), 'IPv4 198.18.0.1 > 198.18.0.2 id 0x1234 DF ttl 64 len 128 UDP 40000 > 7000 len 108');
  t.is(
    summarize(ipv4.emit({ ...base, tos: 0x10, id: 7, df: false, mf: true, fragOffset: 1480 }, new Uint8Array(9))),
    'IPv4 198.18.0.1 > 198.18.0.2 tos 0x10 id 0x0007 MF frag 1480 ttl 64 len 29 UDP fragment 9 bytes',
  );
  t.is(
    summarize(ipv4.emit({ ...base, id: 0, df: false, protocol: 1, options: fromHex('0707040000000000') }, icmp.emit({ type: 8, code: 0, id: 5, seq: 6 }, new TextEncoder().encode('abcd')))),
    'IPv4 198.18.0.1 > 198.18.0.2 id 0x0000 ttl 64 options [RR,EOL] len 40 ICMP echo request id 0x0005 seq 6',
  );
  const bad = fromHex(FIXTURE_UDP);
  bad[10] = 0;
  bad[11] = 0;
  t.is(summarize(bad), 'IPv4 198.18.0.1 > 198.18.0.2 id 0x1234 DF ttl 64 bad cksum 0x0000 len 32 UDP 40000 > 7000 len 12');
  t.is(summarize(fromHex('4500')), 'IPv4 (malformed, 2 bytes) 4500');
});

test('findings from a real diff, end to end: a 1500-byte datagram that came out 4 bytes short', (t) => {
  const e = udpDatagram(1472);
  const o = udpDatagram(1468);
  const same = udpDatagram(10);
  const rules = { 'ip.id': { rule: 'exact' as const }, 'ip.checksum': 'valid' as const };
  const expected: ExpectedResult = { id: 'x', setsockopt: [], sends: [{ ret: 10 }, { ret: 10 }, { ret: 1472 }], packets: [same, same, e].map((b) => ({ hex: toHex(b), rules })) };
  const observed: ObservedResult = { id: 'x', setsockopt: [], sends: [{ ret: 10 }, { ret: 10 }, { ret: 1468 }], packets: [same, same, o].map((b) => ({ hex: toHex(b) })) };
  t.is(
    renderFindings(diffCase(expected, observed, { captureMsOfDay: null })),
    [
      'send 2: expected ret 1472, got ret 1468',
      'packet 2 length: expected 1500 bytes, got 1496 bytes',
      'packet 2 ip.total_length: expected 1500 (0x05dc), got 1496 (0x05d8)',
      'packet 2 udp.length: expected 1480 (0x05c8), got 1476 (0x05c4)',
      'packet 2 udp.checksum: expected 11067 (0x2b3b), got 42688 (0xa6c0)',
      'packet 2 payload: expected 1472 bytes, got 1468 bytes, equal for the first 1468 bytes',
    ].join('\n'),
  );
});

test('one line per finding kind', (t) => {
  const e = fromHex(FIXTURE_UDP);
  const field = (name: string, b: Uint8Array) => fieldsOf(b).find((f) => f.name === name)!;
  const other = ipv4.emit({ ...base, dst: 0xc6120003, df: false, fragOffset: 1488, options: fromHex('94040001') }, new Uint8Array());
  const withRa = ipv4.emit({ ...base, options: fromHex('94040000') }, new Uint8Array());
  const lines: Array<[Finding, string]> = [
    [{ kind: 'CallMismatch', call: 'send', index: 0, expected: { errno: 'EINVAL', from: 'ip_cmsg_send' }, got: { ret: 100 } }, 'send 0: expected errno EINVAL (ip_cmsg_send), got ret 100'],
    [{ kind: 'CallMismatch', call: 'setsockopt', index: 3, expected: { ret: 0 }, got: { errno: 'ENOPROTOOPT' } }, 'setsockopt 3: expected ret 0, got errno ENOPROTOOPT'],
    [{ kind: 'CallMismatch', call: 'send', index: 1, expected: { ret: 1 }, got: null }, 'send 1: expected ret 1, got no call'],
    [{ kind: 'CallMismatch', call: 'connect', index: null, expected: { ret: 0 }, got: { errno: 'ENETUNREACH' } }, 'connect: expected ret 0, got errno ENETUNREACH'],
    [{ kind: 'MissingPacket', packet: 1, expected: e }, 'packet 1: expected IPv4 198.18.0.1 > 198.18.0.2 id 0x1234 DF ttl 64 len 32 UDP 40000 > 7000 len 12, got nothing'],
    [{ kind: 'ExtraPacket', packet: 4, got: e }, 'packet 4: expected nothing, got IPv4 198.18.0.1 > 198.18.0.2 id 0x1234 DF ttl 64 len 32 UDP 40000 > 7000 len 12'],
    [{ kind: 'FieldMismatch', packet: 0, field: 'ip.dst', expected: field('ip.dst', e), got: field('ip.dst', other) }, 'packet 0 ip.dst: expected 198.18.0.2, got 198.18.0.3'],
    [{ kind: 'FieldMismatch', packet: 0, field: 'ip.df', expected: field('ip.df', e), got: field('ip.df', other) }, 'packet 0 ip.df: expected 1, got 0'],
    [{ kind: 'FieldMismatch', packet: 0, field: 'ip.frag_offset', expected: field('ip.frag_offset', udpDatagram(0, { fragOffset: 1480 })), got: field('ip.frag_offset', other) }, 'packet 0 ip.frag_offset: expected 1480 (0x05c8), got 1488 (0x05d0)'],
    [{ kind: 'FieldMismatch', packet: 0, field: 'ip.options[0].data', expected: field('ip.options[0].data', withRa), got: field('ip.options[0].data', other) }, 'packet 0 ip.options[0].data: expected 0000, got 0001'],
    [{ kind: 'FieldMismatch', packet: 0, field: 'ip.options[0].type', expected: null, got: field('ip.options[0].type', other) }, 'packet 0 ip.options[0].type: expected absent, got 148 (0x94)'],
    [{ kind: 'ByteMismatch', packet: 0, offset: 0, expected: 0x45, got: 0x46, count: 14 }, 'packet 0 byte 0: expected 0x45, got 0x46 (14 bytes differ)'],
    [{ kind: 'ByteMismatch', packet: 3, offset: 32, expected: 0x00, got: null, count: 1 }, 'packet 3 byte 32: expected 0x00, got end of packet (1 byte differs)'],
    [{ kind: 'IdRuleViolation', packet: 2, rule: { rule: 'sequence', group: 0, plus: 0 }, expected: 0x1234, got: 0x1235, agree: [0, 1], base: 0x1234 }, 'packet 2 ip.id: expected 0x1234 (rule sequence: group 0 base 0x1234 from packets 0,1, plus 0), got 0x1235'],
    [{ kind: 'IdRuleViolation', packet: 0, rule: { rule: 'zero' }, expected: 0, got: 5 }, 'packet 0 ip.id: expected 0 (rule zero), got 0x0005'],
    [{ kind: 'IdRuleViolation', packet: 1, rule: { rule: 'exact' }, expected: 0xabcd, got: 0xabce }, 'packet 1 ip.id: expected 0xabcd (rule exact), got 0xabce'],
    [{ kind: 'BadHeaderChecksum', packet: 0, got: 0x9c8e, correct: 0x9c71 }, 'packet 0 ip.checksum: 0x9c8e does not verify, correct is 0x9c71'],
    [{ kind: 'TimestampImplausible', packet: 0, offset: 24, got: 43_211_000, captureMsOfDay: 43_200_000, reason: 'far-from-capture' }, 'packet 0 ip.options TS time at byte 24: 12:00:11.000 is 11.000 s from the capture at 12:00:00.000 (limit 10 s)'],
    [{ kind: 'TimestampImplausible', packet: 0, offset: 24, got: 90_000_000, captureMsOfDay: null, reason: 'not-a-time-of-day' }, 'packet 0 ip.options TS time at byte 24: 90000000 (0x055d4a80) is not ms since midnight UTC (must be below 86400000)'],
    [{ kind: 'TimestampImplausible', packet: 0, offset: 24, got: 500, captureMsOfDay: 86_380_000, reason: 'far-from-capture' }, 'packet 0 ip.options TS time at byte 24: 00:00:00.500 is 20.500 s from the capture at 23:59:40.000 (limit 10 s)'],
  ];
  for (const [f, line] of lines) t.is(renderFinding(f), line);
});

test('side-by-side hex dump: ^^ under differences, ~~ under rule-judged ones', (t) => {
  const e = fromHex(FIXTURE_UDP);
  const o = fromHex('45000020beef4000' + '4011efb5c6120001' + 'c61200029c401b58' + '000cba1100010204');
  const judged = judgedOffsets(e, o, { 'ip.id': { rule: 'sequence', group: 0, plus: 0 }, 'ip.checksum': 'valid' });
  t.is(
    hexDiff(e, o, judged),
    [
      'offs  expected                                         |  got',
      '0000  45 00 00 20 12 34 40 00 40 11 9c 71 c6 12 00 01  |  45 00 00 20 be ef 40 00 40 11 ef b5 c6 12 00 01',
      '                  ~~ ~~             ~~ ~~              |              ~~ ~~             ~~ ~~',
      '0010  c6 12 00 02 9c 40 1b 58 00 0c ba 11 00 01 02 03  |  c6 12 00 02 9c 40 1b 58 00 0c ba 11 00 01 02 04',
      '                                                   ^^  |                                               ^^',
    ].join('\n'),
  );
  t.is(
    hexDiff(fromHex('45000020'), fromHex('4500')),
    [
      'offs  expected                                         |  got',
      '0000  45 00 00 20                                      |  45 00 -- --',
      '            ^^ ^^                                      |        ^^ ^^',
    ].join('\n'),
  );
});
