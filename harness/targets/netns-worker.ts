/**
 * The netns target's worker: runs inside an anonymous network namespace made
 * by `unshare --net` (netns.ts), never in the main one. It starts the probe
 * with `--lab veth` (the probe makes tx/rx here), captures every frame on rx
 * with libpcap, and serves netns.ts over stdio with JSON lines
 * (WorkerRequest in, WorkerReply out).
 *
 * Attribution (PROTOCOL.md "The fence"): frames captured after the fence of
 * case seq-1 and before the fence of case seq belong to case seq. After the
 * probe's DONE the worker waits for that fence to show up in the capture.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Program } from '../../model/program.js';
import { ip4ToString } from '../../model/program.js';
import type { CallResult, ObservedResult } from '../../model/result.js';
import { Capture, kernelRxPackets, msOfDay } from '../capture.js';
import type { CapturedFrame, Observation } from '../target.js';
import { frameToJson, programFromJson, type WorkerReply, type WorkerRequest } from './netns.js';

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_FENCE = 0x88b5;
const FENCE_MAGIC = Buffer.from('SKBDIFF-FENCE', 'ascii');
/** How long after DONE the fence may take to reach the capture. */
const FENCE_WAIT_MS = 2000;
/** How long one case may take in the probe. */
const PROBE_CASE_MS = 10_000;

// ---- the probe (PROTOCOL.md) ----
// TODO(helper-1): replace this section with harness/probe/protocol.ts once it lands.

export function encodeProgramLines(seq: number, p: Program): string {
  const h = (b: Uint8Array): string => (b.length ? Buffer.from(b).toString('hex') : '-');
  const l: string[] = [`CASE ${seq} ${p.id}`];
  l.push(`NET ${p.net.mtu} ${p.net.routeMtu ?? '-'} ${p.net.txChecksum ? 1 : 0} ${p.net.gso ? 1 : 0}`);
  for (const [k, v] of p.net.sysctl) l.push(`SYSCTL ${k} ${h(Buffer.from(v, 'ascii'))}`);
  l.push(`SOCKET ${p.socket.domain} ${p.socket.type} ${p.socket.protocol}`);
  for (const o of p.setsockopt) l.push(`SETSOCKOPT ${o.level} ${o.name} ${h(o.value)}`);
  if (p.bind) l.push(`BIND ${ip4ToString(p.bind.addr)} ${p.bind.port}`);
  if (p.connect) l.push(`CONNECT ${ip4ToString(p.connect.addr)} ${p.connect.port}`);
  for (const s of p.sends) {
    const to = s.to ? `${ip4ToString(s.to.addr)} ${s.to.port}` : '- -';
    const list = (a: number[]): string => (a.length ? a.join(',') : '-');
    l.push(`SEND ${s.flags} ${to} ${list(s.iov)} ${h(s.payload)} ${h(s.control)} ${list(s.txIfindexAt)}`);
  }
  l.push('RUN');
  return l.join('\n') + '\n';
}

export interface ProbeReady {
  release: string;
  tx: string;
  rx: string;
  txmac: string;
}

export type ProbeCaseResult =
  | { kind: 'done' | 'err'; result: Omit<ObservedResult, 'id' | 'packets'>; sport: number | null; txIfindex: number; error?: string }
  | { kind: 'dead'; why: string; stderrTail: string };

function callResult(text: string): CallResult {
  const m = /^(?:ret=(-?\d+)|errno=(\w+))$/.exec(text);
  if (!m) throw new Error(`bad call result ${JSON.stringify(text)}`);
  return m[1] !== undefined ? { ret: Number(m[1]) } : { errno: m[2]! };
}

export class ProbeProcess {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  stderrTail = '';
  ready!: ProbeReady;

  private constructor(argv: string[]) {
    // --pdeathsig: the probe dies with the worker, whatever kills it.
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin!.on('error', () => {});
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4000);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.wake?.();
    });
    this.child.once('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  static async start(argv: string[], timeoutMs = 10_000): Promise<ProbeProcess> {
    const p = new ProbeProcess(argv);
    const line = await p.nextLine(Date.now() + timeoutMs);
    const m = line && /^READY skbdiff-probe\/1 release=(\S+) tx=(\S+) rx=(\S+) txmac=(\S+)$/.exec(line);
    if (!m) {
      p.kill();
      throw new Error(`no READY line (got ${JSON.stringify(line)}); stderr: ${p.stderrTail.trim().slice(-1500)}`);
    }
    p.ready = { release: m[1]!, tx: m[2]!, rx: m[3]!, txmac: m[4]! };
    return p;
  }

  private async nextLine(deadline: number): Promise<string | null> {
    while (this.lines.length === 0) {
      if (this.ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.lines.shift()!;
  }

  async runCase(seq: number, program: Program, timeoutMs: number): Promise<ProbeCaseResult> {
    this.child.stdin!.write(encodeProgramLines(seq, program));
    const deadline = Date.now() + timeoutMs;
    const result: Omit<ObservedResult, 'id' | 'packets'> = { setsockopt: [], sends: [] };
    let sport: number | null = null;
    let txIfindex = 0;
    for (;;) {
      const line = await this.nextLine(deadline);
      if (line === null) {
        const why = this.ended ? `died (exit ${this.child.exitCode ?? this.child.signalCode})` : `hung (no DONE within ${timeoutMs} ms)`;
        this.kill();
        return { kind: 'dead', why: `${why} in case ${seq}`, stderrTail: this.stderrTail };
      }
      const t = line.split(' ');
      if (Number(t[1]) !== seq) return { kind: 'dead', why: `answered out of turn: ${line}`, stderrTail: this.stderrTail };
      if (t[0] === 'RES') {
        const r = callResult(t[t.length - 1]!);
        if (t[2] === 'socket') result.socket = r;
        else if (t[2] === 'setsockopt') result.setsockopt.push(r);
        else if (t[2] === 'bind') result.bind = r;
        else if (t[2] === 'connect') result.connect = r;
        else if (t[2] === 'send') result.sends.push(r);
      } else if (t[0] === 'INFO') {
        const m = /sport=(-?\d+) txifindex=(\d+)/.exec(line);
        if (m) {
          sport = Number(m[1]) < 0 ? null : Number(m[1]);
          txIfindex = Number(m[2]);
        }
      } else if (t[0] === 'DONE') {
        // A socket that worked is not listed in the result (case-format.md "One result").
        if (result.socket && 'ret' in result.socket) delete result.socket;
        return { kind: 'done', result, sport, txIfindex };
      } else if (t[0] === 'ERR') {
        return { kind: 'err', result, sport, txIfindex, error: t.slice(2).join(' ') };
      }
    }
  }

  async quit(graceMs: number): Promise<void> {
    if (this.ended) return;
    this.child.stdin!.end('QUIT\n');
    const t = setTimeout(() => this.kill(), graceMs);
    await new Promise<void>((r) => (this.ended ? r() : this.child.once('close', () => r())));
    clearTimeout(t);
  }

  kill(): void {
    if (!this.ended) this.child.kill('SIGKILL');
  }
}

async function spawnProbe(argv: string[]): Promise<ProbeProcess> {
  return ProbeProcess.start(argv);
}

// ---- capture and attribution ----

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
class FenceSorter {
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
}

/** The Observation of one case from the probe's replies and its frames. */
export function buildObservation(id: string, probe: Extract<ProbeCaseResult, { kind: 'done' | 'err' }>, frames: CapturedFrame[] | null): Observation {
  const errors: string[] = [];
  if (probe.error !== undefined) errors.push(`probe: ${probe.error}`);
  if (frames === null) {
    errors.push(`the fence of this case never reached the capture on rx within ${FENCE_WAIT_MS} ms`);
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
    // cap's snaplen is 65535: a longer frame (a GSO packet) would arrive cut.
    if (ip.length >= 4 && ((ip[2]! << 8) | ip[3]!) > ip.length) {
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
    result: {
      ...probe.result,
      id,
      packets,
      inputs: { sport: probe.sport, tx_ifindex: probe.txIfindex },
    },
    frames,
    captureMsOfDay: firstPacketUs === null ? null : msOfDay(firstPacketUs),
  };
  if (errors.length > 0) obs.harnessError = errors.join('; ');
  return obs;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const probePath = argv[argv.indexOf('--probe') + 1];
  const out = (r: WorkerReply): void => {
    process.stdout.write(JSON.stringify(r) + '\n');
  };
  if (!probePath || argv.indexOf('--probe') < 0) {
    out({ type: 'failed', message: 'usage: netns-worker --probe PATH' });
    process.exit(2);
  }

  let probe: ProbeProcess;
  try {
    probe = await spawnProbe([probePath, '--lab', 'veth']);
  } catch (e) {
    out({ type: 'failed', message: `probe did not start: ${(e as Error).message}` });
    process.exit(1);
  }
  const ready = probe.ready;
  const rx = ready.rx;
  if (!rx || rx === '-') {
    out({ type: 'failed', message: `probe READY names no rx: ${JSON.stringify(ready)}` });
    probe.kill();
    process.exit(1);
  }

  const sorter = new FenceSorter();
  let capture: Capture;
  try {
    capture = Capture.open({ device: rx }, (f) => sorter.add(f));
  } catch (e) {
    out({ type: 'failed', message: (e as Error).message });
    probe.kill();
    process.exit(1);
  }
  const rx0 = kernelRxPackets(rx);
  /** Frames rx received that the capture never handed over (see capture.ts). */
  const drops = async (): Promise<number> => {
    let d = kernelRxPackets(rx) - rx0 - capture.stats().frames;
    if (d > 0) {
      // A frame may be counted by the device and still sit in the backlog: look again.
      await new Promise((r) => setTimeout(r, 50));
      d = kernelRxPackets(rx) - rx0 - capture.stats().frames;
    }
    return Math.max(0, d);
  };
  out({ type: 'ready', release: ready.release, details: { tx: ready.tx, rx, txmac: ready.txmac, capture: `libpcap on ${rx}` } });

  const finish = (code: number): never => {
    capture.close();
    probe.kill();
    process.exit(code);
  };
  process.stdin.on('end', () => finish(0));

  let seq = 0;
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    let req: WorkerRequest;
    try {
      req = JSON.parse(line) as WorkerRequest;
    } catch {
      out({ type: 'failed', message: `unparsable request: ${line.slice(0, 200)}` });
      continue;
    }
    if (req.type === 'quit') {
      await probe.quit(2000);
      return finish(0);
    }
    if (req.type !== 'case') continue;
    const program = programFromJson(req.program);
    seq++;
    const r = await probe.runCase(seq, program, PROBE_CASE_MS);
    if (r.kind === 'dead') {
      // The probe died or hung mid-case: tx may be stranded in the case's netns. Report and end;
      // netns.ts starts a fresh worker (a fresh netns) for the next case.
      const obs: Observation = {
        result: { id: program.id, setsockopt: [], sends: [], packets: [] },
        frames: [],
        captureMsOfDay: null,
        harnessError: `probe ${r.why}; stderr: ${r.stderrTail.trim().slice(-1500)}`,
      };
      out({ type: 'observation', observation: { ...obs, frames: [] }, drops: await drops(), fatal: true });
      return finish(0);
    }
    const frames = r.kind === 'err' ? await sorter.take(seq, 200) ?? [] : await sorter.take(seq, FENCE_WAIT_MS);
    const late = sorter.leftovers().late;
    sorter.dropLate();
    const obs = buildObservation(program.id, r, frames);
    if (late.size > 0) {
      const n = [...late.values()].reduce((a, b) => a + b.length, 0);
      obs.harnessError = [obs.harnessError, `${n} frames of earlier errored cases ${[...late.keys()].join(',')} arrived late`].filter(Boolean).join('; ');
    }
    out({ type: 'observation', observation: { ...obs, frames: obs.frames.map(frameToJson) }, drops: await drops(), fatal: false });
  }
  finish(0);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((e: unknown) => {
    process.stdout.write(JSON.stringify({ type: 'failed', message: String((e as Error)?.stack ?? e) } satisfies WorkerReply) + '\n');
    process.exit(1);
  });
}
