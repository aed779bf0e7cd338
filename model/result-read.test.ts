import test from 'ava';
import { readResults } from './result-read.js';

/** The result example of case-format.md (its packet hex shortened there; a full header here). */
const EXAMPLE = `{
  "id": "ttl-cmsg-overrides-sockopt",
  "setsockopt": [ { "ret": 0 } ],
  "sends": [ { "ret": 100 } ],
  "packets": [ { "hex": "45000080" } ]
}`;

test('the case-format.md result example reads', (t) => {
  const [e] = readResults(EXAMPLE, { file: 'r.json', jsonl: false });
  t.deepEqual(e, {
    ok: true,
    line: 1,
    result: { id: 'ttl-cmsg-overrides-sockopt', setsockopt: [{ ret: 0 }], sends: [{ ret: 100 }], packets: [{ hex: '45000080' }] },
  });
});

test('expected results: errno with from, rules, inputs, bind/connect/socket', (t) => {
  const line = JSON.stringify({
    id: 'x',
    socket: { ret: 3 },
    setsockopt: [{ errno: 'EINVAL', from: 'do_ip_setsockopt' }],
    bind: { ret: 0 },
    connect: { errno: 'ENETUNREACH' },
    sends: [{ errno: 'EMSGSIZE', from: '__ip_append_data' }],
    packets: [
      { hex: 'AA', rules: { 'ip.id': { rule: 'sequence', group: 0, plus: 1 }, 'ip.checksum': 'valid', 'ip.options.ts.time': [24] } },
      { hex: 'bb', rules: { 'ip.id': { rule: 'zero' }, 'ip.checksum': 'valid' } },
    ],
    inputs: { sport: null, tx_ifindex: 2 },
  });
  const e = readResults(line, { file: 'r.jsonl', jsonl: true })[0]!;
  t.true(e.ok, e.ok ? '' : e.error.message);
  if (e.ok) {
    t.deepEqual(e.result.setsockopt, [{ errno: 'EINVAL', from: 'do_ip_setsockopt' }]);
    t.deepEqual(e.result.packets[0], { hex: 'aa', rules: { 'ip.id': { rule: 'sequence', group: 0, plus: 1 }, 'ip.checksum': 'valid', 'ip.options.ts.time': [24] } });
    t.deepEqual(e.result.inputs, { sport: null, tx_ifindex: 2 });
    t.deepEqual(e.result.connect, { errno: 'ENETUNREACH' });
  }
});

const GOOD = { id: 'x', setsockopt: [], sends: [{ ret: 1 }], packets: [] };

const BAD: Array<[string, object, string]> = [
  ['errno typo', { ...GOOD, sends: [{ errno: 'EMSGSZE' }] }, '$.sends[0].errno: unknown errno name "EMSGSZE" (did you mean EMSGSIZE?)'],
  ['ret and errno', { ...GOOD, sends: [{ ret: 1, errno: 'EINVAL' }] }, '$.sends[0]: expected exactly one of ret, errno; got ret, errno'],
  ['from with ret', { ...GOOD, sends: [{ ret: 1, from: 'udp_sendmsg' }] }, '$.sends[0]: "from" goes with "errno", not "ret"'],
  ['missing packets', { id: 'x', setsockopt: [], sends: [] }, '$: missing required field "packets"'],
  ['unknown field', { ...GOOD, packet: [] }, '$: unknown field "packet" (did you mean "packets"?)'],
  ['odd hex', { ...GOOD, packets: [{ hex: '450' }] }, '$.packets[0].hex: odd number of hex digits (3)'],
  ['bad rule', { ...GOOD, packets: [{ hex: '45', rules: { 'ip.id': { rule: 'random' }, 'ip.checksum': 'valid' } }] }, '$.packets[0].rules["ip.id"].rule: expected "zero", "exact" or "sequence", got string "random"'],
  ['sequence without plus', { ...GOOD, packets: [{ hex: '45', rules: { 'ip.id': { rule: 'sequence', group: 1 }, 'ip.checksum': 'valid' } }] }, '$.packets[0].rules["ip.id"]: missing required field "plus"'],
  ['checksum rule', { ...GOOD, packets: [{ hex: '45', rules: { 'ip.id': { rule: 'zero' }, 'ip.checksum': 'any' } }] }, '$.packets[0].rules["ip.checksum"]: expected "valid" or "exact", got string "any"'],
  ['sport out of range', { ...GOOD, inputs: { sport: 70000 } }, '$.inputs.sport: 70000 is out of range for a port (0..65535)'],
];

for (const [what, r, message] of BAD) {
  test(`bad result: ${what}`, (t) => {
    const entries = readResults(`\n${JSON.stringify(GOOD)}\n${JSON.stringify(r)}\n`, { file: 'r.jsonl', jsonl: true });
    t.deepEqual(entries.map((e) => [e.line, e.ok]), [[2, true], [3, false]]);
    const e = entries[1]!;
    if (!e.ok) t.is(e.error.message, `r.jsonl:3: ${message}`);
  });
}
