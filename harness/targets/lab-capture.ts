/**
 * Capture and attribution shared by every target whose frames are captured
 * on the harness side of the test link (the netns target's `rx`, a QEMU
 * guest's host-side `tap0`): fence parsing, sorting frames into cases at the
 * fences (PROTOCOL.md "The fence"), and building a case's Observation from
 * the probe's replies and its frames.
 *
 * `NetnsCapture` runs a capture in another network namespace: it starts
 * capture-worker.js there (`nsenter --net=PATH`) and gets every frame over a
 * pipe, in capture order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { frameMayBeCut, msOfDay } from '../capture.js';
import type { CaseRun } from '../probe/protocol.js';
import type { CapturedFrame, Observation } from '../target.js';

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_FENCE = 0x88b5;
const FENCE_MAGIC = Buffer.from('SKBDIFF-FENCE', 'ascii');

/** The seq a fence frame carries, or null if `f` is not a fence. */
export function fenceSeq(f: Uint8Array): number | null {
  if (f.length < ETH_HLEN + FENCE_MAGIC.length + 4) return null;
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (b.readUInt16BE(12) !== ETHERTYPE_FENCE) return null;
  if (!b.subarray(ETH_HLEN, ETH_HLEN + FENCE_MAGIC.length).equals(FENCE_MAGIC)) return null;
  return b.readUInt32BE(ETH_HLEN + FENCE_MAGIC.length);
}

function ethertype(f: Uint8Array): number {
  return f.length >= ETH_HLEN ? (f[12]! << 8) | f[13]! : -1;
}

/** Frames split at fences: bucket seq = what came after the previous fence and before fence seq. */
export class FenceSorter {
  private pending: CapturedFrame[] = [];
  private readonly buckets = new Map<number, CapturedFrame[]>();
  private readonly waiters = new Map<number, () => void>();

  add(f: CapturedFrame): void {
    const seq = fenceSeq(f.data);
    if (seq === null) {
      this.pending.push(f);
      return;
    }
    this.buckets.set(seq, this.pending);
    this.pending = [];
    this.waiters.get(seq)?.();
  }

  /** The frames of case `seq`, once its fence arrived; null after `timeoutMs`. */
  async take(seq: number, timeoutMs: number): Promise<CapturedFrame[] | null> {
    if (!this.buckets.has(seq)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.waiters.set(seq, () => {
          clearTimeout(t);
          resolve();
        });
      });
      this.waiters.delete(seq);
    }
    const b = this.buckets.get(seq) ?? null;
    this.buckets.delete(seq);
    return b;
  }

  /** Buckets of cases that had already ended (a late fence) and frames with no fence yet. */
  leftovers(): { late: Map<number, CapturedFrame[]>; pending: CapturedFrame[] } {
    return { late: new Map(this.buckets), pending: this.pending };
  }

  dropLate(): void {
    this.buckets.clear();
  }

  /** Forget frames with no fence yet (the probe that sent them is gone). */
  dropPending(): void {
    this.pending = [];
  }
}

export interface BuildOptions {
  /** Where the capture runs, for messages (default `rx`). */
  device?: string;
  /** How long the fence was waited for, for messages. */
  fenceWaitMs?: number;
}

/** The Observation of one case from the probe's replies and its frames (null: the fence never came). */
export function buildObservation(id: string, run: CaseRun, frames: CapturedFrame[] | null, opts: BuildOptions = {}): Observation {
  const errors: string[] = [];
  if ('labError' in run) errors.push(`probe: lab fault: ${run.labError}`);
  if (frames === null) {
    errors.push(`the fence of this case never reached the capture on ${opts.device ?? 'rx'} within ${opts.fenceWaitMs ?? 2000} ms`);
    frames = [];
  }
  const packets: Array<{ hex: string }> = [];
  const others = new Map<string, number>();
  let firstPacketUs: number | null = null;
  for (const f of frames) {
    const type = ethertype(f.data);
    if (type !== ETHERTYPE_IPV4) {
      const key = type < 0 ? 'runt' : `0x${type.toString(16).padStart(4, '0')}`;
      others.set(key, (others.get(key) ?? 0) + 1);
      continue;
    }
    const ip = f.data.subarray(ETH_HLEN);
    // A frame over the snaplen (a GSO packet) arrives cut; a whole frame is compared as it came.
    if (ip.length >= 4 && ((ip[2]! << 8) | ip[3]!) > ip.length && frameMayBeCut(f)) {
      errors.push(`IPv4 packet ${packets.length} cut by the capture: total length ${(ip[2]! << 8) | ip[3]!}, captured ${ip.length}`);
    }
    firstPacketUs ??= f.tsUs;
    packets.push({ hex: Buffer.from(ip).toString('hex') });
  }
  if (others.size > 0) {
    const list = [...others].map(([k, n]) => `${n} x ethertype ${k}`).join(', ');
    errors.push(`non-IPv4 frames left tx (the lab leaked something; they are in the pcap): ${list}`);
  }
  const obs: Observation = {
    result: { id, setsockopt: [], sends: [], packets },
    frames,
    captureMsOfDay: firstPacketUs === null ? null : msOfDay(firstPacketUs),
  };
  if ('results' in run) {
    const { socket, ...calls } = run.results;
    // case-format.md "One result": `socket` appears only when socket() failed.
    obs.result = { id, ...(socket && 'ret' in socket ? {} : { socket }), ...calls, packets, inputs: { sport: run.sport, tx_ifindex: run.txIfindex } };
  }
  if (errors.length > 0) obs.harnessError = errors.join('; ');
  return obs;
}

/** An Observation with nothing observed: the case is a harness error for `why`. */
export function failedObservation(id: string, why: string, frames: CapturedFrame[] = []): Observation {
  return { result: { id, setsockopt: [], sends: [], packets: [] }, frames, captureMsOfDay: null, harnessError: why };
}

// ---- a capture in another network namespace ----

/** capture-worker.js → parent, one JSON object a line. */
export type CaptureWorkerLine =
  | { t: 'ready'; linktype: number }
  | { t: 'f'; ts: number; lt: number; hex: string }
  | { t: 'drops'; n: number }
  | { t: 'failed'; message: string };

const captureWorkerJs = fileURLToPath(new URL('./capture-worker.js', import.meta.url));

/**
 * libpcap on `device` inside the network namespace `netnsPath`
 * (`/proc/PID/ns/net`), every frame handed to `onFrame` in capture order.
 * The worker dies with this process (pdeathsig) and with its stdin.
 */
export class NetnsCapture {
  private stderrTail = '';
  private readonly dropWaiters: Array<(n: number | null) => void> = [];
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(private readonly child: ChildProcess, readonly device: string) {
    this.exit = new Promise((r) => child.once('close', () => r()));
    child.once('exit', () => {
      this.exited = true;
      for (const w of this.dropWaiters.splice(0)) w(null);
    });
  }

  static open(netnsPath: string, device: string, onFrame: (f: CapturedFrame) => void, timeoutMs = 10_000): Promise<NetnsCapture> {
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'nsenter', `--net=${netnsPath}`, '--', process.execPath, captureWorkerJs, '--device', device], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const c = new NetnsCapture(child, device);
    child.stdin!.on('error', () => {});
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      c.stderrTail = (c.stderrTail + d).slice(-2000);
    });
    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        c.kill();
        reject(new Error(`capture on ${device} (${netnsPath}) did not start within ${timeoutMs} ms; stderr: ${c.stderrTail.trim()}`));
      }, timeoutMs);
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`capture on ${device} (${netnsPath}) exited (${sig ?? code}); stderr: ${c.stderrTail.trim()}`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let m: CaptureWorkerLine;
        try {
          m = JSON.parse(line) as CaptureWorkerLine;
        } catch {
          c.stderrTail = (c.stderrTail + `\nunparsable capture line: ${line.slice(0, 200)}`).slice(-2000);
          return;
        }
        if (m.t === 'f') onFrame({ tsUs: m.ts, linktype: m.lt, data: new Uint8Array(Buffer.from(m.hex, 'hex')) });
        else if (m.t === 'drops') c.dropWaiters.shift()?.(m.n);
        else if (m.t === 'ready') {
          ready = true;
          clearTimeout(timer);
          resolve(c);
        } else if (m.t === 'failed') {
          clearTimeout(timer);
          c.kill();
          reject(new Error(`capture on ${device}: ${m.message}`));
        }
      });
    });
  }

  /** Frames the device received that the capture never handed over (null when the worker is gone). */
  drops(): Promise<number | null> {
    if (this.exited) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.dropWaiters.push(resolve);
      this.child.stdin!.write('drops\n');
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (!this.exited) {
      this.child.stdin!.end();
      const t = setTimeout(() => this.kill(), 1000);
      await this.exit;
      clearTimeout(t);
    }
  }
}
