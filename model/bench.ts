/**
 * `npm run bench:model`: predicted cases per second on one core, on a mixed
 * suite (the built-in suite's cases: small and fragmented datagrams, options,
 * cork, errors). Prints the figures; asserts nothing (goals are read, not
 * timed in tests). Other case files can be named: `npm run bench:model -- FILES`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCases } from './case-read.js';
import { lower } from './lower.js';
import { predict } from './predict.js';
import { profileFor } from './profiles.js';
import type { Program } from './program.js';

const here = dirname(fileURLToPath(import.meta.url));
const suiteDir = join(here, '..', '..', 'harness', 'suites');

function loadPrograms(files: string[]): Program[] {
  const programs: Program[] = [];
  const paths = files.length ? files : readdirSync(suiteDir).filter((n) => n.endsWith('.jsonl')).sort().map((n) => join(suiteDir, n));
  for (const f of paths) {
    for (const e of readCases(readFileSync(f, 'utf8'), { file: f, jsonl: f.endsWith('.jsonl') })) {
      if (e.ok) programs.push(lower(e.case));
    }
  }
  return programs;
}

function main(): void {
  const programs = loadPrograms(process.argv.slice(2));
  const profile = profileFor('6.18.44');
  // Stand-in run inputs: a source port, an ifindex, MAX_HEADER 32 (a config without tunnels: this host's).
  // Only cases the model covers count; the rest would measure exception cost.
  const covered = programs.filter((p) => {
    try {
      predict(p, profile, { sport: 40000, txIfindex: 2, maxHeader: 32 }, { msOfDay: 0 });
      return true;
    } catch {
      return false;
    }
  });
  let packets = 0;
  for (const p of covered) packets += predict(p, profile, { sport: 40000, txIfindex: 2, maxHeader: 32 }, { msOfDay: 0 }).packets.length;

  const run = (seconds: number): { cases: number; secs: number } => {
    const t0 = process.hrtime.bigint();
    let n = 0;
    let elapsed = 0;
    while (elapsed < seconds) {
      for (const p of covered) predict(p, profile, { sport: 40000, txIfindex: 2, maxHeader: 32 }, { msOfDay: 0 });
      n += covered.length;
      elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    }
    return { cases: n, secs: elapsed };
  };
  run(0.5); // warm-up
  const r = run(3);
  const rate = r.cases / r.secs;
  const mem = process.memoryUsage();
  console.log(`suite: ${programs.length} cases (${covered.length} covered by the model, ${packets} packets predicted per pass)`);
  console.log(`predict: ${Math.round(rate).toLocaleString('en')} cases/s on one core (${r.cases} cases in ${r.secs.toFixed(2)} s)`);
  console.log(`goal: 100,000 cases/s -> ${rate >= 100000 ? 'met' : 'NOT met'} (ratio ${(rate / 100000).toFixed(2)})`);
  console.log(`memory: rss ${(mem.rss / 2 ** 20).toFixed(1)} MiB, heap used ${(mem.heapUsed / 2 ** 20).toFixed(1)} MiB`);
}

main();
