/**
 * `npm run bench`: figures measured side by side in one run, printed, never
 * asserted (timing belongs here, not in tests).
 *
 * - netns: end-to-end cases per second through the harness (`runCases`, as
 *   `skbdiff run` does it: lower, run on the host kernel in a throwaway netns
 *   with capture, predict, diff, record) beside the probe alone (the same
 *   programs, the same per-case lab and syscalls, no capture, no model, no
 *   diff), and their ratio; both timed from start-up to close. Goal: >= 0.30.
 * - qemu (when a guest can be booted here; see vms/): boot-to-ready seconds
 *   and cases per second inside the guest.
 *
 * Usage: node dist/harness/bench.js [--cases N] [--skip-qemu]
 */
import { readFileSync } from 'node:fs';
import { readCases } from '../model/case-read.js';
import { lower } from '../model/lower.js';
import { predict } from '../model/predict.js';
import type { Program } from '../model/program.js';
import { probePath, spawnProbe } from './probe/protocol.js';
import { runCases, type CaseInput } from './run.js';
import { builtinSuiteFiles } from './suites.js';
import { NetnsTarget } from './targets/netns.js';

/** An even spread of the built-in suite's cases over its groups, not the first file only. */
function suiteCases(limit: number): CaseInput[] {
  const all: CaseInput[] = [];
  for (const f of builtinSuiteFiles()) {
    for (const e of readCases(readFileSync(f, 'utf8'), { file: f, jsonl: true })) if (e.ok) all.push({ ...e, file: f });
  }
  const step = Math.max(1, Math.floor(all.length / limit));
  return all.filter((_, i) => i % step === 0).slice(0, limit);
}

async function probeAlone(programs: Program[]): Promise<number> {
  const t0 = performance.now();
  const probe = await spawnProbe(['setpriv', '--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', probePath(), '--lab', 'veth'], {
    caseTimeoutMs: 20_000,
  });
  try {
    for (let i = 0; i < programs.length; i++) await probe.runCase(i + 1, programs[i]!);
  } finally {
    await probe.close();
  }
  return (performance.now() - t0) / 1000;
}

async function harness(cases: CaseInput[]): Promise<{ secs: number; differing: number; errors: number }> {
  const t0 = performance.now();
  const r = await runCases(cases, new NetnsTarget(), { predict }); // starts and closes the target
  return { secs: (performance.now() - t0) / 1000, differing: r.counts.differ, errors: r.counts.error };
}

async function main(argv: string[]): Promise<void> {
  const n = Number(argv[argv.indexOf('--cases') + 1] ?? '') || 120;
  const cases = suiteCases(n);
  const programs = cases.map((c) => lower((c as Extract<CaseInput, { ok: true }>).case));
  console.log(`netns target: ${programs.length} cases from the built-in suite, on one machine, side by side`);
  // Alternate the two so that neither gets a warmer cache or a quieter machine.
  const alone1 = await probeAlone(programs);
  const h = await harness(cases);
  const alone2 = await probeAlone(programs);
  const alone = (alone1 + alone2) / 2;
  const probeRate = programs.length / alone;
  const harnessRate = programs.length / h.secs;
  console.log(`  probe alone: ${probeRate.toFixed(1)} cases/s (${alone1.toFixed(2)} s and ${alone2.toFixed(2)} s)`);
  console.log(`  harness:     ${harnessRate.toFixed(1)} cases/s (${h.secs.toFixed(2)} s; ${h.differing} differing, ${h.errors} errors)`);
  console.log(`  ratio:       ${(harnessRate / probeRate).toFixed(2)} (goal >= 0.30: ${harnessRate / probeRate >= 0.3 ? 'met' : 'NOT met'})`);
  if (!argv.includes('--skip-qemu')) {
    try {
      const guestBench = '../vms/bench.js'; // present once the qemu target is
      const { benchGuest } = (await import(guestBench)) as { benchGuest: (p: Program[]) => Promise<string[]> };
      for (const line of await benchGuest(programs)) console.log(line);
    } catch (err) {
      console.log(`qemu: not measured (${(err as Error).message})`);
    }
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 2;
});
