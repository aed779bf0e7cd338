/**
 * The netns target's worker: runs inside an anonymous network namespace made
 * by `unshare --net` (netns.ts), never in the main one. It starts the probe
 * with `--lab veth` (the probe makes tx/rx here), captures every frame on rx
 * with libpcap, and serves netns.ts over stdio with JSON lines
 * (WorkerRequest in, WorkerReply out).
 *
 * Attribution (PROTOCOL.md "The fence"): frames captured after the fence of
 * case seq-1 and before the fence of case seq belong to case seq. After the
 * probe's DONE the worker waits for that fence to show up in the capture
 * (lab-capture.ts, shared with the qemu target).
 */
import { createInterface } from 'node:readline';
import { Capture, kernelRxPackets } from '../capture.js';
import { spawnProbe, type CaseRun, type ProbeProcess } from '../probe/protocol.js';
import type { Observation } from '../target.js';
import { buildObservation, FenceSorter } from './lab-capture.js';
import { frameToJson, programFromJson, type WorkerReply, type WorkerRequest } from './netns.js';

/** How long after DONE the fence may take to reach the capture. */
const FENCE_WAIT_MS = 2000;
/** How long one case may take in the probe. */
const PROBE_CASE_MS = 10_000;

export { buildObservation, fenceSeq } from './lab-capture.js';

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
    const obs = buildObservation(program.id, r, frames, { device: rx, fenceWaitMs: FENCE_WAIT_MS });
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
