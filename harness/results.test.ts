import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonify, readRunResults, RESULTS_FORMAT } from './results.js';

test('jsonify: byte strings become lowercase hex, everything else is kept', (t) => {
  t.deepEqual(jsonify({ kind: 'ExtraPacket', packet: 1, got: new Uint8Array([0x45, 0, 0xff]), nested: [{ v: new Uint8Array([1]) }, 3, null] }), {
    kind: 'ExtraPacket',
    packet: 1,
    got: '4500ff',
    nested: [{ v: '01' }, 3, null],
  });
});

test('readRunResults: rejects another format and a wrong shape, naming the path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-results-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'results.json');
  writeFileSync(f, JSON.stringify({ format: 'skbdiff-results/2' }));
  t.throws(() => readRunResults(f), { message: `${f}: $.format: expected "skbdiff-results/1", got "skbdiff-results/2"` });
  writeFileSync(f, JSON.stringify({ format: RESULTS_FORMAT, run_id: 'x', counts: {}, cases: {}, exit_code: 0, valid: true }));
  t.throws(() => readRunResults(f), { message: `${f}: $.cases: expected a list` });
  writeFileSync(f, '{');
  t.throws(() => readRunResults(f), { message: /not JSON/ });
});
