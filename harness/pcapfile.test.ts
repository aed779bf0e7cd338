import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PCAP_SNAPLEN, PcapFormatError, PcapWriter, parsePcap, readPcap, writePcap } from './pcapfile.js';
import type { CapturedFrame } from './target.js';

/** An Ethernet frame carrying a UDP datagram 198.18.0.1:40000 -> 198.18.0.2:7000 with `n` payload bytes. */
function udpFrame(n: number, id: number): Uint8Array {
  const eth = Buffer.from('02534b42000202534b420001' + '0800', 'hex');
  const ip = Buffer.alloc(20 + 8 + n);
  ip[0] = 0x45;
  ip.writeUInt16BE(ip.length, 2);
  ip.writeUInt16BE(id, 4);
  ip[8] = 64;
  ip[9] = 17;
  ip.writeUInt32BE(0xc6120001, 12);
  ip.writeUInt32BE(0xc6120002, 16);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += ip.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  ip.writeUInt16BE(~s & 0xffff, 10);
  ip.writeUInt16BE(40000, 20);
  ip.writeUInt16BE(7000, 22);
  ip.writeUInt16BE(8 + n, 24);
  for (let i = 0; i < n; i++) ip[28 + i] = i & 0xff;
  return new Uint8Array(Buffer.concat([eth, ip]));
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'skbdiff-pcap-'));
}

test('writePcap: global header is a1b2c3d4, 2.4, snaplen 262144, linktype 1', (t) => {
  const dir = tmp();
  try {
    const p = join(dir, 'a.pcap');
    writePcap(p, [{ tsUs: 1_700_000_000_123_456, linktype: 1, data: udpFrame(10, 1) }]);
    const b = readFileSync(p);
    t.is(b.readUInt32LE(0), 0xa1b2c3d4);
    t.is(b.readUInt16LE(4), 2);
    t.is(b.readUInt16LE(6), 4);
    t.is(b.readUInt32LE(16), 262144);
    t.is(b.readUInt32LE(20), 1);
    t.is(b.readUInt32LE(24), 1_700_000_000);
    t.is(b.readUInt32LE(28), 123_456);
    t.is(b.length, 24 + 16 + 14 + 28 + 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('round trip through parsePcap, and tcpdump -r reads every frame', (t) => {
  const dir = tmp();
  try {
    const p = join(dir, 'b.pcap');
    const frames: CapturedFrame[] = [100, 0, 1472].map((n, i) => ({ tsUs: 1_700_000_000_000_000 + i * 1500, linktype: 1, data: udpFrame(n, 0x1234 + i) }));
    const w = new PcapWriter(p);
    w.writeAll(frames);
    w.close();
    w.close();
    t.is(w.framesWritten, 3);
    const back = readPcap(p);
    t.is(back.linktype, 1);
    t.is(back.snaplen, PCAP_SNAPLEN);
    t.deepEqual(back.frames.map((f) => [f.tsUs, Buffer.from(f.data).toString('hex')]), frames.map((f) => [f.tsUs, Buffer.from(f.data).toString('hex')]));

    const out = execFileSync('tcpdump', ['-nn', '-v', '-r', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    // tcpdump's IPv4 line: "IP (tos 0x0, ttl 64, id 4660, offset 0, flags [none], proto UDP (17), length 128)"
    const ipLengths = [...out.matchAll(/proto UDP \(17\), length (\d+)\)/g)].map((m) => Number(m[1]));
    t.deepEqual(ipLengths, [128, 28, 1500], out);
    t.is(out.match(/198\.18\.0\.1\.40000 > 198\.18\.0\.2\.7000:/g)?.length, 3, out);
    t.regex(out, /id 4660,/); // 0x1234, and tcpdump checked the header checksum (it flags "bad cksum")
    t.notRegex(out, /bad cksum/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer refuses a frame of another link type; parser names where a file is cut', (t) => {
  const dir = tmp();
  try {
    const p = join(dir, 'c.pcap');
    const w = new PcapWriter(p, 1);
    t.throws(() => w.write({ tsUs: 0, linktype: 113, data: new Uint8Array(20) }), { message: /link type 1; cannot add a frame of link type 113/ });
    w.write({ tsUs: 0, linktype: 1, data: udpFrame(4, 1) });
    w.close();
    t.throws(() => w.write({ tsUs: 0, linktype: 1, data: udpFrame(4, 1) }), { message: /closed/ });
    const b = readFileSync(p);
    const err = t.throws(() => parsePcap(b.subarray(0, b.length - 3)), { instanceOf: PcapFormatError });
    t.regex(err.message, /record of 46 bytes cut short at offset 24 \(bytes there: /);
    t.throws(() => parsePcap(Buffer.from('a1b23c4d0002000400000000000000000004000000000001', 'hex')), { instanceOf: PcapFormatError });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
