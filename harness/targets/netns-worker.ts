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
import { createInterface } from 'node:readline';
import { Capture, kernelRxPackets, msOfDay } from '../capture.js';
import { spawnProbe, type CaseRun, type ProbeProcess } from '../probe/protocol.js';
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
export function buildObservation(id: string, run: CaseRun, frames: CapturedFrame[] | null): Observation {
  const errors: string[] = [];
  if ('labError' in run) errors.push(`probe: lab fault: ${run.labError}`);
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
    // --pdeathsig: the probe dies with this worker, whatever kills it.
    probe = await spawnProbe(['setpriv', '--pdeathsig', 'KILL', '--', probePath, '--lab', 'veth'], { caseTimeoutMs: PROBE_CASE_MS });
  } catch (e) {
    out({ type: 'failed', message: `probe did not start: ${(e as Error).message}` });
    process.exit(1);
  }
  const ready = probe.ready;
  const rx = ready.rx;
  if (!rx || rx === '-') {
    out({ type: 'failed', message: `probe READY names no rx: ${JSON.stringify(ready)}` });
    void probe.close();
    process.exit(1);
  }

  const sorter = new FenceSorter();
  let capture: Capture;
  try {
    capture = Capture.open({ device: rx }, (f) => sorter.add(f));
  } catch (e) {
    out({ type: 'failed', message: (e as Error).message });
    void probe.close();
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
  out({ type: 'ready', release: ready.release, details: { tx: ready.tx, rx, txmac: ready.txMac, capture: `libpcap on ${rx}` } });

  const finish = (code: number): never => {
    capture.close();
    // Exiting kills the probe too (pdeathsig); QUIT went first where there was time.
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
      await probe.close();
      return finish(0);
    }
    if (req.type !== 'case') continue;
    const program = programFromJson(req.program);
    seq++;
    let r: CaseRun;
    try {
      r = await probe.runCase(seq, program);
    } catch (e) {
      // The probe died or hung mid-case: tx may be stranded in the case's netns. Report and end;
      // netns.ts starts a fresh worker (a fresh netns) for the next case.
      const obs: Observation = {
        result: { id: program.id, setsockopt: [], sends: [], packets: [] },
        frames: [],
        captureMsOfDay: null,
        harnessError: `probe: ${(e as Error).message}`,
      };
      out({ type: 'observation', observation: { ...obs, frames: [] }, drops: await drops(), fatal: true });
      return finish(0);
    }
    // A lab fault (ERR) may come before the fence was sent: wait only briefly for it.
    const frames = 'labError' in r ? ((await sorter.take(seq, 200)) ?? []) : await sorter.take(seq, FENCE_WAIT_MS);
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
