import test from 'ava';
import { ipOptions, type IpOption } from './ipopt.js';
import { fromHex } from './error.js';

const walk = (hex: string): IpOption[] => [...ipOptions(fromHex(hex))];

test('NOOP, RR with one filled slot, EOL with padding', (t) => {
  // 01 | 07 0b 08 <c6120001> <00000000> | 00 00 00 00  (RFC 791 RR: ptr 8 = second slot next)
  const opts = walk('01 070b08c612000100000000 00000000');
  t.deepEqual(opts.map((o) => [o.name, o.offset, o.len]), [['NOOP', 0, 1], ['RR', 1, 11], ['EOL', 12, 4]]);
  t.is(opts[1]!.pointer, 8);
  t.deepEqual(opts[1]!.slots, [
    { kind: 'addr', entry: 0, offset: 4, filled: true },
    { kind: 'addr', entry: 1, offset: 8, filled: false },
  ]);
});

test('TS (RFC 781): TSONLY and TSANDADDR slots, flags and overflow nibbles', (t) => {
  const only = walk('440c0900 00000001 00000000')[0]!;
  t.like(only, { name: 'TS', len: 12, pointer: 9, flags: 0, overflow: 0 });
  t.deepEqual(only.slots!.map((s) => [s.kind, s.offset, s.filled]), [['time', 4, true], ['time', 8, false]]);
  const withAddr = walk('440c05f1 c6120001 00000000')[0]!;
  t.like(withAddr, { flags: 1, overflow: 15, pointer: 5 });
  t.deepEqual(withAddr.slots!.map((s) => [s.kind, s.entry, s.offset, s.filled]), [['addr', 0, 4, false], ['time', 0, 8, false]]);
});

test('names: RA, LSRR, SSRR, SEC, CIPSO, SID, unknown', (t) => {
  const opts = walk('94040000 8307040a000001 8907040a000001 8203ff 8603ff 8803ff 9e03ff 00');
  t.deepEqual(opts.map((o) => o.name), ['RA', 'LSRR', 'SSRR', 'SEC', 'CIPSO', 'SID', 'unknown', 'EOL']);
  t.deepEqual(opts.map((o) => o.index), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('garbage: a bad length or a lone type byte ends the walk with a malformed option', (t) => {
  t.like(walk('0701ffff')[0], { name: 'RR', len: 4, lenField: 1, malformed: 'length 1 is below 2' });
  t.like(walk('01 4409 0000')[1], { name: 'TS', offset: 1, len: 4, lenField: 9, malformed: 'length 9 runs past the options (4 bytes left)' });
  t.like(walk('0101 94')[2], { name: 'RA', offset: 2, len: 1, malformed: 'no length byte' });
  t.deepEqual(walk(''), []);
});

test('RR with a length that is not 3 + 4n: slots stop before the ragged end', (t) => {
  const rr = walk('0709040102030405 06')[0]!;
  t.is(rr.slots!.length, 1);
});
