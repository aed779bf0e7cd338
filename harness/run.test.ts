import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { getExitCode, loadCases, makeRunId, targetRegistry } from './run.js';
import { builtinSuiteFiles } from './suites.js';

const exitCodes: Array<{ description: string; interrupted: boolean; valid: boolean; differ: number; error: number; want: number }> = [
  { description: 'all pass', interrupted: false, valid: true, differ: 0, error: 0, want: 0 },
  { description: 'a difference', interrupted: false, valid: true, differ: 2, error: 0, want: 1 },
  { description: 'an error', interrupted: false, valid: true, differ: 0, error: 1, want: 2 },
  { description: 'errors win over differences', interrupted: false, valid: true, differ: 3, error: 1, want: 2 },
  { description: 'an invalid run (drops) with every case passing', interrupted: false, valid: false, differ: 0, error: 0, want: 2 },
  { description: 'an invalid run with differences', interrupted: false, valid: false, differ: 1, error: 0, want: 2 },
  { description: 'interrupted wins', interrupted: true, valid: true, differ: 1, error: 5, want: 130 },
];

for (const c of exitCodes) {
  test(`getExitCode: ${c.description} → ${c.want}`, (t) => {
    t.is(getExitCode({ interrupted: c.interrupted, valid: c.valid, counts: { cases: 10, pass: 10 - c.differ - c.error, differ: c.differ, error: c.error } }), c.want);
  });
}

test('makeRunId: UTC timestamp and 4 random hex digits', (t) => {
  const at = new Date(Date.UTC(2026, 10, 25, 10, 30, 0, 123));
  const a = makeRunId(at);
  t.regex(a, /^20261125T103000Z-[0-9a-f]{4}$/);
  const many = new Set(Array.from({ length: 50 }, () => makeRunId(at)));
  t.true(many.size > 40, 'the suffix varies');
});

test('loadCases: entries of every file in order, with file and line; a missing file is an error naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const one = (id: string) => JSON.stringify({ format: 'skbdiff-case/1', id, socket: { type: 'dgram', protocol: 'udp', bind: null, connect: null, setsockopt: [] }, sends: [{ to: { addr: '198.18.0.2', port: 7000 }, payload: { length: 1 } }] });
  writeFileSync(join(dir, 'a.jsonl'), `${one('x')}\n\n${one('y')}\n`);
  writeFileSync(join(dir, 'b.json'), `\n${one('z')}\n`);
  const cases = await loadCases([join(dir, 'a.jsonl'), join(dir, 'b.json')]);
  t.deepEqual(cases.map((c) => [basename(c.file), c.line, c.ok ? c.case.id : null]), [['a.jsonl', 1, 'x'], ['a.jsonl', 3, 'y'], ['b.json', 2, 'z']]);
  await t.throwsAsync(loadCases([join(dir, 'nope.jsonl')]), { message: `${join(dir, 'nope.jsonl')}: no such file` });
  await t.throwsAsync(loadCases([join(dir, 'a.txt')]), { message: /must end in \.json .* or \.jsonl/ });
});

test('builtinSuiteFiles: the .jsonl files of harness/suites, sorted, read by the case reader', async (t) => {
  const files = builtinSuiteFiles();
  t.true(files.length > 0, 'the built-in suite exists');
  t.true(files.every((f) => f.endsWith('.jsonl') && f.includes('/harness/suites/')));
  t.deepEqual(files, [...files].sort());
  const cases = await loadCases(files);
  t.true(cases.length >= files.length);
});

test('targetRegistry: netns is known', (t) => {
  t.true(targetRegistry.has('netns'));
});
