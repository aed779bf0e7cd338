/**
 * Test fixtures shared by the harness's integration tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { builtinSuiteFiles } from '../suites.js';

/** Case lines of the built-in suite by id, written to a fresh `group`.jsonl removed after the test. */
export function caseFile(t: ExecutionContext, ids: string[], group = 'picked'): string {
  const lines = new Map<string, string>();
  for (const f of builtinSuiteFiles()) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /"id": *"([^"]+)"/.exec(line);
      if (m && ids.includes(m[1]!)) lines.set(m[1]!, line);
    }
  }
  for (const id of ids) if (!lines.has(id)) throw new Error(`no case ${id} in the built-in suite`);
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, `${group}.jsonl`);
  writeFileSync(file, ids.map((id) => lines.get(id)!).join('\n') + '\n');
  return file;
}
