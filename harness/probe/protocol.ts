/**
 * The harness side of the probe protocol, `skbdiff-probe/3` (PROTOCOL.md
 * beside this file): the request encoder, an incremental reply parser, and a
 * driver that runs one case at a time over any transport (ProbeTransport: a
 * local child with spawnProbe, a remote process over SSH).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ip4ToString, type Program, type SockaddrIn } from '../../model/program.js';
import type { CallResult } from '../../model/result.js';

export const PROBE_PROTOCOL = 'skbdiff-probe/3';

/** The capabilities a `CAPS` line may keep (model/case.ts NET_CAPS); the probe drops the rest of these. */
const CAPS_ALLOWED = [10, 12, 13];

/** `CAPS <hex>`: bit n = capability n kept in the effective set for the socket calls (PROTOCOL.md "Requests"). */
export function capsMask(caps: readonly number[]): string {
  let m = 0;
  for (const c of caps) {
    if (!CAPS_ALLOWED.includes(c)) throw new Error(`capability ${c} cannot be sent (CAPS takes ${CAPS_ALLOWED.join(', ')})`);
    m |= 1 << c;
  }
  return m.toString(16);
}

// ---- requests --------------------------------------------------------------

function hex(bytes: Uint8Array): string {
  return bytes.length === 0 ? '-' : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function list(ns: number[]): string {
  return ns.length === 0 ? '-' : ns.join(',');
}

function addr(a: SockaddrIn): string {
  return `${ip4ToString(a.addr)} ${a.port}`;
}

/** Case ids travel as one token: anything but the id charset becomes `_` (the id is only logged). */
function token(id: string): string {
  const t = id.replace(/[^A-Za-z0-9._-]/g, '_');
  return t === '' ? '-' : t;
}

/** The request lines of one case, ending with `RUN\n` (PROTOCOL.md "Requests"). */
export function encodeProgram(seq: number, p: Program): string {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq > 0xffffffff) throw new RangeError(`bad case seq ${seq}`);
  const n = p.net;
  const lines = [
    `CASE ${seq} ${token(p.id)}`,
    `NET ${n.mtu} ${n.routeMtu ?? '-'} ${n.txChecksum ? 1 : 0} ${n.gso ? 1 : 0}`,
  ];
  for (const [name, value] of n.sysctl) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`sysctl name not sendable: ${JSON.stringify(name)}`);
    lines.push(`SYSCTL ${name} ${hex(Buffer.from(value, 'utf8'))}`);
  }
  lines.push(`SOCKET ${p.socket.domain} ${p.socket.type} ${p.socket.protocol}`);
  // No CAPS line: the calls keep the probe's capabilities (all, as root), as before the extension.
  if (p.socket.caps != null) lines.push(`CAPS ${capsMask(p.socket.caps)}`);
  for (const o of p.setsockopt) lines.push(`SETSOCKOPT ${o.level} ${o.name} ${hex(o.value)}`);
  if (p.bind) lines.push(`BIND ${addr(p.bind)}`);
  if (p.connect) lines.push(`CONNECT ${addr(p.connect)}`);
  for (const s of p.sends) {
    for (const o of s.setsockoptBefore) lines.push(`SENDOPT ${o.level} ${o.name} ${hex(o.value)}`);
    const to = s.to ? addr(s.to) : '- -';
    lines.push(`SEND ${s.flags >>> 0} ${to} ${list(s.iov)} ${hex(s.payload)} ${hex(s.control)} ${list(s.txIfindexAt)}`);
  }
  lines.push('RUN');
  return lines.join('\n') + '\n';
}

// ---- replies ---------------------------------------------------------------

export type ProbeCall = 'socket' | 'setsockopt' | 'bind' | 'connect' | 'send';

export type ProbeEvent =
  | { kind: 'READY'; protocol: string; release: string; tx: string; rx: string | null; txMac: string }
  | { kind: 'RES'; seq: number; call: ProbeCall; index: number | null; result: CallResult }
  | { kind: 'INFO'; seq: number; sport: number | null; txIfindex: number }
  | { kind: 'DONE'; seq: number }
  | { kind: 'ERR'; seq: number; message: string };

/** A reply line that does not follow PROTOCOL.md: a harness fault. */
export class ProbeProtocolError extends Error {
  constructor(
    message: string,
    readonly line: string,
  ) {
    super(`${message}: ${JSON.stringify(line.length > 120 ? line.slice(0, 120) + '...' : line)}`);
    this.name = 'ProbeProtocolError';
  }
}

function int(text: string | undefined, line: string): number {
  if (text === undefined || !/^-?\d+$/.test(text)) throw new ProbeProtocolError('expected a number', line);
  return Number(text);
}

function keyed(fields: string[], line: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new ProbeProtocolError(`expected key=value, got ${JSON.stringify(f)}`, line);
    m.set(f.slice(0, eq), f.slice(eq + 1));
  }
  return m;
}

function need(m: Map<string, string>, key: string, line: string): string {
  const v = m.get(key);
  if (v === undefined) throw new ProbeProtocolError(`missing ${key}=`, line);
  return v;
}

const CALLS: ReadonlySet<string> = new Set<ProbeCall>(['socket', 'setsockopt', 'bind', 'connect', 'send']);
const INDEXED: ReadonlySet<string> = new Set<ProbeCall>(['setsockopt', 'send']);

/** Parses one reply line (without its newline). */
export function parseReplyLine(line: string): ProbeEvent {
  const f = line.split(' ');
  switch (f[0]) {
    case 'READY': {
      const m = keyed(f.slice(2), line);
      const rx = need(m, 'rx', line);
      return {
        kind: 'READY',
        protocol: f[1] ?? '',
        release: need(m, 'release', line),
        tx: need(m, 'tx', line),
        rx: rx === '-' ? null : rx,
        txMac: need(m, 'txmac', line),
      };
    }
    case 'RES': {
      const seq = int(f[1], line);
      const call = f[2] ?? '';
      if (!CALLS.has(call)) throw new ProbeProtocolError(`unknown call ${JSON.stringify(call)}`, line);
      const indexed = INDEXED.has(call);
      const outcome = f[indexed ? 4 : 3];
      if (f.length !== (indexed ? 5 : 4) || outcome === undefined) throw new ProbeProtocolError('bad RES', line);
      let result: CallResult;
      if (/^ret=\d+$/.test(outcome)) result = { ret: Number(outcome.slice(4)) };
      else if (/^errno=E[A-Z0-9]+$/.test(outcome)) result = { errno: outcome.slice(6) };
      else throw new ProbeProtocolError('expected ret= or errno=', line);
      return { kind: 'RES', seq, call: call as ProbeCall, index: indexed ? int(f[3], line) : null, result };
    }
    case 'INFO': {
      const m = keyed(f.slice(2), line);
      const sport = int(need(m, 'sport', line), line);
      return { kind: 'INFO', seq: int(f[1], line), sport: sport < 0 ? null : sport, txIfindex: int(need(m, 'txifindex', line), line) };
    }
    case 'DONE':
      if (f.length !== 2) throw new ProbeProtocolError('bad DONE', line);
      return { kind: 'DONE', seq: int(f[1], line) };
    case 'ERR':
      return { kind: 'ERR', seq: int(f[1], line), message: f.slice(2).join(' ') };
    default:
      throw new ProbeProtocolError('unknown reply', line);
  }
}

/** Splits the probe's stdout into lines as it arrives and parses each complete one. */
export class ReplyParser {
  private rest = '';

  push(chunk: string): ProbeEvent[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.filter((l) => l !== '').map(parseReplyLine);
  }

  /** Text received after the last newline (a line still being written). */
  get pending(): string {
    return this.rest;
  }
}

// ---- one case's replies, gathered ------------------------------------------

export interface CaseCalls {
  socket: CallResult;
  setsockopt: CallResult[];
  bind?: CallResult;
  connect?: CallResult;
  sends: CallResult[];
}

export type CaseRun = { results: CaseCalls; sport: number | null; txIfindex: number } | { labError: string };

/** Folds the events of one case (RES.., INFO, DONE | ERR) into its outcome; null until it is complete. */
export class CaseCollector {
  private calls: Partial<CaseCalls> & { setsockopt: CallResult[]; sends: CallResult[] } = { setsockopt: [], sends: [] };
  private info: { sport: number | null; txIfindex: number } | null = null;

  constructor(readonly seq: number) {}

  /** Takes one event of this case; returns the outcome once DONE or ERR arrives. */
  take(e: ProbeEvent): CaseRun | null {
    if (e.kind === 'READY' || e.seq !== this.seq) {
      throw new ProbeProtocolError(`event for another case while case ${this.seq} runs`, JSON.stringify(e));
    }
    switch (e.kind) {
      case 'RES':
        if (e.call === 'setsockopt' || e.call === 'send') {
          const arr = e.call === 'send' ? this.calls.sends : this.calls.setsockopt;
          if (e.index !== arr.length) throw new ProbeProtocolError(`${e.call} ${e.index} out of order`, JSON.stringify(e));
          arr.push(e.result);
        } else {
          this.calls[e.call] = e.result;
        }
        return null;
      case 'INFO':
        this.info = { sport: e.sport, txIfindex: e.txIfindex };
        return null;
      case 'ERR':
        return { labError: e.message };
      case 'DONE': {
        const { socket } = this.calls;
        if (!socket || !this.info) throw new ProbeProtocolError('DONE without socket or INFO', JSON.stringify(e));
        const results: CaseCalls = { socket, setsockopt: this.calls.setsockopt, sends: this.calls.sends };
        if (this.calls.bind) results.bind = this.calls.bind;
        if (this.calls.connect) results.connect = this.calls.connect;
        return { results, sport: this.info.sport, txIfindex: this.info.txIfindex };
      }
    }
  }
}

// ---- the process -----------------------------------------------------------

/** `kernel-probes/build/skbdiff-probe` of this checkout (from harness/probe or dist/harness/probe). */
export function probePath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'kernel-probes', 'Makefile'))) return join(dir, 'kernel-probes', 'build', 'skbdiff-probe');
    dir = dirname(dir);
  }
  throw new Error('kernel-probes/ not found above ' + fileURLToPath(import.meta.url));
}

/** A probe that is stuck, died, or broke the protocol: the probe is unusable afterwards. */
export class ProbeError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(stderr ? `${message}; probe stderr: ${stderr.trim().split('\n').slice(-5).join(' | ')}` : message);
    this.name = 'ProbeError';
  }
}

export interface SpawnProbeOptions {
  /** Kill the probe if a case takes longer (default 10 s). */
  caseTimeoutMs?: number;
  /** Give up if READY does not come (default 10 s). */
  readyTimeoutMs?: number;
}

export interface ProbeProcess {
  readonly ready: Extract<ProbeEvent, { kind: 'READY' }>;
  /** The spawned process (with an `unshare` prefix that execs, the probe itself). */
  readonly pid: number | undefined;
  /** Runs one case; cases queue and run one at a time. Rejects with ProbeError if the probe fails. */
  runCase(seq: number, program: Program): Promise<CaseRun>;
  /** QUIT, then SIGKILL if it has not exited after a moment. Idempotent. */
  close(): Promise<void>;
  readonly exited: boolean;
}

/**
 * The byte streams of a running probe, wherever it runs: a local child
 * (spawnProbe) or a process on a guest or remote machine over SSH
 * (`SshSession.spawn`, see probeOverSsh in harness/probe/ssh-probe.ts).
 */
export interface ProbeTransport {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Settles once the process is gone (exit, or the channel closed). */
  exit: Promise<{ code: number | null; signal: string | null }>;
  /** Stop it hard (SIGKILL locally; a KILL signal and channel close over SSH). */
  kill(): void;
  pid?: number;
  /** Names the process in errors ("probe", "probe on guest 6.1.0-50-cloud-amd64"). */
  label?: string;
}

/**
 * Starts the probe with `argv` (a command prefix may come first:
 * `['unshare', '--net', '--', probePath(), '--lab', 'veth']`) and waits for READY.
 */
export function spawnProbe(argv: string[], opts: SpawnProbeOptions = {}): Promise<ProbeProcess> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('spawnProbe: empty argv');
  const child: ChildProcessWithoutNullStreams = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let spawnError: Error | null = null;
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return startProbe(
    {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exit: exit.then((r) => {
        if (spawnError) throw new Error(`cannot run ${cmd}: ${(spawnError as Error).message}`);
        return r;
      }),
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
      ...(child.pid !== undefined ? { pid: child.pid } : {}),
    },
    opts,
  );
}

/** Runs the protocol over `t` (the probe already started there): waits for READY, then one case at a time. */
export function startProbe(t: ProbeTransport, opts: SpawnProbeOptions = {}): Promise<ProbeProcess> {
  const caseTimeoutMs = opts.caseTimeoutMs ?? 10_000;
  const label = t.label ?? 'probe';
  const parser = new ReplyParser();
  let stderr = '';
  let dead: ProbeError | null = null;
  let exited = false;
  // whoever waits for the next event: READY first, then one case at a time
  let waiter: { onEvent(e: ProbeEvent): void; onFail(err: ProbeError): void } | null = null;

  const fail = (err: ProbeError) => {
    if (dead) return;
    dead = err;
    if (!exited) t.kill();
    const w = waiter;
    waiter = null;
    w?.onFail(err);
  };

  t.stdout.setEncoding('utf8');
  t.stderr.setEncoding('utf8');
  t.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-8192);
  });
  t.stdout.on('data', (d: string) => {
    let events: ProbeEvent[];
    try {
      events = parser.push(d);
    } catch (e) {
      fail(new ProbeError((e as Error).message, stderr));
      return;
    }
    for (const e of events) {
      if (!waiter) return fail(new ProbeError(`unexpected reply ${JSON.stringify(e)}`, stderr));
      waiter.onEvent(e);
    }
  });
  t.stdin.on('error', () => {}); // EPIPE after a death is reported by `exit`
  const exitPromise = t.exit.then(
    ({ code, signal }) => {
      exited = true;
      fail(new ProbeError(`${label} exited (${signal ?? `code ${code}`})`, stderr));
    },
    (e: unknown) => {
      exited = true;
      fail(new ProbeError((e as Error).message, stderr));
    },
  );

  let queue: Promise<unknown> = Promise.resolve();

  const runOne = (seq: number, program: Program): Promise<CaseRun> =>
    new Promise<CaseRun>((resolve, reject) => {
      if (dead) return reject(dead);
      const collector = new CaseCollector(seq);
      const timer = setTimeout(
        () => fail(new ProbeError(`case ${seq} (${program.id}) took over ${caseTimeoutMs} ms: ${label} killed`, stderr)),
        caseTimeoutMs,
      );
      waiter = {
        onEvent(e) {
          let out: CaseRun | null;
          try {
            out = collector.take(e);
          } catch (err) {
            clearTimeout(timer);
            return fail(new ProbeError((err as Error).message, stderr));
          }
          if (out) {
            clearTimeout(timer);
            waiter = null;
            resolve(out);
          }
        },
        onFail(err) {
          clearTimeout(timer);
          reject(err);
        },
      };
      t.stdin.write(encodeProgram(seq, program));
    });

  return new Promise<ProbeProcess>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new ProbeError(`no READY within ${opts.readyTimeoutMs ?? 10_000} ms`, stderr)),
      opts.readyTimeoutMs ?? 10_000,
    );
    waiter = {
      onEvent(e) {
        clearTimeout(timer);
        // fail() hands the error to the waiter: still this one, so spawnProbe rejects
        if (e.kind !== 'READY' || e.protocol !== PROBE_PROTOCOL) {
          return fail(new ProbeError(`expected READY ${PROBE_PROTOCOL}, got ${JSON.stringify(e)}`, stderr));
        }
        waiter = null;
        resolve({
          ready: e,
          pid: t.pid,
          get exited() {
            return exited;
          },
          runCase(seq, program) {
            const p = queue.then(() => runOne(seq, program));
            queue = p.catch(() => {});
            return p;
          },
          async close() {
            if (!exited) {
              if (!dead) t.stdin.end('QUIT\n');
              const k = setTimeout(() => t.kill(), 2000);
              await exitPromise;
              clearTimeout(k);
            }
          },
        });
      },
      onFail(err) {
        clearTimeout(timer);
        reject(err);
      },
    };
  });
}
