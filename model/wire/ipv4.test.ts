import test from 'ava';
import * as ipv4 from './ipv4.js';
import { WireError, fromHex, toHex } from './error.js';

const A_SRC = 0xc6120001; // 198.18.0.1
const A_DST = 0xc6120002; // 198.18.0.2

test('emit then parse round-trips every field, options included', (t) => {
  const repr: ipv4.Ipv4Repr = {
    tos: 0xb8, id: 0xbeef, df: false, mf: true, fragOffset: 1480, ttl: 3, protocol: 17,
    src: A_SRC, dst: A_DST, options: Uint8Array.of(0x94, 0x04, 0x00, 0x00),
  };
  const payload = Uint8Array.of(1, 2, 3);
  const bytes = ipv4.emit(repr, payload);
  const { repr: back, payload: p } = ipv4.parse(bytes);
  t.deepEqual(back, { ...repr, version: 4, ihl: 6, totalLength: 27, checksum: back.checksum, reserved: false });
  t.deepEqual([...p], [1, 2, 3]);
  t.true(ipv4.checksumValid(bytes));
});

test('checksumValid rejects one flipped header bit and a header past the end', (t) => {
  const bytes = fromHex(FIXTURE_UDP);
  t.true(ipv4.checksumValid(bytes));
  bytes[8] = bytes[8]! ^ 0x01; // ttl
  t.false(ipv4.checksumValid(bytes));
  t.false(ipv4.checksumValid(fromHex('47000020')));
});

test('check_len: truncated and invalid datagrams throw a WireError showing the bytes', (t) => {
  const good = fromHex(FIXTURE_UDP);
  const cases: Array<[Uint8Array, RegExp]> = [
    [good.subarray(0, 19), /shorter than the 20-byte header/],
    [Uint8Array.from(good, (b, i) => (i === 0 ? 0x65 : b)), /version 6/],
    [Uint8Array.from(good, (b, i) => (i === 0 ? 0x44 : b)), /IHL 4 is below 5/],
    [Uint8Array.from(good, (b, i) => (i === 0 ? 0x4f : b)), /IHL 15 runs past the end/],
    [Uint8Array.from(good, (b, i) => (i === 3 ? 0x10 : b)), /total length 16 is shorter than the header/],
    [good.subarray(0, 31), /total length 32 runs past the end/],
  ];
  for (const [bytes, msg] of cases) {
    const e = t.throws(() => ipv4.parse(bytes), { instanceOf: WireError, message: msg });
    t.true(e!.message.includes(toHex(bytes.subarray(0, 4)).replace(/(..)(?!$)/g, '$1 ')), e!.message);
  }
});

test('bytes past the total length (link padding) are not payload', (t) => {
  const padded = fromHex(FIXTURE_UDP + '0000');
  t.is(ipv4.parse(padded).payload.length, 12);
});

// Fixtures written from the RFC 791 layout by hand; checksums computed
// separately (a Python one's-complement sum), not by this module.
// 198.18.0.1 > 198.18.0.2, id 0x1234, DF, ttl 64, UDP 40000 > 7000, payload 00 01 02 03.
const FIXTURE_UDP = '45000020' + '12344000' + '40119c71' + 'c6120001' + 'c6120002' + '9c401b58000cba11' + '00010203';
// tos 0x10, id 1, ttl 1, RR option (07 07 04, one empty slot) + EOL, same UDP segment.
const FIXTURE_RR = '47100028' + '00010000' + '01112086' + 'c6120001' + 'c6120002' + '0707040000000000' + '9c401b58000cba11' + '00010203';

test('fixture: emit reproduces the hand-made UDP datagram', (t) => {
  const bytes = ipv4.emit(
    { tos: 0, id: 0x1234, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 17, src: A_SRC, dst: A_DST, options: new Uint8Array() },
    fromHex('9c401b58000cba11 00010203'),
  );
  t.is(toHex(bytes), FIXTURE_UDP);
});

test('fixture: parse reads the hand-made datagram with an RR option', (t) => {
  const { repr, payload } = ipv4.parse(fromHex(FIXTURE_RR));
  t.like(repr, { version: 4, ihl: 7, tos: 0x10, totalLength: 40, id: 1, df: false, mf: false, fragOffset: 0, ttl: 1, protocol: 17, checksum: 0x2086, src: A_SRC, dst: A_DST });
  t.is(toHex(repr.options), '0707040000000000');
  t.is(toHex(payload), '9c401b58000cba1100010203');
  t.is(toHex(ipv4.emit(repr, payload)), FIXTURE_RR);
});
