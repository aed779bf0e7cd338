import test from 'ava';
import * as icmp from './icmp.js';
import { WireError, fromHex, toHex } from './error.js';

test('emit then parse round-trips an echo request', (t) => {
  const m = icmp.emit({ type: icmp.ICMP_ECHO, code: 0, id: 0xabcd, seq: 7 }, Uint8Array.of(1, 2, 3));
  const { repr, data } = icmp.parse(m);
  t.like(repr, { type: 8, code: 0, id: 0xabcd, seq: 7 });
  t.deepEqual([...data], [1, 2, 3]);
  t.true(icmp.checksumValid(m));
  m[9] = m[9]! ^ 1;
  t.false(icmp.checksumValid(m));
});

test('no 0 -> 0xffff mapping: a message summing to 0xffff carries checksum 0', (t) => {
  // 0x0800 + id 0xf7ff = 0xffff: the checksum is 0 and stays 0.
  const m = icmp.emit({ type: 8, code: 0, id: 0xf7ff, seq: 0 }, new Uint8Array());
  t.is(toHex(m), '08000000f7ff0000');
  t.true(icmp.checksumValid(m));
});

test('check_len', (t) => {
  t.throws(() => icmp.parse(fromHex('0800f7ff')), { instanceOf: WireError, message: /shorter than the 8-byte echo header.*08 00 f7 ff/ });
});

// RFC 792 echo by hand: type 8, code 0, id 1, seq 1, data "abcd";
// checksum ~(0x0800 + 1 + 1 + 0x6162 + 0x6364) = 0x3337.
const FIXTURE = '08' + '00' + '3337' + '0001' + '0001' + '61626364';

test('fixture: emit reproduces the hand-made echo request', (t) => {
  t.is(toHex(icmp.emit({ type: 8, code: 0, id: 1, seq: 1 }, new TextEncoder().encode('abcd'))), FIXTURE);
  t.deepEqual(icmp.parse(fromHex(FIXTURE)).repr, { type: 8, code: 0, checksum: 0x3337, id: 1, seq: 1 });
});
