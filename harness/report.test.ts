import test from 'ava';
import { renderReport, renderSummary } from './report.js';
import type { RunResults } from './results.js';
import { jsonify } from './results.js';

// Two packets that differ only in TTL (and so in the header checksum, judged by rule).
const expected = '4500001c000040004011aea9c6120001c61200029c401b580008ab7d';
const got = '4500001c00004000' + '3f11afa9' + 'c6120001c61200029c401b580008ab7d';

const run: RunResults = {
  format: 'skbdiff-results/1',
  run_id: '20261125T103000Z-ab12',
  target: { name: 'netns', release: '6.18.44', details: { target: 'host kernel, anonymous netns' } },
  profile: { line: '6.18', release: '6.18.44' },
  started: '2026-11-25T10:30:00.000Z',
  ended: '2026-11-25T10:30:01.250Z',
  seconds: 1.2,
  counts: { cases: 3, pass: 1, differ: 1, error: 1 },
  drops: 0,
  valid: true,
  interrupted: false,
  exit_code: 2,
  problems: [],
  cases: [
    { id: 'ok', source: 'c.jsonl:1', file: 'c.jsonl', line: 1, verdict: 'pass', expected: null, observed: null, capture_ms_of_day: null, findings: [], rendered: [], frames: 1, seconds: 0.1 },
    {
      id: 'ttl',
      source: 'c.jsonl:2',
      file: 'c.jsonl',
      line: 2,
      about: 'The TTL is 64.',
      verdict: 'differ',
      expected: { id: 'ttl', setsockopt: [], sends: [{ ret: 0 }], packets: [{ hex: expected, rules: { 'ip.id': { rule: 'zero' }, 'ip.checksum': 'valid' } }] },
      observed: { id: 'ttl', setsockopt: [], sends: [{ ret: 0 }], packets: [{ hex: got }] },
      capture_ms_of_day: null,
      findings: [jsonify({ kind: 'FieldMismatch' as const, packet: 0, field: 'ip.ttl', expected: { name: 'ip.ttl', offset: 8, length: 1, value: 64 }, got: { name: 'ip.ttl', offset: 8, length: 1, value: 63 } })],
      rendered: ['packet 0 ip.ttl: expected 64 (0x40), got 63 (0x3f)'],
      frames: 1,
      seconds: 0.1,
    },
    { id: 'gap', source: 'c.jsonl:3', file: 'c.jsonl', line: 3, verdict: 'error', error: { kind: 'unmodelled', message: 'unmodelled: the model does not cover X' }, expected: null, observed: null, capture_ms_of_day: null, findings: [], rendered: [], frames: 0, seconds: 0 },
  ],
};

test('renderReport: golden', (t) => {
  t.is(
    renderReport(run, { resultsDir: 'results/20261125T103000Z-ab12' }),
    `skbdiff run 20261125T103000Z-ab12: target netns (host kernel, anonymous netns), kernel 6.18.44, model profile 6.18 (for 6.18.44)

DIFFER ttl (c.jsonl:2)
  The TTL is 64.
  packet 0 ip.ttl: expected 64 (0x40), got 63 (0x3f)

  packet 0 expected: IPv4 198.18.0.1 > 198.18.0.2 id 0x0000 DF ttl 64 len 28 UDP 40000 > 7000 len 8
  packet 0      got: IPv4 198.18.0.1 > 198.18.0.2 id 0x0000 DF ttl 63 len 28 UDP 40000 > 7000 len 8
  offs  expected                                         |  got
  0000  45 00 00 1c 00 00 40 00 40 11 ae a9 c6 12 00 01  |  45 00 00 1c 00 00 40 00 3f 11 af a9 c6 12 00 01
                                ^^    ~~                 |                          ^^    ~~
  0010  c6 12 00 02 9c 40 1b 58 00 08 ab 7d              |  c6 12 00 02 9c 40 1b 58 00 08 ab 7d

ERROR gap (c.jsonl:3): unmodelled: the model does not cover X

3 cases: 1 passed, 1 differing, 1 error in 1.2 s; kernel 6.18.44; model profile 6.18 (for 6.18.44)
results: results/20261125T103000Z-ab12
`,
  );
});

test('renderSummary: invalid and interrupted runs say so', (t) => {
  t.regex(renderSummary({ ...run, valid: false }), /\(INVALID RUN\)$/);
  t.regex(renderSummary({ ...run, interrupted: true }), /\(INTERRUPTED\)$/);
  t.notRegex(renderSummary(run), /INVALID|INTERRUPTED/);
});
