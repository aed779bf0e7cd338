/**
 * `skbdiff`: the command line. Thin: parse flags, call the library
 * (run.ts, model/predict.ts), render (report.ts), return the exit status.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { looksLikeJsonl, readCaseFile, readCases, type CaseEntry } from '../model/case-read.js';
import { lower } from '../model/lower.js';
import { Unmodelled } from '../model/net/errors.js';
import { predict as modelPredict } from '../model/predict.js';
import { profileFor, runningRelease, type Profile } from '../model/profiles.js';
import { PcapWriter } from './pcapfile.js';
import { renderReport, renderSummary } from './report.js';
import { writeRunResults, type CaseRecord } from './results.js';
import { loadCases, makeRunId, runCases, targetRegistry, type PredictFn, type TargetKind } from './run.js';
import { builtinSuiteFiles, repoRoot } from './suites.js';

/** Where the CLI talks, and what tests replace. */
export interface CliDeps {
  stdout?: { write(s: string): unknown };
  stderr?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Input for `-` (default process.stdin). */
  stdin?: AsyncIterable<Buffer | string>;
  targets?: ReadonlyMap<string, TargetKind>;
  predict?: PredictFn;
  /** Aborting it interrupts a run, as SIGINT does. */
  signal?: AbortSignal;
}

class UsageError extends Error {}

const COMMANDS = ['predict', 'run', 'help'] as const;

const HELP: Record<string, string> = {
  main: `skbdiff: the Linux IPv4 datagram send path, model against kernel, byte for byte

Usage:
  skbdiff predict FILE... [--kernel RELEASE]
  skbdiff run [FILE...] [--target NAME] [--kernel-profile RELEASE] [--out DIR] [--json]
  skbdiff help [COMMAND]
  skbdiff --version

Case files: .json (one case), .jsonl (one per line), or - for stdin
(format skbdiff-case/1, shared/case-format.md).

Run 'skbdiff help COMMAND' for a command's flags and exit statuses.
`,
  predict: `Usage: skbdiff predict FILE... [--kernel RELEASE]

Prints the model's result for every case of FILE (.json, .jsonl, or - for
stdin): one JSON object per line for .jsonl, an indented object for .json.
Packets carry their comparison rules; an errno carries "from", the kernel
function that chose it.

  --kernel RELEASE  kernel release whose model profile to use
                    (default: the running kernel, uname -r)

A malformed case (file:line: $.path: problem) or a case the model does not
cover is reported on stderr; the other cases are still predicted.

Exit status: 0 every case predicted; 2 any case malformed or not modelled,
or a file unreadable.
`,
  run: `Usage: skbdiff run [FILE...] [--target NAME] [--kernel-profile RELEASE] [--out DIR] [--json]

Runs every case on a target, predicts it with the model and compares
(default FILEs: the built-in suite, harness/suites/*.jsonl). Each case ends
with a verdict: pass, differ, or error (malformed, not modelled, harness
fault, interrupted). Prints a report (every differing case with its findings
and a hex dump of each differing packet) and writes DIR/<run-id>/:
results.json (format skbdiff-results/1, see results/README.md),
observed.pcap (every captured frame, in case order), report.txt; and points
DIR/latest at it.

  --target NAME             where to run (default netns); known: ${'%TARGETS%'}
  --kernel-profile RELEASE  model profile to predict with (default: the
                            target kernel's release)
  --out DIR                 results directory (default ./results)
  --json                    print results.json instead of the report

Exit status:
  0    every case passed
  1    some case differs, none is in error
  2    some case is in error (errors win over differences), the capture
       dropped frames (the run is invalid), or a usage error
  130  interrupted (SIGINT); partial results are written, cases not run
       are marked error: interrupted
`,
  help: `Usage: skbdiff help [COMMAND]

Prints help for COMMAND (predict, run), or an overview.
`,
};

type FlagSpec = Record<string, 'string' | 'boolean'>;

/** Flags and positionals; `-` is a positional, `--` ends flags. Unknown flags are usage errors naming the flag. */
function parseFlags(cmd: string, args: readonly string[], spec: FlagSpec): { flags: Record<string, string | boolean>; positional: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (a === '-h') {
      flags.help = true;
      continue;
    }
    if (!a.startsWith('--')) {
      if (a.startsWith('-') && a !== '-') throw new UsageError(`${cmd}: unknown flag ${a} (see skbdiff help ${cmd})`);
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const kind = name === 'help' ? 'boolean' : spec[name];
    if (kind === undefined) throw new UsageError(`${cmd}: unknown flag --${name} (see skbdiff help ${cmd})`);
    if (kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`${cmd}: --${name} takes no value`);
      flags[name] = true;
    } else if (eq >= 0) {
      flags[name] = a.slice(eq + 1);
    } else {
      const v = args[i + 1];
      if (v === undefined) throw new UsageError(`${cmd}: --${name} needs a value`);
      flags[name] = v;
      i++;
    }
  }
  return { flags, positional };
}

function helpText(cmd: string, targets: ReadonlyMap<string, TargetKind>): string {
  const list = [...targets.keys()].join(', ');
  return (HELP[cmd] ?? HELP.main!).replace('%TARGETS%', list);
}

export async function main(argv: string[], deps: CliDeps = {}): Promise<number> {
  const out = deps.stdout ?? process.stdout;
  const err = deps.stderr ?? process.stderr;
  const targets = deps.targets ?? targetRegistry;
  try {
    const [cmd, ...rest] = argv;
    if (cmd === undefined) {
      err.write(helpText('main', targets));
      return 2;
    }
    if (cmd === '--help' || cmd === '-h') {
      out.write(helpText('main', targets));
      return 0;
    }
    if (cmd === '--version') {
      const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
      out.write(`skbdiff ${pkg.version}\n`);
      return 0;
    }
    switch (cmd) {
      case 'help': {
        const topic = rest[0];
        if (topic !== undefined && !(topic in HELP)) throw new UsageError(`help: unknown command ${JSON.stringify(topic)} (commands: ${COMMANDS.join(', ')})`);
        out.write(helpText(topic ?? 'main', targets));
        return 0;
      }
      case 'predict':
        return await predictCommand(rest, deps, out, err, targets);
      case 'run':
        return await runCommand(rest, deps, out, err, targets);
      default:
        throw new UsageError(cmd.startsWith('-') ? `unknown flag ${cmd} (see skbdiff --help)` : `unknown command ${JSON.stringify(cmd)} (commands: ${COMMANDS.join(', ')})`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err.write(`skbdiff: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

async function readAll(input: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

function profileOrUsage(release: string): Profile {
  try {
    return profileFor(release);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function predictCommand(args: string[], deps: CliDeps, out: NonNullable<CliDeps['stdout']>, err: NonNullable<CliDeps['stderr']>, targets: ReadonlyMap<string, TargetKind>): Promise<number> {
  const { flags, positional } = parseFlags('predict', args, { kernel: 'string' });
  if (flags.help) {
    out.write(helpText('predict', targets));
    return 0;
  }
  if (positional.length === 0) throw new UsageError('predict: which case file? (skbdiff predict FILE...)');
  const predict = deps.predict ?? modelPredict;
  const profile = profileOrUsage(typeof flags.kernel === 'string' ? flags.kernel : await runningRelease());
  let status = 0;
  for (const file of positional) {
    let entries: CaseEntry[];
    let jsonl: boolean;
    let shownFile = file;
    try {
      if (file === '-') {
        const text = await readAll(deps.stdin ?? process.stdin);
        jsonl = looksLikeJsonl(text);
        shownFile = '<stdin>';
        entries = readCases(text, { file: shownFile, jsonl });
      } else {
        jsonl = file.endsWith('.jsonl');
        entries = await readCaseFile(file);
      }
    } catch (e) {
      const ex = e as NodeJS.ErrnoException;
      err.write(`skbdiff: ${ex.code === 'ENOENT' ? `${file}: no such file` : ex.message}\n`);
      status = 2;
      continue;
    }
    for (const entry of entries) {
      if (!entry.ok) {
        err.write(`${entry.error.message}\n`);
        status = 2;
        continue;
      }
      const where = `${shownFile}:${entry.line}: case ${entry.case.id}`;
      try {
        const result = predict(lower(entry.case), profile);
        out.write(jsonl ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
      } catch (e) {
        if (e instanceof Unmodelled) err.write(`${where}: not modelled: ${e.message}\n`);
        else err.write(`${where}: model fault: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        status = 2;
      }
    }
  }
  return status;
}

/** Progress on stderr: one updating line on a TTY, else a line every `every` cases. */
function progress(err: NonNullable<CliDeps['stderr']>, every = 25) {
  const tty = err.isTTY === true;
  let differ = 0;
  let error = 0;
  const t0 = Date.now();
  return {
    onCase(done: number, total: number, r: CaseRecord): void {
      if (r.verdict === 'differ') differ++;
      if (r.verdict === 'error') error++;
      const line = `[${done}/${total}] ${differ} differing, ${error} error${error === 1 ? '' : 's'}, ${((Date.now() - t0) / 1000).toFixed(1)} s`;
      // One terminal row, or a wrapped line would defeat the \r.
      if (tty) err.write(`\r\x1b[K${`${line} ${r.id ?? ''}`.slice(0, Math.max(20, (err.columns ?? 80) - 1))}`);
      else if (done % every === 0 && done !== total) err.write(`${line}\n`);
    },
    end(): void {
      if (tty) err.write('\r\x1b[K');
    },
  };
}

/** Points DIR/latest at the run directory (relative symlink, replaced atomically). */
function pointLatest(outDir: string, runId: string): void {
  const tmp = join(outDir, `.latest-${runId}`);
  rmSync(tmp, { force: true });
  symlinkSync(runId, tmp);
  renameSync(tmp, join(outDir, 'latest'));
}

async function runCommand(args: string[], deps: CliDeps, out: NonNullable<CliDeps['stdout']>, err: NonNullable<CliDeps['stderr']>, targets: ReadonlyMap<string, TargetKind>): Promise<number> {
  const { flags, positional } = parseFlags('run', args, { target: 'string', 'kernel-profile': 'string', out: 'string', json: 'boolean' });
  if (flags.help) {
    out.write(helpText('run', targets));
    return 0;
  }
  const targetName = typeof flags.target === 'string' ? flags.target : 'netns';
  const kind = targets.get(targetName);
  if (!kind) throw new UsageError(`run: unknown target ${JSON.stringify(targetName)} (known targets: ${[...targets.keys()].join(', ')})`);
  const kernelProfile = typeof flags['kernel-profile'] === 'string' ? flags['kernel-profile'] : undefined;
  if (kernelProfile !== undefined) profileOrUsage(kernelProfile);
  const files = positional.length > 0 ? positional : builtinSuiteFiles();
  if (files.length === 0) throw new UsageError('run: no case files given, and no built-in suite (harness/suites/*.jsonl)');
  let cases;
  try {
    cases = await loadCases(files);
  } catch (e) {
    throw new UsageError(`run: ${(e as Error).message}`);
  }
  if (cases.length === 0) throw new UsageError(`run: no cases in ${files.join(', ')}`);

  const outDir = typeof flags.out === 'string' ? flags.out : 'results';
  const started = new Date();
  const runId = makeRunId(started);
  const dir = join(outDir, runId);
  mkdirSync(dir, { recursive: true });

  // SIGINT: stop after (or during) the current case, write what we have. A second one exits at once.
  const ac = new AbortController();
  deps.signal?.addEventListener('abort', () => ac.abort(), { once: true });
  if (deps.signal?.aborted) ac.abort();
  const onSigint = (): void => {
    if (ac.signal.aborted) process.exit(130);
    err.write('\nskbdiff: interrupted; closing the target and writing partial results (again to quit now)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const pcap = new PcapWriter(join(dir, 'observed.pcap'));
  const prog = progress(err);
  let results;
  try {
    results = await runCases(cases, kind.create(), {
      predict: deps.predict ?? modelPredict,
      ...(kernelProfile !== undefined ? { kernelProfile } : {}),
      pcap,
      signal: ac.signal,
      onCase: prog.onCase,
      runId,
      now: () => new Date(),
    });
  } finally {
    prog.end();
    pcap.close();
    process.off('SIGINT', onSigint);
  }

  const report = renderReport(results, { resultsDir: dir });
  writeRunResults(join(dir, 'results.json'), results);
  writeFileSync(join(dir, 'report.txt'), report);
  try {
    pointLatest(outDir, runId);
  } catch (e) {
    err.write(`skbdiff: could not point ${join(outDir, 'latest')} at ${runId}: ${(e as Error).message}\n`);
  }
  for (const p of results.problems) err.write(`skbdiff: ${p}\n`);
  if (flags.json) {
    out.write(JSON.stringify(results, null, 2) + '\n');
    err.write(`${renderSummary(results)}\nresults: ${dir}\n`);
  } else {
    out.write(report);
  }
  return results.exit_code;
}
