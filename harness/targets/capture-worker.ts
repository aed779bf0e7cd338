/**
 * libpcap on one device of the network namespace this process was started in
 * (lab-capture.ts NetnsCapture starts it under `nsenter --net=…`): every frame
 * goes to stdout as a JSON line (CaptureWorkerLine), in capture order; a
 * `drops` line on stdin answers with the frames the device received that the
 * capture missed (capture.ts kernelRxPackets). Ends with its stdin.
 */
import { createInterface } from 'node:readline';
import { Capture, kernelRxPackets } from '../capture.js';
import type { CaptureWorkerLine } from './lab-capture.js';

function main(): void {
  const out = (m: CaptureWorkerLine): void => {
    process.stdout.write(JSON.stringify(m) + '\n');
  };
  const i = process.argv.indexOf('--device');
  const device = i >= 0 ? process.argv[i + 1] : undefined;
  if (!device) {
    out({ t: 'failed', message: 'usage: capture-worker --device NAME' });
    process.exit(2);
  }
  let capture: Capture;
  let rx0: number;
  try {
    capture = Capture.open({ device }, (f) => out({ t: 'f', ts: f.tsUs, lt: f.linktype, hex: Buffer.from(f.data).toString('hex') }));
    rx0 = kernelRxPackets(device);
  } catch (e) {
    out({ t: 'failed', message: (e as Error).message });
    process.exit(1);
  }
  out({ t: 'ready', linktype: capture.linktype });
  const count = (): number => kernelRxPackets(device) - rx0 - capture.stats().frames;
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'drops') return;
    let d: number;
    try {
      d = count();
    } catch {
      out({ t: 'drops', n: 0 });
      return;
    }
    if (d > 0) {
      // A frame may be counted by the device and still sit in the backlog: look again.
      setTimeout(() => out({ t: 'drops', n: Math.max(0, count()) }), 50);
    } else out({ t: 'drops', n: 0 });
  });
  process.stdin.on('end', () => {
    capture.close();
    process.exit(0);
  });
}

main();
