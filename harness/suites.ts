/**
 * The built-in suite: every `harness/suites/*.jsonl` of this checkout, in
 * name order. The files are data, read from the source tree (they are not
 * compiled), so this resolves them from the repository root whether it runs
 * from `harness/` or from `dist/harness/`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: two levels up from dist/harness/suites.js. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Where the built-in suite lives. */
export const suiteDir = join(repoRoot, 'harness', 'suites');

/** The built-in suite files (absolute paths, sorted); empty when there are none. */
export function builtinSuiteFiles(dir: string = suiteDir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => join(dir, f));
}
