/**
 * The CLI's case tools, beside the main commands of cli.ts:
 *
 *   skbdiff generate --seed N [--count N] [--groups G,...]          cases on stdout (JSONL)
 *   skbdiff minimize FILE --id ID [--target NAME --kernel SPEC] [--kernel-profile R] [--max-runs N]
 *   skbdiff repro FILE --id ID [--target NAME --kernel SPEC] [--kernel-profile R]
 *
 * minimize and repro run the case on the target first (as `run` would), so
 * what they keep or embed is what this kernel really did.
 */
import { generateCases, GROUPS, toJsonl, type Group } from './generate.js';
import { minimize, stillDiffers } from './minimize.js';
import { reproducer } from './repro.js';
import { renderFindings } from './render.js';
import { judge, loadCases, type TargetKind } from './run.js';
import { lower } from '../model/lower.js';
import { predict } from '../model/predict.js';
import { profileFor } from '../model/profiles.js';
import type { Case } from '../model/case.js';
import { profileRelease, type Target } from './target.js';

export class ToolUsageError extends Error {}

interface Out {
  write(s: string): unknown;
}

export const TOOL_HELP: Record<string, string> = {
  generate: `Usage: skbdiff generate --seed N [--count N] [--groups G1,G2,...]

Prints N generated cases (default 100) as JSONL: a seeded, reproducible walk
over the rules the model covers (PMTU modes and sizes at the limits, IP
options valid and malformed, cmsgs with wrong lengths, corking, GSO,
offloads, raw and ping sockets, sysctls). Case gen-SEED-I depends only on
SEED and I. Groups: ${GROUPS.join(', ')}.
Run them with: skbdiff run FILE.
`,
  minimize: `Usage: skbdiff minimize FILE --id ID [--target NAME] [--kernel SPEC [--modules DIR]] [--kernel-profile RELEASE] [--max-runs N]

Runs case ID of FILE on the target (default netns), keeps what differs (the
finding keys: field names, calls and outcomes), then shrinks the case (drop
sends, options, cmsgs, sysctls; smaller payloads; default net) as long as
the same differences remain, at most N target runs (default 200). Prints
the smallest case as one JSON line on stdout, the steps on stderr.

Exit status: 0 a smaller case was printed; 1 the case does not differ here; 2 usage or harness error.
`,
  repro: `Usage: skbdiff repro FILE --id ID [--target NAME] [--kernel SPEC [--modules DIR]] [--kernel-profile RELEASE]

Runs case ID of FILE on the target (default netns) and prints a standalone C
reproducer for a bug report: it builds the lab in its own network namespace,
makes the case's calls with the same bytes, captures what leaves tx, and
compares with the model's expected result (build: gcc -static -O2 -o repro
repro.c; run as root; exit 0 as expected, 1 a difference, 2 lab failure).
`,
};

function flagValue(flags: Record<string, string | boolean>, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

function int(cmd: string, name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new ToolUsageError(`${cmd}: --${name} takes a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function generateTool(flags: Record<string, string | boolean>, out: Out): number {
  const seedText = flagValue(flags, 'seed');
  if (seedText === undefined) throw new ToolUsageError('generate: --seed is required (any whole number; the same seed gives the same cases)');
  const seed = int('generate', 'seed', seedText, 0);
  const count = int('generate', 'count', flagValue(flags, 'count'), 100);
  const groupsText = flagValue(flags, 'groups');
  let groups: Group[] | undefined;
  if (groupsText !== undefined) {
    groups = groupsText.split(',').map((g) => {
      if (!(GROUPS as readonly string[]).includes(g)) throw new ToolUsageError(`generate: unknown group ${JSON.stringify(g)} (groups: ${GROUPS.join(', ')})`);
      return g as Group;
    });
  }
  out.write(toJsonl(generateCases({ seed, count, ...(groups ? { groups } : {}) })));
  return 0;
}

/** The case named by --id in FILE, strictly read. */
async function caseById(cmd: string, file: string | undefined, id: string | undefined): Promise<Case> {
  if (file === undefined || id === undefined) throw new ToolUsageError(`${cmd}: needs FILE and --id ID`);
  let entries;
  try {
    entries = await loadCases([file]);
  } catch (e) {
    throw new ToolUsageError(`${cmd}: ${(e as Error).message}`);
  }
  for (const e of entries) if (e.ok && e.case.id === id) return e.case;
  const bad = entries.find((e) => !e.ok);
  throw new ToolUsageError(`${cmd}: no valid case with id ${JSON.stringify(id)} in ${file}${bad && !bad.ok ? ` (and: ${bad.error.message})` : ''}`);
}

function makeTarget(cmd: string, flags: Record<string, string | boolean>, targets: ReadonlyMap<string, TargetKind>, err: Out): Target {
  const name = flagValue(flags, 'target') ?? 'netns';
  const kind = targets.get(name);
  if (!kind) throw new ToolUsageError(`${cmd}: unknown target ${JSON.stringify(name)} (known targets: ${[...targets.keys()].join(', ')})`);
  const kernel = flagValue(flags, 'kernel');
  const modules = flagValue(flags, 'modules');
  try {
    return kind.create({ ...(kernel ? { kernel } : {}), ...(modules ? { modules } : {}), log: (l) => err.write(`${l}\n`) });
  } catch (e) {
    throw new ToolUsageError(`${cmd}: ${(e as Error).message}`);
  }
}

/** Run one case on a started target; predict with the run's inputs. */
async function observe(target: Target, c: Case, release: string) {
  const program = lower(c);
  const obs = await target.runCase(program);
  if (obs.harnessError) throw new Error(`harness error on ${c.id}: ${obs.harnessError}`);
  const profile = profileFor(release);
  return { obs, profile, ...judge(program, obs, profile, predict) };
}

export async function minimizeTool(positional: string[], flags: Record<string, string | boolean>, targets: ReadonlyMap<string, TargetKind>, out: Out, err: Out): Promise<number> {
  const c = await caseById('minimize', positional[0], flagValue(flags, 'id'));
  const maxRuns = int('minimize', 'max-runs', flagValue(flags, 'max-runs'), 200);
  const target = makeTarget('minimize', flags, targets, err);
  try {
    const info = await target.start();
    const release = flagValue(flags, 'kernel-profile') ?? profileRelease(info);
    const first = await observe(target, c, release);
    if (first.findings.length === 0) {
      err.write(`skbdiff: minimize: ${c.id} does not differ on ${info.release} (profile ${first.profile.line}): nothing to minimise\n`);
      return 1;
    }
    err.write(`${c.id} differs on ${info.release}:\n${renderFindings(first.findings)}\n`);
    const still = stillDiffers(target, first.profile, first.findings);
    const r = await minimize(c, still, { maxRuns, onStep: (_c, what) => err.write(`  kept: ${what}\n`) });
    err.write(`${r.steps} steps, ${r.tried} target runs${r.budgetExhausted ? ` (stopped at the --max-runs bound of ${r.maxRuns})` : ''}\n`);
    out.write(`${JSON.stringify(r.case)}\n`);
    return 0;
  } finally {
    await target.close();
  }
}

export async function reproTool(positional: string[], flags: Record<string, string | boolean>, targets: ReadonlyMap<string, TargetKind>, out: Out, err: Out): Promise<number> {
  const c = await caseById('repro', positional[0], flagValue(flags, 'id'));
  const target = makeTarget('repro', flags, targets, err);
  try {
    const info = await target.start();
    const release = flagValue(flags, 'kernel-profile') ?? profileRelease(info);
    const { obs, expected } = await observe(target, c, release);
    out.write(reproducer(c, expected, obs.result, { release: info.release, captureMsOfDay: obs.captureMsOfDay }));
    return 0;
  } finally {
    await target.close();
  }
}
