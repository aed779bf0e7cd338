import test from 'ava';
import * as udp from './udp.js';
import { WireError, fromHex, toHex } from './error.js';

const SRC = 0xc6120001;
const DST = 0xc6120002;

test('emit then parse round-trips; fillChecksum makes it verify', (t) => {
  const seg = udp.emit({ srcPort: 53, dstPort: 65535 }, Uint8Array.of(9, 8, 7));
  const c = udp.fillChecksum(SRC, DST, 17, seg);
  const { repr, payload } = udp.parse(seg);
  t.deepEqual(repr, { srcPort: 53, dstPort: 65535, length: 11, checksum: c });
  t.deepEqual([...payload], [9, 8, 7]);
  t.true(udp.checksumValid(SRC, DST, 17, seg));
  seg[10] = seg[10]! ^ 0x80;
  t.false(udp.checksumValid(SRC, DST, 17, seg));
});

test('a computed 0 is sent as 0xffff (CSUM_MANGLED_0), and 0xffff verifies', (t) => {
  // Payload word 0xbc19 makes the one's-complement sum 0xffff (found with a separate Python sum).
  const seg = fromHex(ZERO_SUM_SEGMENT);
  t.is(udp.computeChecksum(SRC, DST, 17, seg), 0);
  t.is(udp.fillChecksum(SRC, DST, 17, seg), 0xffff);
  t.is(toHex(seg.subarray(6, 8)), 'ffff');
  t.true(udp.checksumValid(SRC, DST, 17, seg));
});

test('a transmitted 0 means "no checksum" for UDP but not for UDP-Lite', (t) => {
  const seg = fromHex('9c401b58000c0000 00010203');
  t.true(udp.checksumValid(SRC, DST, 17, seg));
  t.false(udp.checksumValid(SRC, DST, 136, seg));
});

test('UDP-Lite: coverage in the length field, checksum over the covered bytes, pseudo-header over all', (t) => {
  const seg = udp.emit({ srcPort: 40000, dstPort: 7000, coverage: 8 }, Uint8Array.of(0, 1, 2, 3));
  t.is(toHex(seg.subarray(4, 6)), '0008');
  t.is(udp.fillChecksum(SRC, DST, 136, seg, 8), 0xbba2); // separate Python sum over pseudo(len 12) + 8 header bytes
  t.true(udp.checksumValid(SRC, DST, 136, seg));
  seg[11] = seg[11]! ^ 0xff; // outside coverage: still valid
  t.true(udp.checksumValid(SRC, DST, 136, seg));
  seg[1] = seg[1]! ^ 0x01; // inside coverage
  t.false(udp.checksumValid(SRC, DST, 136, seg));
  const back = udp.parse(seg, true);
  t.is(back.repr.coverage, 8);
  t.is(back.payload.length, 4);
});

test('UDP-Lite coverage 0 covers everything', (t) => {
  const full = udp.emit({ srcPort: 1, dstPort: 2, coverage: 0 }, Uint8Array.of(5, 6));
  const c0 = udp.computeChecksum(SRC, DST, 136, full, 0);
  t.is(c0, udp.computeChecksum(SRC, DST, 136, full, full.length));
  t.not(c0, udp.computeChecksum(SRC, DST, 136, full, 8));
});

test('check_len errors name the problem and show the bytes', (t) => {
  t.throws(() => udp.parse(fromHex('9c401b58000c')), { instanceOf: WireError, message: /shorter than the 8-byte header.*9c 40 1b 58 00 0c/ });
  t.throws(() => udp.parse(fromHex('9c401b5800070000')), { instanceOf: WireError, message: /length 7 is shorter/ });
  t.throws(() => udp.parse(fromHex('9c401b58000d0000 00010203')), { instanceOf: WireError, message: /length 13 runs past/ });
  t.throws(() => udp.parse(fromHex('9c401b5800040000'), true), { instanceOf: WireError, message: /coverage 4/ });
});

// RFC 768 layout by hand: 40000 > 7000, length 12, checksum 0xba11 over
// pseudo-header 198.18.0.1 > 198.18.0.2 (Python sum), payload 00 01 02 03.
const FIXTURE = '9c40' + '1b58' + '000c' + 'ba11' + '00010203';
const ZERO_SUM_SEGMENT = '9c401b58000a0000bc19';

test('fixture: emit + fillChecksum reproduce the hand-made segment', (t) => {
  const seg = udp.emit({ srcPort: 40000, dstPort: 7000 }, Uint8Array.of(0, 1, 2, 3));
  udp.fillChecksum(SRC, DST, 17, seg);
  t.is(toHex(seg), FIXTURE);
  t.deepEqual(udp.parse(fromHex(FIXTURE)).repr, { srcPort: 40000, dstPort: 7000, length: 12, checksum: 0xba11 });
});
