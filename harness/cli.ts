/**
 * `skbdiff`: the command line. Thin: parse flags, call the library
 * (run.ts, model/predict.ts), render (report.ts), return the exit status.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { looksLikeJsonl, readCaseFile, readCases, type CaseEntry } from '../model/case-read.js';
import { lower } from '../model/lower.js';
import { Unmodelled } from '../model/net/errors.js';
import { configInputs, hostKernelConfig } from './kernel-config.js';
import { predict as modelPredict } from '../model/predict.js';
import { profileFor, runningRelease, type Profile } from '../model/profiles.js';
import { PcapWriter } from './pcapfile.js';
import { renderReport, renderSummary } from './report.js';
import { writeRunResults, type CaseRecord, type RunResults } from './results.js';
import { loadCases, makeRunId, runCases, targetRegistry, type CaseInput, type PredictFn, type TargetKind } from './run.js';
import type { Target } from './target.js';
import type { SshFlags } from './targets/ssh.js';
import { basename } from 'node:path';
import { generateTool, minimizeTool, reproTool, ToolUsageError, TOOL_HELP } from './cli-tools.js';
import { checkKernelConfig, kconfigFragment } from '../vms/kconfig.js';
import { resolveKernel } from '../vms/kernels.js';
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

const COMMANDS = ['predict', 'run', 'matrix', 'kconfig', 'generate', 'minimize', 'repro', 'help'] as const;

const HELP: Record<string, string> = {
  main: `skbdiff: the Linux IPv4 datagram send path, model against kernel, byte for byte

Usage:
  skbdiff predict FILE... [--kernel RELEASE]
  skbdiff run [FILE...] [--target NAME] [--kernel SPEC [--modules DIR]] [--kernel-profile RELEASE] [--out DIR] [--json]
  skbdiff run --target ssh --host [USER@]HOST[:PORT] --identity KEY (--host-key LINE | --known-hosts FILE) [--sudo]
  skbdiff matrix --kernels host,debian:5.10,debian:6.1,... [FILE...] [--out DIR]
  skbdiff kconfig [--kernel SPEC [--modules DIR]]
  skbdiff generate --seed N [--count N] [--groups G,...]
  skbdiff minimize FILE --id ID [--target NAME --kernel SPEC] [--kernel-profile RELEASE]
  skbdiff repro FILE --id ID [--target NAME --kernel SPEC] [--kernel-profile RELEASE]
  skbdiff help [COMMAND]
  skbdiff --version

Case files: .json (one case), .jsonl (one per line), or - for stdin
(format skbdiff-case/1, shared/case-format.md).

Run 'skbdiff help COMMAND' for a command's flags and exit statuses.
`,
  predict: `Usage: skbdiff predict FILE... [--kernel RELEASE] [--max-header N]

Prints the model's result for every case of FILE (.json, .jsonl, or - for
stdin): one JSON object per line for .jsonl, an indented object for .json.
Packets carry their comparison rules; an errno carries "from", the kernel
function that chose it.

  --kernel RELEASE  kernel release whose model profile to use
                    (default: the running kernel, uname -r)
  --max-header N    MAX_HEADER of the kernel's config (inputs.max_header: it
                    sizes skb_small_head_cache from 6.3); default: read from
                    the running kernel's config when --kernel is not given,
                    else unknown (a case at the send-buffer limit is then
                    not modelled)

A malformed case (file:line: $.path: problem) or a case the model does not
cover is reported on stderr; the other cases are still predicted.

Exit status: 0 every case predicted; 2 any case malformed or not modelled,
or a file unreadable.
`,
  run: `Usage: skbdiff run [FILE...] [--target NAME] [--kernel SPEC [--modules DIR]] [--kernel-profile RELEASE] [--out DIR] [--json]
       skbdiff run --target ssh --host [USER@]HOST[:PORT] --identity KEY (--host-key LINE | --known-hosts FILE) [--sudo] [FILE...]

Runs every case on a target, predicts it with the model and compares
(default FILEs: the built-in suite, harness/suites/*.jsonl). Each case ends
with a verdict: pass, differ, or error (malformed, not modelled, harness
fault, interrupted). Prints a report (every differing case with its findings
and a hex dump of each differing packet) and writes DIR/<run-id>/:
results.json (format skbdiff-results/1, see results/README.md),
observed.pcap (every captured frame, in case order), report.txt; and points
DIR/latest at it.

  --target NAME             where to run (default netns); known: ${'%TARGETS%'}
  --kernel SPEC             the kernel a qemu target boots: debian:5.10,
                            debian:6.1, debian:6.12, debian:6.18 (fetched and
                            cached), or PATH/bzImage of your own build
  --modules DIR             with --kernel PATH: its lib/modules/<release>
                            (or INSTALL_MOD_PATH), for virtio_net/virtio_pci =m
  --kernel-profile RELEASE  model profile to predict with (default: the
                            target kernel's release)
  --out DIR                 results directory (default ./results)
  --json                    print results.json instead of the report

The ssh target (a remote machine, root or passwordless sudo there; the probe
runs in an anonymous netns there, tcpdump captures in it):
  --host [USER@]HOST[:PORT] the remote (default user root, port 22)
  --identity KEYFILE        OpenSSH private key (unencrypted)
  --host-key LINE           the remote's host key, 'ssh-ed25519 AAAA...'
                            (its /etc/ssh/ssh_host_ed25519_key.pub); or
  --known-hosts FILE        take it from a known_hosts file. One of the two
                            is required: an unpinned host is refused
  --sudo                    run the remote commands with sudo -n

Exit status:
  0    every case passed
  1    some case differs, none is in error
  2    some case is in error (errors win over differences), the capture
       dropped frames (the run is invalid), or a usage error
  130  interrupted (SIGINT); partial results are written, cases not run
       are marked error: interrupted
`,
  matrix: `Usage: skbdiff matrix --kernels K1,K2,... [FILE...] [--modules DIR] [--out DIR]
       [--identity KEY (--host-key LINE | --known-hosts FILE) [--sudo]]   with ssh:[USER@]HOST[:PORT] kernels

Runs the cases (default: the built-in suite) on each kernel, each predicted
with the model profile of that kernel's release: \`host\` is this machine's
kernel (netns target), anything else boots under QEMU (debian:5.10,
debian:6.1, debian:6.12, debian:6.18, or PATH/bzImage; --modules goes with
the paths); ssh:[USER@]HOST[:PORT] is a remote machine (the ssh target, see
skbdiff help run). Prints a table of case groups (the case file names) by kernel,
cells passed/total with differing (d) and error (e) counts, then every
differing case. Writes DIR/<run-id>/<kernel>/ (results.json, report.txt,
observed.pcap) for each kernel and DIR/<run-id>/matrix.json.

Exit status: as for run, over all kernels (130 interrupted; 2 any error or
invalid run; 1 any difference; 0 all passed).
`,
  kconfig: `Usage: skbdiff kconfig [--kernel SPEC [--modules DIR]]

Prints the kernel config fragment a kernel needs to run as a skbdiff guest
(what must be built in, or may be a module). With --kernel, checks that
kernel's config (Debian's boot/config-*, or .config of the tree a bzImage was
built in) and names every missing option.

Exit status: 0 fine; 2 the kernel lacks an option, or no config was found.
`,
  help: `Usage: skbdiff help [COMMAND]

Prints help for COMMAND (predict, run, matrix, kconfig, generate, minimize,
repro), or an overview.
`,
  ...TOOL_HELP,
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
      case 'matrix':
        return await matrixCommand(rest, deps, out, err, targets);
      case 'kconfig':
        return await kconfigCommand(rest, out, err, targets);
      case 'generate':
      case 'minimize':
      case 'repro':
        return await toolCommand(cmd, rest, out, err, targets);
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
  const { flags, positional } = parseFlags('predict', args, { kernel: 'string', 'max-header': 'string' });
  if (flags.help) {
    out.write(helpText('predict', targets));
    return 0;
  }
  if (positional.length === 0) throw new UsageError('predict: which case file? (skbdiff predict FILE...)');
  const predict = deps.predict ?? modelPredict;
  const profile = profileOrUsage(typeof flags.kernel === 'string' ? flags.kernel : await runningRelease());
  let maxHeader: number | null = null;
  if (typeof flags['max-header'] === 'string') {
    maxHeader = Number(flags['max-header']);
    if (!/^\d+$/.test(flags['max-header']) || maxHeader > 4096) throw new UsageError(`predict: --max-header ${JSON.stringify(flags['max-header'])}: a number of bytes (32, 80, 176, ...)`);
  } else if (typeof flags.kernel !== 'string') {
    maxHeader = configInputs(hostKernelConfig()).inputs.max_header ?? null;
  }
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
        const result = predict(lower(entry.case), profile, maxHeader !== null ? { maxHeader } : {});
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

/** The ssh target's flags (run, matrix). */
const SSH_FLAGS: FlagSpec = { host: 'string', identity: 'string', 'host-key': 'string', 'known-hosts': 'string', sudo: 'boolean' };

function sshFlags(flags: Record<string, string | boolean>): SshFlags {
  const str = (k: string): string | undefined => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  const f: SshFlags = {};
  if (str('host') !== undefined) f.host = str('host')!;
  if (str('identity') !== undefined) f.identity = str('identity')!;
  if (str('host-key') !== undefined) f.hostKey = str('host-key')!;
  if (str('known-hosts') !== undefined) f.knownHosts = str('known-hosts')!;
  if (flags.sudo === true) f.sudo = true;
  return f;
}

async function runCommand(args: string[], deps: CliDeps, out: NonNullable<CliDeps['stdout']>, err: NonNullable<CliDeps['stderr']>, targets: ReadonlyMap<string, TargetKind>): Promise<number> {
  const { flags, positional } = parseFlags('run', args, { target: 'string', kernel: 'string', modules: 'string', 'kernel-profile': 'string', out: 'string', json: 'boolean', ...SSH_FLAGS });
  if (flags.help) {
    out.write(helpText('run', targets));
    return 0;
  }
  const targetName = typeof flags.target === 'string' ? flags.target : 'netns';
  const kind = targets.get(targetName);
  if (!kind) throw new UsageError(`run: unknown target ${JSON.stringify(targetName)} (known targets: ${[...targets.keys()].join(', ')})`);
  if (typeof flags.modules === 'string' && typeof flags.kernel !== 'string') throw new UsageError('run: --modules goes with --kernel PATH/bzImage');
  const ssh = sshFlags(flags);
  if (targetName !== 'ssh' && Object.keys(ssh).length > 0) throw new UsageError(`run: --${Object.keys(ssh)[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --target ssh`);
  let target: Target;
  try {
    target = kind.create({
      ...(typeof flags.kernel === 'string' ? { kernel: flags.kernel } : {}),
      ...(typeof flags.modules === 'string' ? { modules: flags.modules } : {}),
      ...(targetName === 'ssh' ? { ssh } : {}),
      log: (line) => err.write(`${line}\n`),
    });
  } catch (e) {
    throw new UsageError(`run: ${(e as Error).message}`);
  }
  const kernelProfile = typeof flags['kernel-profile'] === 'string' ? flags['kernel-profile'] : undefined;
  if (kernelProfile !== undefined) profileOrUsage(kernelProfile);
  const cases = await casesOf('run', positional);
  const { outDir, started, runId, dir, ac, onSigint } = beginRun(flags, deps, err);
  const pcap = new PcapWriter(join(dir, 'observed.pcap'));
  const prog = progress(err);
  let results;
  try {
    results = await runCases(cases, target, {
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

// ---- matrix ----

/** A kernel's directory name under the matrix run: `host`, `debian-6.1`, or the bzImage's path made safe. */
export function kernelDirName(spec: string): string {
  return spec.replace(/^\/+/, '').replace(/[^A-Za-z0-9._+-]+/g, '-');
}

/** The case group of a case: its file's name without .jsonl/.json (`harness/suites/cmsg.jsonl` → `cmsg`). */
export function caseGroup(file: string): string {
  return basename(file).replace(/\.jsonl?$/, '');
}

export interface GroupCounts {
  pass: number;
  differ: number;
  error: number;
  total: number;
}

/** Counts per group, in first-seen group order. */
export function groupCounts(r: RunResults): Map<string, GroupCounts> {
  const m = new Map<string, GroupCounts>();
  for (const c of r.cases) {
    const g = caseGroup(c.file);
    const x = m.get(g) ?? { pass: 0, differ: 0, error: 0, total: 0 };
    x.total++;
    x[c.verdict]++;
    m.set(g, x);
  }
  return m;
}

/** `passed/total` plus ` Nd` differing and ` Ne` errors where nonzero. */
export function matrixCell(c: GroupCounts | undefined): string {
  if (!c) return '-';
  return `${c.pass}/${c.total}${c.differ ? ` ${c.differ}d` : ''}${c.error ? ` ${c.error}e` : ''}`;
}

/** Rows = case groups, columns = kernels, a total row; plain text with aligned columns. */
export function renderMatrixTable(kernels: ReadonlyArray<{ name: string; results: RunResults }>): string {
  const groups: string[] = [];
  const counts = kernels.map((k) => groupCounts(k.results));
  for (const m of counts) for (const g of m.keys()) if (!groups.includes(g)) groups.push(g);
  const rows: string[][] = [['group', ...kernels.map((k) => k.name)]];
  for (const g of groups) rows.push([g, ...counts.map((m) => matrixCell(m.get(g)))]);
  rows.push(['total', ...kernels.map((k) => matrixCell({ ...k.results.counts, total: k.results.counts.cases }))]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

export const MATRIX_FORMAT = 'skbdiff-matrix/1';

async function matrixCommand(args: string[], deps: CliDeps, out: NonNullable<CliDeps['stdout']>, err: NonNullable<CliDeps['stderr']>, targets: ReadonlyMap<string, TargetKind>): Promise<number> {
  const { flags, positional } = parseFlags('matrix', args, { kernels: 'string', modules: 'string', out: 'string', ...SSH_FLAGS });
  if (flags.help) {
    out.write(helpText('matrix', targets));
    return 0;
  }
  if (typeof flags.kernels !== 'string') throw new UsageError('matrix: which kernels? (--kernels host,debian:6.1,...)');
  const specs = flags.kernels.split(',').map((k) => k.trim()).filter(Boolean);
  if (specs.length === 0) throw new UsageError('matrix: --kernels is empty');
  const names = specs.map(kernelDirName);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UsageError(`matrix: kernel ${dup} named twice`);
  const hostKind = targets.get('netns');
  const qemuKind = targets.get('qemu');
  const made: Array<() => Target> = [];
  const ssh = sshFlags(flags);
  if (typeof flags.host === 'string') throw new UsageError('matrix: a remote is a kernel spec, ssh:[USER@]HOST[:PORT], not --host');
  for (const spec of specs) {
    if (spec.startsWith('ssh:')) {
      // A remote machine: its flags (--identity, --host-key/--known-hosts, --sudo) are shared by every ssh: spec.
      const kind = targets.get('ssh');
      if (!kind) throw new UsageError(`matrix: no ssh target for ${spec}`);
      const opts = (log: (line: string) => void) => ({ ssh: { ...ssh, host: spec.slice(4) }, log });
      try {
        kind.create(opts(() => {}));
      } catch (e) {
        throw new UsageError(`matrix: ${spec}: ${(e as Error).message}`);
      }
      made.push(() => kind.create(opts((line) => err.write(`  [${spec}] ${line}\n`))));
      continue;
    }
    const kind = spec === 'host' ? hostKind : qemuKind;
    if (!kind) throw new UsageError(`matrix: no ${spec === 'host' ? 'netns' : 'qemu'} target for ${spec}`);
    const modules = typeof flags.modules === 'string' && spec.includes('/') ? { modules: flags.modules } : {};
    // Create now for a usage error now, but each target only when its turn comes.
    try {
      kind.create(spec === 'host' ? {} : { kernel: spec, ...modules, log: () => {} });
    } catch (e) {
      throw new UsageError(`matrix: ${spec}: ${(e as Error).message}`);
    }
    made.push(() => kind.create(spec === 'host' ? {} : { kernel: spec, ...modules, log: (line) => err.write(`  [${spec}] ${line}\n`) }));
  }
  const cases: CaseInput[] = await casesOf('matrix', positional);
  const { outDir, started, runId, dir, ac, onSigint } = beginRun(flags, deps, err);

  const done: Array<{ name: string; spec: string; results: RunResults; dir: string }> = [];
  try {
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i]!;
      const kdir = join(dir, names[i]!);
      mkdirSync(kdir, { recursive: true });
      err.write(`skbdiff matrix: ${spec} (${i + 1}/${specs.length}), ${cases.length} cases\n`);
      const pcap = new PcapWriter(join(kdir, 'observed.pcap'));
      const prog = progress(err);
      let results: RunResults;
      try {
        results = await runCases(cases, made[i]!(), {
          predict: deps.predict ?? modelPredict,
          pcap,
          signal: ac.signal,
          onCase: prog.onCase,
          runId: `${runId}/${names[i]}`,
          now: () => new Date(),
        });
      } finally {
        prog.end();
        pcap.close();
      }
      writeRunResults(join(kdir, 'results.json'), results);
      writeFileSync(join(kdir, 'report.txt'), renderReport(results, { resultsDir: kdir }));
      for (const p of results.problems) err.write(`skbdiff: ${spec}: ${p}\n`);
      err.write(`  ${spec}: ${renderSummary(results).split('\n')[0]}\n`);
      done.push({ name: names[i]!, spec, results, dir: kdir });
      if (ac.signal.aborted) break;
    }
  } finally {
    process.off('SIGINT', onSigint);
  }

  const exitCodes = done.map((d) => d.results.exit_code);
  const exitCode = exitCodes.includes(130) || ac.signal.aborted
    ? 130
    : exitCodes.includes(2) || done.length < specs.length ? 2 : exitCodes.includes(1) ? 1 : 0;
  const table = renderMatrixTable(done.map((d) => ({ name: d.spec, results: d.results })));
  const lines: string[] = [table];
  for (const d of done) {
    const r = d.results;
    lines.push(`${d.spec}: kernel ${r.target.release ?? '?'}${r.target.details['uname_v'] ? ` (${r.target.details['uname_v']})` : ''}; profile ${r.profile ? `${r.profile.line} (for ${r.profile.release})` : 'none'}; ${r.seconds.toFixed(1)} s${r.target.details['accel'] ? `, ${r.target.details['accel']}` : ''}`);
  }
  const differing = done.flatMap((d) => d.results.cases.filter((c) => c.verdict === 'differ').map((c) => ({ d, c })));
  if (differing.length > 0) {
    lines.push('', 'Differences:');
    for (const { d, c } of differing) {
      lines.push(`DIFFER ${c.id} [${d.spec}] (${c.source})`);
      for (const f of c.rendered) lines.push(`  ${f.split('\n')[0]}`);
    }
  }
  const errored = done.flatMap((d) => d.results.cases.filter((c) => c.verdict === 'error').map((c) => ({ d, c })));
  if (errored.length > 0) {
    lines.push('', 'Errors:');
    for (const { d, c } of errored) lines.push(`ERROR ${c.id ?? '?'} [${d.spec}] (${c.source}): ${(c.error?.message ?? '').split('\n')[0]!.slice(0, 200)}`);
  }
  lines.push('', `results: ${dir}`);
  const text = lines.join('\n') + '\n';
  writeFileSync(join(dir, 'matrix.txt'), text);
  const matrix = {
    format: MATRIX_FORMAT,
    run_id: runId,
    started: started.toISOString(),
    ended: new Date().toISOString(),
    exit_code: exitCode,
    kernels: done.map((d) => ({
      spec: d.spec,
      dir: d.name,
      release: d.results.target.release,
      details: d.results.target.details,
      profile: d.results.profile,
      counts: d.results.counts,
      valid: d.results.valid,
      exit_code: d.results.exit_code,
      seconds: d.results.seconds,
    })),
    groups: Object.fromEntries(
      [...new Set(done.flatMap((d) => [...groupCounts(d.results).keys()]))].map((g) => [g, Object.fromEntries(done.map((d) => [d.spec, groupCounts(d.results).get(g) ?? null]))]),
    ),
  };
  writeFileSync(join(dir, 'matrix.json'), JSON.stringify(matrix, null, 2) + '\n');
  try {
    pointLatest(outDir, runId);
  } catch (e) {
    err.write(`skbdiff: could not point ${join(outDir, 'latest')} at ${runId}: ${(e as Error).message}\n`);
  }
  out.write(text);
  return exitCode;
}

// ---- kconfig ----

async function kconfigCommand(args: string[], out: NonNullable<CliDeps['stdout']>, err: NonNullable<CliDeps['stderr']>, targets: ReadonlyMap<string, TargetKind>): Promise<number> {
  const { flags } = parseFlags('kconfig', args, { kernel: 'string', modules: 'string' });
  if (flags.help) {
    out.write(helpText('kconfig', targets));
    return 0;
  }
  if (typeof flags.kernel !== 'string') {
    out.write(kconfigFragment());
    return 0;
  }
  const spec = flags.kernel.includes('/') ? { bzImage: flags.kernel, ...(typeof flags.modules === 'string' ? { modules: flags.modules } : {}) } : flags.kernel;
  try {
    const kernel = await resolveKernel(spec, { log: (l) => err.write(`${l}\n`) });
    const config = checkKernelConfig(kernel);
    if (!config) {
      err.write(`skbdiff: kconfig: no config found for ${kernel.release} (${kernel.source}); put .config or config-${kernel.release} beside the bzImage\n`);
      return 2;
    }
    out.write(`${kernel.release}: ${config}: every option a guest needs is there\n`);
    return 0;
  } catch (e) {
    err.write(`skbdiff: kconfig: ${(e as Error).message}\n`);
    return 2;
  }
}

// ---- generate, minimize, repro (harness/cli-tools.ts) ----

async function toolCommand(cmd: 'generate' | 'minimize' | 'repro', args: string[], out: NonNullable<CliDeps['stdout']>, err: NonNullable<CliDeps['stderr']>, targets: ReadonlyMap<string, TargetKind>): Promise<number> {
  const spec: FlagSpec =
    cmd === 'generate'
      ? { seed: 'string', count: 'string', groups: 'string' }
      : { id: 'string', target: 'string', kernel: 'string', modules: 'string', 'kernel-profile': 'string', ...(cmd === 'minimize' ? { 'max-runs': 'string' } : {}) };
  const { flags, positional } = parseFlags(cmd, args, spec);
  if (flags.help) {
    out.write(helpText(cmd, targets));
    return 0;
  }
  try {
    if (cmd === 'generate') return generateTool(flags, out);
    if (cmd === 'minimize') return await minimizeTool(positional, flags, targets, out, err);
    return await reproTool(positional, flags, targets, out, err);
  } catch (e) {
    if (e instanceof ToolUsageError) throw new UsageError(e.message);
    err.write(`skbdiff: ${cmd}: ${(e as Error).message}\n`);
    return 2;
  }
}

// ---- shared by run and matrix ----

/** The cases of FILEs (default: the built-in suite), every entry kept, good or malformed. */
async function casesOf(cmd: string, positional: string[]): Promise<CaseInput[]> {
  const files = positional.length > 0 ? positional : builtinSuiteFiles();
  if (files.length === 0) throw new UsageError(`${cmd}: no case files given, and no built-in suite (harness/suites/*.jsonl)`);
  let cases: CaseInput[];
  try {
    cases = await loadCases(files);
  } catch (e) {
    throw new UsageError(`${cmd}: ${(e as Error).message}`);
  }
  if (cases.length === 0) throw new UsageError(`${cmd}: no cases in ${files.join(', ')}`);
  return cases;
}

/**
 * A run's directory (DIR/<run-id>/) and its SIGINT handling: the first SIGINT
 * stops after (or during) the current case so that what was run is written;
 * a second one exits at once. The caller removes `onSigint` when done.
 */
function beginRun(flags: Record<string, string | boolean>, deps: CliDeps, err: NonNullable<CliDeps['stderr']>) {
  const outDir = typeof flags.out === 'string' ? flags.out : 'results';
  const started = new Date();
  const runId = makeRunId(started);
  const dir = join(outDir, runId);
  mkdirSync(dir, { recursive: true });
  const ac = new AbortController();
  deps.signal?.addEventListener('abort', () => ac.abort(), { once: true });
  if (deps.signal?.aborted) ac.abort();
  const onSigint = (): void => {
    if (ac.signal.aborted) process.exit(130);
    err.write('\nskbdiff: interrupted; closing the target and writing partial results (again to quit now)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  return { outDir, started, runId, dir, ac, onSigint };
}
