/**
 * `npm run bench`: figures measured side by side in one run, printed, never
 * asserted (timing belongs here, not in tests).
 *
 * - netns: end-to-end cases per second through the harness (lower, run on
 *   the host kernel in a throwaway netns with capture, predict, diff) beside
 *   the probe alone (the same programs, the same per-case lab and syscalls,
 *   no capture, no model, no diff), and their ratio. Goal: >= 0.30.
 * - qemu (when a guest can be booted here; see vms/): boot-to-ready seconds
 *   and cases per second inside the guest.
 *
 * Usage: node dist/harness/bench.js [--cases N] [--skip-qemu]
 */
import { readFileSync } from 'node:fs';
import { readCases } from '../model/case-read.js';
import { lower } from '../model/lower.js';
import { predict } from '../model/predict.js';
import { profileFor } from '../model/profiles.js';
import type { Program } from '../model/program.js';
import { diffCase } from './diff.js';
import { probePath, spawnProbe } from './probe/protocol.js';
import { builtinSuiteFiles } from './suites.js';
import { predictInputs } from './target.js';
import { NetnsTarget } from './targets/netns.js';

function suitePrograms(limit: number): Program[] {
  const out: Program[] = [];
  for (const f of builtinSuiteFiles()) {
    for (const e of readCases(readFileSync(f, 'utf8'), { file: f, jsonl: true })) if (e.ok) out.push(lower(e.case));
  }
  // An even spread over the groups, not the first file only.
  const step = Math.max(1, Math.floor(out.length / limit));
  return out.filter((_, i) => i % step === 0).slice(0, limit);
}

async function probeAlone(programs: Program[]): Promise<number> {
  const probe = await spawnProbe(['setpriv', '--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', probePath(), '--lab', 'veth'], {
    caseTimeoutMs: 20_000,
  });
  try {
    const t0 = performance.now();
    for (let i = 0; i < programs.length; i++) await probe.runCase(i + 1, programs[i]!);
    return (performance.now() - t0) / 1000;
  } finally {
    await probe.close();
  }
}

async function harness(programs: Program[]): Promise<{ secs: number; differing: number; errors: number }> {
  const target = new NetnsTarget();
  try {
    const info = await target.start();
    const profile = profileFor(info.release);
    let differing = 0;
    let errors = 0;
    const t0 = performance.now();
    for (const p of programs) {
      const obs = await target.runCase(p);
      if (obs.harnessError) {
        errors++;
        continue;
      }
      try {
        const findings = diffCase(predict(p, profile, predictInputs(obs)), obs.result, { captureMsOfDay: obs.captureMsOfDay });
        if (findings.length) differing++;
      } catch {
        errors++;
      }
    }
    return { secs: (performance.now() - t0) / 1000, differing, errors };
  } finally {
    await target.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const n = Number(argv[argv.indexOf('--cases') + 1] ?? '') || 120;
  const programs = suitePrograms(n);
  console.log(`netns target: ${programs.length} cases from the built-in suite, on one machine, side by side`);
  // Alternate the two so that neither gets a warmer cache or a quieter machine.
  const alone1 = await probeAlone(programs);
  const h = await harness(programs);
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
