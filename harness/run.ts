/**
 * One `skbdiff run`: every case of the given files through one target, each
 * ending with a verdict (results.ts `Verdict`). For a case:
 *
 *   lower → target.runCase → predict (with the run's inputs, the profile of
 *   the target's release) → diffCase → pass | differ
 *
 * and `error` whenever a step has no answer (malformed case, unmodelled
 * feature, harness fault, interrupt). Nothing here prints; the CLI renders.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { CaseEntry } from '../model/case-read.js';
import { readCaseFile } from '../model/case-read.js';
import type { Case } from '../model/case.js';
import { lower } from '../model/lower.js';
import { Unmodelled } from '../model/net/errors.js';
import type { Program, RunInputs } from '../model/program.js';
import type { Profile } from '../model/profiles.js';
import { profileFor } from '../model/profiles.js';
import type { ExpectedResult } from '../model/result.js';
import { diffCase, type Finding } from './diff.js';
import type { PcapWriter } from './pcapfile.js';
import { renderFinding } from './render.js';
import type { CaseRecord, ErrorKind, RunResults } from './results.js';
import { jsonify, RESULTS_FORMAT } from './results.js';
import { predictInputs, profileRelease, type Observation, type Target, type TargetInfo } from './target.js';
import { DockerTarget } from './targets/docker.js';
import { NetnsTarget } from './targets/netns.js';
import { QemuTarget, type KernelSpec } from './targets/qemu.js';
import { SshTarget, sshOptionsFromFlags, type SshFlags } from './targets/ssh.js';

export type PredictFn = (program: Program, profile: Profile, inputs?: Partial<RunInputs>) => ExpectedResult;

// ---- targets ----

/** What `--kernel` / `--modules` say, for targets that boot a kernel. */
export interface TargetCreateOptions {
  /** `debian:6.1`, a `linux-image-…` package, or a path to a bzImage. */
  kernel?: string;
  /** A user's build: its lib/modules/<release> (or an INSTALL_MOD_PATH). */
  modules?: string;
  /** `--host`, `--identity`, `--host-key`/`--known-hosts`, `--sudo` of the ssh target. */
  ssh?: SshFlags;
  log?: (line: string) => void;
}

export interface TargetKind {
  /** One line for `--help`. */
  describe: string;
  /** Throws (plain Error) when the options do not fit this target, e.g. qemu without --kernel. */
  create(opts?: TargetCreateOptions): Target;
}

/** `--kernel` as a QemuTarget spec: a path (has a slash or names a file) is a user's own bzImage. */
export function kernelSpec(kernel: string, modules?: string): KernelSpec {
  if (kernel.includes('/') || existsSync(kernel)) return { bzImage: kernel, ...(modules !== undefined ? { modules } : {}) };
  if (modules !== undefined) throw new Error(`--modules goes with --kernel PATH/bzImage, not with ${kernel}`);
  return kernel;
}

/**
 * Every target by its `--target` name. Further targets (qemu, docker, ssh)
 * register here.
 */
export const targetRegistry = new Map<string, TargetKind>([
  ['netns', { describe: 'the host kernel, each case in a throwaway network namespace (needs root)', create: () => new NetnsTarget() }],
  ['docker', { describe: 'the host kernel from a Docker container (NetworkMode none, probe image FROM scratch), capture on rx in its netns', create: (opts = {}) => new DockerTarget(opts.log ? { log: opts.log } : {}) }],
  [
    'qemu',
    {
      describe: 'a kernel under QEMU (--kernel debian:6.1 | PATH/bzImage [--modules DIR]), probe over SSH, capture on the host-side tap',
      create: (opts = {}) => {
        if (opts.kernel === undefined) throw new Error('the qemu target needs --kernel (debian:5.10, debian:6.1, debian:6.12, debian:6.18, or PATH/bzImage)');
        return new QemuTarget({ kernel: kernelSpec(opts.kernel, opts.modules), ...(opts.log ? { log: opts.log } : {}) });
      },
    },
  ],
  [
    'ssh',
    {
      describe: 'a remote machine over SSH (--host [user@]HOST[:PORT] --identity KEY --host-key LINE | --known-hosts FILE [--sudo]), probe in an anonymous netns there, tcpdump capture',
      create: (opts = {}) => new SshTarget(sshOptionsFromFlags({ ...opts.ssh, ...(opts.log ? { log: opts.log } : {}) })),
    },
  ],
]);

// ---- cases ----

/** One entry of a case file, with where it came from. */
export type CaseInput = CaseEntry & { file: string };

/** Reads every case of `files`, in order. Throws (plain Error) when a file cannot be read at all. */
export async function loadCases(files: readonly string[]): Promise<CaseInput[]> {
  const out: CaseInput[] = [];
  for (const file of files) {
    let entries: CaseEntry[];
    try {
      entries = await readCaseFile(file);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new Error(err.code === 'ENOENT' ? `${file}: no such file` : err.message);
    }
    for (const entry of entries) out.push({ ...entry, file: file === '-' ? '<stdin>' : file });
  }
  return out;
}

// ---- the run ----

export interface RunOptions {
  predict: PredictFn;
  /** Model profile release; default the target's release. */
  kernelProfile?: string;
  /** Every observed frame goes here, in case order. */
  pcap?: PcapWriter;
  /** Aborting interrupts the run: the case in flight and every later case become `error: interrupted`. */
  signal?: AbortSignal;
  /** Called after each case. */
  onCase?: (done: number, total: number, record: CaseRecord) => void;
  runId?: string;
  now?: () => Date;
}

/** A run id: UTC timestamp plus a short random suffix, e.g. `20261125T103000Z-ab12`. */
export function makeRunId(at: Date = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

const errorRecord = (c: CaseInput, kind: ErrorKind, message: string): CaseRecord => ({
  id: c.ok ? c.case.id : null,
  source: `${c.file}:${c.line}`,
  file: c.file,
  line: c.line,
  ...(c.ok && c.case.about !== undefined ? { about: c.case.about } : {}),
  verdict: 'error',
  error: { kind, message },
  expected: null,
  observed: null,
  capture_ms_of_day: null,
  findings: [],
  rendered: [],
  frames: 0,
  seconds: 0,
});

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Runs `cases` on `target` (which this starts and always closes) and returns
 * the run's record. Never throws for a case's fault; a target that will not
 * start gives every case `error: harness`.
 */
export async function runCases(cases: readonly CaseInput[], target: Target, opts: RunOptions): Promise<RunResults> {
  const now = opts.now ?? (() => new Date());
  const started = now();
  const runId = opts.runId ?? makeRunId(started);
  const records: CaseRecord[] = [];
  const problems: string[] = [];
  let info: TargetInfo | null = null;
  let profile: Profile | null = null;
  let interrupted = false;
  const aborted = (): boolean => opts.signal?.aborted === true;
  const abortPromise = new Promise<'aborted'>((resolve) => {
    if (opts.signal?.aborted) resolve('aborted');
    opts.signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
  });

  try {
    try {
      info = await Promise.race([target.start(), abortPromise.then(() => null)]);
    } catch (e) {
      problems.push(`target ${target.name} did not start: ${message(e)}`);
    }
    if (info) {
      try {
        // A target may know a more precise release for the profile than uname -r (a Debian ABI name: uname -v).
        profile = profileFor(opts.kernelProfile ?? profileRelease(info));
      } catch (e) {
        problems.push(message(e));
      }
    }
    for (const c of cases) {
      if (aborted()) {
        interrupted = true;
        records.push(errorRecord(c, 'interrupted', 'interrupted: the run was stopped before this case ran'));
      } else if (!info) {
        records.push(errorRecord(c, 'harness', problems[0] ?? 'the target did not start'));
      } else if (!profile) {
        records.push(errorRecord(c, 'harness', problems[0] ?? 'no model profile'));
      } else {
        records.push(await runOne(c, target, profile, opts, abortPromise));
        if (records.at(-1)?.error?.kind === 'interrupted') interrupted = true;
      }
      opts.onCase?.(records.length, cases.length, records.at(-1)!);
    }
  } finally {
    await target.close();
  }

  const drops = target.drops();
  if (drops > 0) problems.push(`INVALID RUN: the capture dropped ${drops} frame${drops === 1 ? '' : 's'}; observations may be missing packets`);
  const ended = now();
  const count = (v: CaseRecord['verdict']) => records.filter((r) => r.verdict === v).length;
  const result: RunResults = {
    format: RESULTS_FORMAT,
    run_id: runId,
    target: { name: target.name, release: info?.release ?? null, details: info?.details ?? {} },
    profile: profile ? { line: profile.line, release: profile.release } : null,
    started: started.toISOString(),
    ended: ended.toISOString(),
    seconds: (ended.getTime() - started.getTime()) / 1000,
    counts: { cases: records.length, pass: count('pass'), differ: count('differ'), error: count('error') },
    drops,
    valid: drops === 0 && info !== null && profile !== null,
    interrupted,
    exit_code: 0,
    problems,
    cases: records,
  };
  result.exit_code = getExitCode(result);
  return result;
}

/**
 * The model's verdict on one observation: predict with the values the run read
 * from the kernel (predictInputs), then diff. Throws Unmodelled where the model
 * does not cover the case.
 */
export function judge(program: Program, obs: Observation, profile: Profile, predict: PredictFn): { expected: ExpectedResult; findings: Finding[] } {
  const expected = predict(program, profile, predictInputs(obs));
  return { expected, findings: diffCase(expected, obs.result, { captureMsOfDay: obs.captureMsOfDay }) };
}

async function runOne(c: CaseInput, target: Target, profile: Profile, opts: RunOptions, abortPromise: Promise<'aborted'>): Promise<CaseRecord> {
  if (!c.ok) return errorRecord(c, 'malformed', c.error.message);
  const t0 = Date.now();
  const base = errorRecord(c, 'harness', '');
  const done = (r: Partial<CaseRecord>): CaseRecord => ({ ...base, ...r, seconds: (Date.now() - t0) / 1000 });
  const kase: Case = c.case;

  let program: Program;
  try {
    program = lower(kase);
  } catch (e) {
    return done({ error: { kind: 'malformed', message: `case ${kase.id} cannot be lowered: ${message(e)}` } });
  }

  let obs;
  try {
    const r = await Promise.race([target.runCase(program), abortPromise]);
    if (r === 'aborted') return done({ error: { kind: 'interrupted', message: 'interrupted: the run was stopped while this case ran' } });
    obs = r;
  } catch (e) {
    return done({ error: { kind: 'harness', message: `target ${target.name}: ${message(e)}` } });
  }
  opts.pcap?.writeAll(obs.frames);
  const seen = { observed: obs.result, capture_ms_of_day: obs.captureMsOfDay, frames: obs.frames.length };
  if (opts.signal?.aborted) return done({ ...seen, error: { kind: 'interrupted', message: 'interrupted: the run was stopped while this case ran' } });
  if (obs.harnessError !== undefined) return done({ ...seen, error: { kind: 'harness', message: obs.harnessError } });

  let expected: ExpectedResult;
  try {
    expected = opts.predict(program, profile, predictInputs(obs));
  } catch (e) {
    if (e instanceof Unmodelled) return done({ ...seen, error: { kind: 'unmodelled', message: `unmodelled: ${e.message}` } });
    return done({ ...seen, error: { kind: 'model', message: `model fault: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` } });
  }

  try {
    const findings = diffCase(expected, obs.result, { captureMsOfDay: obs.captureMsOfDay });
    const { error: _none, ...ok } = base;
    return {
      ...ok,
      ...seen,
      expected,
      verdict: findings.length === 0 ? 'pass' : 'differ',
      findings: findings.map((f) => jsonify(f)),
      rendered: findings.map(renderFinding),
      seconds: (Date.now() - t0) / 1000,
    };
  } catch (e) {
    return done({ ...seen, expected, error: { kind: 'harness', message: `diff: ${message(e)}` } });
  }
}

/**
 * The exit status of a run: 130 if interrupted; else 2 if the run is invalid
 * (capture drops, target failure) or any case is `error`; else 1 if any case
 * differs; else 0. Errors win over differences: a run with both is not a
 * clean account of the kernel.
 */
export function getExitCode(r: Pick<RunResults, 'interrupted' | 'valid' | 'counts'>): number {
  if (r.interrupted) return 130;
  if (!r.valid || r.counts.error > 0) return 2;
  if (r.counts.differ > 0) return 1;
  return 0;
}
