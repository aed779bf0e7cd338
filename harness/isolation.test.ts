/**
 * The traffic rule, checked on the real thing: while the netns target runs a
 * batch of cases, nothing from 198.18.0.0/15 shows up on any interface of the
 * main network namespace, and the main namespace has no address or route there.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Program } from '../model/program.js';
import { ip4 } from '../model/program.js';
import { watchMainNamespace } from './testing/fixtures.js';
import { NetnsTarget, defaultProbePath } from './targets/netns.js';

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
  const watch = watchMainNamespace();
  const target = new NetnsTarget();
  let packetsSent = 0;
  let seen: Awaited<ReturnType<typeof watch.stop>>;
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
  } finally {
    await target.close();
    seen = await watch.stop();
  }
  t.true(packetsSent >= 4 * 5, `the cases did send (${packetsSent} datagrams inside the lab)`);
  t.true(seen.markerSeen, `the capture on "any" saw the loopback marker (${seen.frames} frames seen)`);
  t.deepEqual(seen.leaked, [], 'no 198.18.0.0/15 packet in the main netns');

  const addrs = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  t.notRegex(addrs, /inet 198\.(18|19)\./, 'no 198.18.0.0/15 address in the main netns');
  // Every table (main, local, policy ones): no entry for a prefix inside 198.18.0.0/15.
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  t.notRegex(routes, /^(local |broadcast |unicast )?198\.(18|19)\./m, 'no route entry in 198.18.0.0/15');
});
