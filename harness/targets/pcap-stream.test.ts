import test from 'ava';
import { encodePcapHeader, encodePcapRecord, parsePcap } from '../pcapfile.js';
import type { CapturedFrame } from '../target.js';
import { PcapStreamError, PcapStreamParser } from './pcap-stream.js';

const frames: CapturedFrame[] = [0, 1, 14, 60, 1514, 3000].map((n, i) => ({
  tsUs: 1_700_000_000_000_000 + i * 1234567,
  linktype: 1,
  data: new Uint8Array(Array.from({ length: n }, (_, j) => (j * 7 + i) & 255)),
}));
const file = Buffer.concat([encodePcapHeader(1), ...frames.map(encodePcapRecord)]);

test('a pcap stream cut at every byte gives the frames parsePcap reads from the whole file', (t) => {
  const whole = parsePcap(file).frames;
  for (const cut of [1, 2, 3, 7, 16, 23, 24, 25, 40, 41, 1000]) {
    const p = new PcapStreamParser();
    const got: CapturedFrame[] = [];
    for (let o = 0; o < file.length; o += cut) got.push(...p.push(file.subarray(o, o + cut)));
    t.is(got.length, whole.length, `chunks of ${cut}`);
    t.deepEqual(got.map((f) => [f.tsUs, Buffer.from(f.data).toString('hex')]), whole.map((f) => [f.tsUs, Buffer.from(f.data).toString('hex')]), `chunks of ${cut}`);
    t.is(p.pendingBytes, 0);
    t.is(p.linktype, 1);
    t.is(p.frames, frames.length);
  }
});

test('big-endian and nanosecond pcap streams are read; a stream that is not pcap is refused', (t) => {
  const b = Buffer.alloc(24 + 16 + 3);
  b.writeUInt32BE(0xa1b23c4d, 0);
  b.writeUInt16BE(2, 4);
  b.writeUInt16BE(4, 6);
  b.writeUInt32BE(262144, 16);
  b.writeUInt32BE(1, 20);
  b.writeUInt32BE(10, 24);
  b.writeUInt32BE(999_999_999, 28);
  b.writeUInt32BE(3, 32);
  b.writeUInt32BE(3, 36);
  b.set([1, 2, 3], 40);
  const got = new PcapStreamParser().push(b);
  t.is(got.length, 1);
  t.is(got[0]!.tsUs, 10_999_999);
  t.deepEqual([...got[0]!.data], [1, 2, 3]);
  t.throws(() => new PcapStreamParser().push(Buffer.from('tcpdump: rx: No such device exists\n')), { instanceOf: PcapStreamError, message: /not a pcap stream/ });
});
