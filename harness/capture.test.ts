import test from 'ava';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { msOfDay } from './capture.js';

const captureJs = fileURLToPath(new URL('./capture.js', import.meta.url));

/**
 * Runs inside a fresh anonymous network namespace (`unshare --net`): nothing
 * it sends can reach the main namespace, and `lo` sees only this traffic.
 */
const child = `
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { Capture, kernelRxPackets, listDevices, nowUs } from ${JSON.stringify(captureJs)};
execFileSync('ip', ['link', 'set', 'lo', 'up']);
const N = Number(process.argv[1]);
const frames = [];
const t0 = nowUs();
const cap = Capture.open({ device: 'lo', filter: 'udp and dst port 9' }, (f, truncated) => frames.push({ ts: f.tsUs, len: f.data.length, truncated, hex: Buffer.from(f.data.subarray(0, 64)).toString('hex') }));
const rx0 = kernelRxPackets('lo');
const sink = dgram.createSocket('udp4');
await new Promise((r) => sink.bind(9, '127.0.0.1', r));
const src = dgram.createSocket('udp4');
for (let i = 0; i < N; i++) await new Promise((r) => src.send(Buffer.alloc(i % 300, i & 255), 9, '127.0.0.1', r));
const deadline = Date.now() + 3000;
while (frames.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 100));
const rx1 = kernelRxPackets('lo');
const counts = cap.stats();
cap.close(); cap.close();
src.close(); sink.close();
let missing = null;
try { kernelRxPackets('tx'); } catch (e) { missing = e.message; }
console.log(JSON.stringify({ linktype: cap.linktype, frames, rxDelta: rx1 - rx0, counts, t0, t1: nowUs(), devices: listDevices(), missing }));
`;

test('Capture on lo in a fresh netns: every frame, in order, with timestamps; kernelRxPackets counts the same', (t) => {
  const N = 200;
  const out = execFileSync('unshare', ['--net', '--', process.execPath, '--input-type=module', '-e', child, String(N)], { encoding: 'utf8', timeout: 30_000 });
  const r = JSON.parse(out) as {
    linktype: number;
    frames: Array<{ ts: number; len: number; truncated: boolean; hex: string }>;
    rxDelta: number;
    counts: { frames: number; truncated: number };
    t0: number;
    t1: number;
    devices: string[];
    missing: string | null;
  };
  t.is(r.linktype, 1); // lo is DLT_EN10MB on Linux
  t.is(r.frames.length, N);
  t.deepEqual(r.counts, { frames: N, truncated: 0 });
  // The kernel's counter for lo counted exactly the frames libpcap handed over: nothing dropped.
  t.is(r.rxDelta, N);
  // Frame i: 14 Ethernet + 20 IPv4 + 8 UDP + (i % 300) payload bytes; payload byte = i & 255.
  r.frames.forEach((f, i) => {
    t.is(f.len, 14 + 28 + (i % 300), `frame ${i}`);
    t.is(f.hex.slice(24, 28), '0800');
    t.is(f.hex.slice(52, 68), '7f0000017f000001'); // IPv4 src, dst 127.0.0.1
  });
  const ts = r.frames.map((f) => f.ts);
  t.true(ts.every((x, i) => i === 0 || x >= ts[i - 1]!), 'timestamps never go back');
  t.true(ts[0]! >= r.t0 && ts[N - 1]! <= r.t1, 'timestamps fall within the run');
  t.true(r.devices.includes('lo'));
  t.regex(r.missing ?? '', /no interface tx in this network namespace/);
});

test('msOfDay: milliseconds since 00:00 UTC', (t) => {
  t.is(msOfDay(Date.UTC(2024, 0, 2, 0, 0, 0, 5) * 1000 + 999), 5);
  t.is(msOfDay(Date.UTC(2024, 0, 2, 23, 59, 59, 999) * 1000), 86_399_999);
});
