/**
 * The traffic rule, checked on the real thing: while the netns target runs a
 * batch of cases, nothing from 198.18.0.0/15 shows up on any interface of the
 * main network namespace, and the main namespace has no address or route there.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import type { Program } from '../model/program.js';
import { ip4 } from '../model/program.js';
import { Capture } from './capture.js';
import { NetnsTarget, defaultProbePath } from './targets/netns.js';

const inBench = (a: number): boolean => a >>> 17 === ip4('198.18.0.0') >>> 17;

/** IPv4 source and destination of a LINUX_SLL (113) or Ethernet (1) frame, or null if not IPv4. */
function ipv4Addrs(linktype: number, f: Uint8Array): [number, number] | null {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  const hdr = linktype === 113 ? 16 : linktype === 1 ? 14 : -1;
  if (hdr < 0 || b.length < hdr + 20 || b.readUInt16BE(hdr - 2) !== 0x0800) return null;
  return [b.readUInt32BE(hdr + 12), b.readUInt32BE(hdr + 16)];
}

function udp(id: string, n: number, mtu: number): Program {
  return {
    id,
    net: { mtu, routeMtu: null, sysctl: [], txChecksum: false, gso: false },
    socket: { domain: 2, type: 2, protocol: 17 },
    setsockopt: [],
    bind: null,
    connect: null,
    sends: [{ to: { addr: ip4('198.18.0.2'), port: 7000 }, payload: new Uint8Array(n), iov: [n], flags: 0, control: new Uint8Array(0), txIfindexAt: [], setsockoptBefore: [] }],
  };
}

(existsSync(defaultProbePath) ? test : test.skip)('no 198.18.0.0/15 traffic, address or route in the main netns while cases run', async (t) => {
  const seen: Array<[number, number]> = [];
  const frames: number[] = [];
  let loopbackMarkerSeen = false;
  const marker = Buffer.from(`skbdiff-isolation-${process.pid}-${Date.now()}`);
  // No filter: every frame on every interface of this namespace is looked at here.
  const cap = Capture.open({ device: 'any' }, (f) => {
    frames.push(f.data.length);
    const a = ipv4Addrs(f.linktype, f.data);
    if (a) seen.push(a);
    if (Buffer.from(f.data).includes(marker)) loopbackMarkerSeen = true;
  });
  const target = new NetnsTarget();
  let packetsSent = 0;
  try {
    await target.start();
    const batch = [udp('small', 100, 1500), udp('frag', 3000, 1500), udp('frag-small-mtu', 2000, 576), udp('max', 1472, 1500), udp('big', 9000, 1500)];
    for (let round = 0; round < 4; round++) {
      for (const p of batch) {
        const o = await target.runCase(p);
        t.is(o.harnessError, undefined, p.id);
        packetsSent += o.result.packets.length;
      }
    }
    // Proof the capture works: a datagram on this namespace's loopback must be seen.
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.send(marker, 9, '127.0.0.1', () => r()));
    s.close();
    const end = Date.now() + 3000;
    while (!loopbackMarkerSeen && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  } finally {
    await target.close();
    cap.close();
  }
  t.true(packetsSent >= 4 * 5, `the cases did send (${packetsSent} datagrams inside the lab)`);
  t.true(loopbackMarkerSeen, `the capture on "any" saw the loopback marker (${frames.length} frames seen)`);
  const leaked = seen.filter(([s, d]) => inBench(s) || inBench(d));
  t.deepEqual(leaked, [], 'no 198.18.0.0/15 packet in the main netns');

  const addrs = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  t.notRegex(addrs, /inet 198\.(18|19)\./, 'no 198.18.0.0/15 address in the main netns');
  // Every table (main, local, policy ones): no entry for a prefix inside 198.18.0.0/15.
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  t.notRegex(routes, /^(local |broadcast |unicast )?198\.(18|19)\./m, 'no route entry in 198.18.0.0/15');
});
