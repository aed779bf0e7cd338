/**
 * The host kernel as a target: cases run in throwaway network namespaces of
 * this machine. `start()` spawns netns-worker.js in a fresh *anonymous*
 * network namespace (`unshare --net`); the worker runs the probe there
 * (`--lab veth`: tx/rx live in that namespace, each case in its own child
 * namespace) and captures on rx with libpcap. Nothing is ever named, mounted
 * or configured in the main namespace: when the worker and its probe die, for
 * whatever reason, the kernel tears the namespaces and the veth pair down.
 *
 * Parent <-> worker: JSON lines over stdio (WorkerRequest / WorkerReply below).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Program } from '../../model/program.js';
import { type CapturedFrame, type Observation, type Target, type TargetInfo, SerialQueue, withTargetInputs } from '../target.js';
import { configInputs, hostKernelConfig } from '../kernel-config.js';

// ---- the worker wire: Programs and Observations as JSON (bytes as hex) ----

export type ProgramJson = Omit<Program, 'setsockopt' | 'sends'> & {
  setsockopt: Array<{ level: number; name: number; value: string }>;
  sends: Array<
    Omit<Program['sends'][number], 'payload' | 'control' | 'setsockoptBefore'> & {
      payload: string;
      control: string;
      setsockoptBefore: Array<{ level: number; name: number; value: string }>;
    }
  >;
};

export interface FrameJson {
  tsUs: number;
  linktype: number;
  hex: string;
}

export type ObservationJson = Omit<Observation, 'frames'> & { frames: FrameJson[] };

export type WorkerRequest = { type: 'case'; program: ProgramJson } | { type: 'quit' };

export type WorkerReply =
  | { type: 'ready'; release: string; details: Record<string, string> }
  /** `fatal`: the probe is gone (died, hung); the worker exits after this reply. */
  | { type: 'observation'; observation: ObservationJson; drops: number; fatal: boolean }
  | { type: 'failed'; message: string };

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

export function programToJson(p: Program): ProgramJson {
  return {
    ...p,
    setsockopt: p.setsockopt.map((o) => ({ ...o, value: hex(o.value) })),
    sends: p.sends.map((s) => ({
      ...s,
      setsockoptBefore: s.setsockoptBefore.map((o) => ({ ...o, value: hex(o.value) })),
      payload: hex(s.payload),
      control: hex(s.control),
    })),
  };
}

export function programFromJson(p: ProgramJson): Program {
  return {
    ...p,
    setsockopt: p.setsockopt.map((o) => ({ ...o, value: unhex(o.value) })),
    sends: p.sends.map((s) => ({
      ...s,
      setsockoptBefore: s.setsockoptBefore.map((o) => ({ ...o, value: unhex(o.value) })),
      payload: unhex(s.payload),
      control: unhex(s.control),
    })),
  };
}

export function frameToJson(f: CapturedFrame): FrameJson {
  return { tsUs: f.tsUs, linktype: f.linktype, hex: hex(f.data) };
}

export function observationFromJson(o: ObservationJson): Observation {
  return { ...o, frames: o.frames.map((f) => ({ tsUs: f.tsUs, linktype: f.linktype, data: unhex(f.hex) })) };
}

// ---- the target ----

export interface NetnsTargetOptions {
  /** The static probe binary (default kernel-probes/build/skbdiff-probe of this checkout). */
  probe?: string;
  /** Per-case limit, worker included (default 20 s). */
  caseTimeoutMs?: number;
  /** Limit for the worker to come up (default 20 s). */
  startTimeoutMs?: number;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const workerJs = fileURLToPath(new URL('./netns-worker.js', import.meta.url));
export const defaultProbePath = `${repoRoot}kernel-probes/build/skbdiff-probe`;

/** A harness fault of this target (the worker would not start, the probe is missing). */
export class NetnsTargetError extends Error {
  override name = 'NetnsTargetError';
}

class Worker {
  readonly child: ChildProcess;
  private readonly waiting: Array<(r: WorkerReply | null) => void> = [];
  private readonly replies: WorkerReply[] = [];
  stderrTail = '';
  exited = false;
  readonly exit: Promise<void>;

  constructor(probe: string) {
    // setpriv --pdeathsig: the worker gets SIGKILL when this process dies, even by SIGKILL;
    // unshare execs node in a fresh network namespace that lives only as long as its processes.
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', process.execPath, workerJs, '--probe', probe], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exit = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('exit', () => {
      this.exited = true;
    });
    this.child.once('close', () => {
      for (const w of this.waiting.splice(0)) w(null);
    });
    this.child.on('error', (e) => {
      this.stderrTail += `\nspawn: ${e.message}`;
    });
    this.child.stdin!.on('error', () => {}); // EPIPE when the worker is gone: seen as 'close'
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4000);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let r: WorkerReply;
      try {
        r = JSON.parse(line) as WorkerReply;
      } catch {
        this.stderrTail = (this.stderrTail + `\nunparsable worker line: ${line.slice(0, 200)}`).slice(-4000);
        return;
      }
      const w = this.waiting.shift();
      if (w) w(r);
      else this.replies.push(r);
    });
  }

  send(req: WorkerRequest): void {
    if (!this.exited) this.child.stdin!.write(JSON.stringify(req) + '\n');
  }

  /** The next reply, or null if the worker ended or `timeoutMs` passed. */
  next(timeoutMs: number): Promise<WorkerReply | null> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.exited && this.child.stdout!.readableEnded) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(done);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(null);
      }, timeoutMs);
      const done = (x: WorkerReply | null): void => {
        clearTimeout(timer);
        resolve(x);
      };
      this.waiting.push(done);
    });
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** QUIT, then SIGKILL after `graceMs`. */
  async end(graceMs: number): Promise<void> {
    this.send({ type: 'quit' });
    this.child.stdin!.end();
    const t = setTimeout(() => this.kill(), graceMs);
    await this.exit;
    clearTimeout(t);
  }
}

export class NetnsTarget implements Target {
  readonly name = 'netns';
  private readonly probe: string;
  private readonly caseTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private worker: Worker | null = null;
  private info: TargetInfo | null = null;
  /** Drops of workers already ended, plus the current worker's count. */
  private dropsDone = 0;
  private dropsNow = 0;
  private closed = false;
  private readonly queue = new SerialQueue();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.worker?.kill();
    this.uninstall();
    // Our listener suppressed the default action; if nobody else handles the signal, die by it.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  private readonly onExit = (): void => {
    this.worker?.kill();
  };

  constructor(options: NetnsTargetOptions = {}) {
    this.probe = options.probe ?? defaultProbePath;
    this.caseTimeoutMs = options.caseTimeoutMs ?? 20_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 20_000;
  }

  async start(): Promise<TargetInfo> {
    if (this.closed) throw new NetnsTargetError('target is closed');
    if (this.info) return this.info;
    if (!existsSync(this.probe)) throw new NetnsTargetError(`no probe at ${this.probe} (build it: make -C kernel-probes)`);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
    const info = await this.spawnWorker();
    const kc = configInputs(hostKernelConfig());
    this.info = { ...info, inputs: kc.inputs, details: { ...info.details, kernel_config: kc.detail } };
    return this.info;
  }

  private async spawnWorker(): Promise<TargetInfo> {
    const w = new Worker(this.probe);
    this.worker = w;
    this.dropsNow = 0;
    const r = await w.next(this.startTimeoutMs);
    if (r?.type === 'ready') return { release: r.release, details: { ...r.details, target: 'host kernel, anonymous netns' } };
    w.kill();
    await w.exit;
    this.worker = null;
    const why = r?.type === 'failed' ? r.message : r === null ? 'no ready line (timeout or exit)' : `unexpected ${r.type}`;
    throw new NetnsTargetError(`netns worker did not start: ${why}; stderr: ${w.stderrTail.trim().slice(-1500)}`);
  }

  runCase(program: Program): Promise<Observation> {
    return this.queue.run(async () => withTargetInputs(await this.runOne(program), this.info!));
  }

  private async runOne(program: Program): Promise<Observation> {
    if (this.closed || !this.info) throw new NetnsTargetError('runCase before start() or after close()');
    if (!this.worker) await this.spawnWorker(); // a fresh netns after a fatal case
    const w = this.worker!;
    w.send({ type: 'case', program: programToJson(program) });
    const r = await w.next(this.caseTimeoutMs);
    if (r?.type === 'observation') {
      this.dropsNow = r.drops;
      if (r.fatal) await this.retire(w);
      return observationFromJson(r.observation);
    }
    const why = r === null ? (w.exited ? 'the netns worker died' : `no reply within ${this.caseTimeoutMs} ms`) : `unexpected worker reply ${r.type}`;
    await this.retire(w);
    return {
      result: { id: program.id, setsockopt: [], sends: [], packets: [] },
      frames: [],
      captureMsOfDay: null,
      harnessError: `${why}; worker stderr: ${w.stderrTail.trim().slice(-1500)}`,
    };
  }

  private async retire(w: Worker): Promise<void> {
    w.kill();
    await w.exit;
    this.dropsDone += this.dropsNow;
    this.dropsNow = 0;
    if (this.worker === w) this.worker = null;
  }

  /** The current worker's pid (its network namespace lives as long as it and the probe do). */
  get workerPid(): number | null {
    return this.worker?.child.pid ?? null;
  }

  drops(): number {
    return this.dropsDone + this.dropsNow;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    const w = this.worker;
    this.worker = null;
    if (w) await w.end(3000);
    this.uninstall();
  }

  private uninstall(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
  }
}
