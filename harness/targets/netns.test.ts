import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Program } from '../../model/program.js';
import { ip4 } from '../../model/program.js';
import { NetnsTarget, defaultProbePath } from './netns.js';

const MSG_PROBE = 0x10;
const hasProbe = existsSync(defaultProbePath);
const probeTest = hasProbe ? test.serial : test.serial.skip;

function udpSend(id: string, n: number, opts: { flags?: number; mtu?: number } = {}): Program {
  const payload = new Uint8Array(n).map((_, i) => i & 0xff);
  return {
    id,
    net: { mtu: opts.mtu ?? 1500, routeMtu: null, sysctl: [], txChecksum: false, gso: false },
    socket: { domain: 2, type: 2, protocol: 17 },
    setsockopt: [],
    bind: null,
    connect: null,
    sends: [{ to: { addr: ip4('198.18.0.2'), port: 7000 }, payload, iov: [n], flags: opts.flags ?? 0, control: new Uint8Array(0), txIfindexAt: [], setsockoptBefore: [] }],
  };
}

const pids = (ppid: number): number[] => {
  try {
    return execFileSync('pgrep', ['-P', String(ppid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);
const netnsInUse = (): string[] => execFileSync('lsns', ['-t', 'net', '-n', '-o', 'NS'], { encoding: 'utf8' }).split('\n').map((l) => l.trim());

/** The namespace with this inode is held by no process any more (threads of a killed process may take a moment to go). */
async function netnsGone(inode: string, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!netnsInUse().includes(inode)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
const mainLinks = (): string => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
const namedNetns = (): string => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

async function gone(pidList: number[], ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!pidList.some(alive)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

probeTest('NetnsTarget: UDP send, MSG_PROBE, fragments; per-case attribution; no drops; nothing left after close', async (t) => {
  const namedBefore = namedNetns();
  const target = new NetnsTarget();
  const info = await target.start();
  t.is(info.release, execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
  const worker = target.workerPid!;
  const probe = pids(worker);
  t.is(probe.length, 1, 'the worker runs one probe');
  const ns = readlinkSync(`/proc/${worker}/ns/net`);
  t.not(ns, readlinkSync('/proc/self/ns/net'), 'the worker is not in the main netns');

  try {
    // 100 bytes from an unbound socket: one datagram of 20 + 8 + 100 bytes.
    const a = await target.runCase(udpSend('udp-100', 100));
    t.is(a.harnessError, undefined);
    t.deepEqual(a.result.sends, [{ ret: 100 }]);
    t.is(a.result.packets.length, 1);
    const pa = Buffer.from(a.result.packets[0]!.hex, 'hex');
    t.is(pa.length, 128);
    t.is(pa.readUInt16BE(2), 128);
    t.is(pa[9], 17);
    t.is(pa.readUInt32BE(12), ip4('198.18.0.1'));
    t.is(pa.readUInt32BE(16), ip4('198.18.0.2'));
    t.is(pa.readUInt16BE(22), 7000);
    t.is(typeof a.result.inputs?.sport, 'number');
    t.is(pa.readUInt16BE(20), a.result.inputs!.sport!);
    t.true((a.result.inputs?.tx_ifindex ?? 0) > 0);
    t.is(a.frames.length, 1, 'the fence is not among the frames');
    t.is(Buffer.from(a.frames[0]!.data.subarray(14)).toString('hex'), a.result.packets[0]!.hex);
    t.true(a.captureMsOfDay !== null && a.captureMsOfDay >= 0 && a.captureMsOfDay < 86_400_000);

    // MSG_PROBE: the call succeeds, nothing leaves tx.
    const b = await target.runCase(udpSend('udp-msg-probe', 100, { flags: MSG_PROBE }));
    t.is(b.harnessError, undefined);
    t.deepEqual(b.result.sends, [{ ret: 100 }]);
    t.deepEqual(b.result.packets, []);
    t.deepEqual(b.frames, []);
    t.is(b.captureMsOfDay, null);

    // 3000 bytes at MTU 1500: three fragments sharing one ID, offsets 0, 1480, 2960.
    const c = await target.runCase(udpSend('udp-3000-frag', 3000));
    t.is(c.harnessError, undefined);
    const frags = c.result.packets.map((p) => Buffer.from(p.hex, 'hex'));
    t.deepEqual(frags.map((f) => f.length), [1500, 1500, 68]);
    t.deepEqual(frags.map((f) => (f.readUInt16BE(6) & 0x1fff) * 8), [0, 1480, 2960]);
    t.deepEqual(frags.map((f) => (f.readUInt16BE(6) & 0x2000) !== 0), [true, true, false]);
    t.is(new Set(frags.map((f) => f.readUInt16BE(4))).size, 1);

    // Attribution across consecutive cases: each case sees only its own payload length.
    const sizes = [11, 222, 33, 0, 444, 5, 1472, 1473];
    for (const n of sizes) {
      const o = await target.runCase(udpSend(`udp-${n}`, n));
      t.is(o.harnessError, undefined);
      const total = o.result.packets.map((p) => Buffer.from(p.hex, 'hex')).reduce((s, p) => s + p.length - 20, 0);
      t.is(total, 8 + n, `case udp-${n} holds exactly its own datagram`);
      t.is(o.result.packets.length, n > 1472 ? 2 : 1);
    }

    // A burst of 702 frames: two 28000-byte datagrams at a locked route MTU of 100, sent back to
    // back. The capture ring (RING_BYTES, one 64 KB slot a frame) holds all of it; 32 MiB did not.
    const burst = udpSend('udp-burst-702', 28000);
    burst.net.routeMtu = 100;
    burst.sends.push({ ...burst.sends[0]! });
    const d = await target.runCase(burst);
    t.is(d.harnessError, undefined);
    t.deepEqual(d.result.sends, [{ ret: 28000 }, { ret: 28000 }]);
    t.is(d.result.packets.length, 702);
    t.is(target.drops(), 0);
  } finally {
    await target.close();
    await target.close();
  }
  t.true(await gone([worker, ...probe]), 'worker and probe have exited');
  t.true(await netnsGone(ns.replace(/^net:\[(\d+)\]$/, '$1')), 'the anonymous netns is gone');
  t.notRegex(mainLinks(), /\b(tx|rx)@/, 'no tx/rx in the main netns');
  t.is(namedNetns(), namedBefore, 'no named netns created');
  t.is(target.workerPid, null);
});

probeTest('NetnsTarget: a run stopped by SIGINT leaves no worker, probe or interface behind', async (t) => {
  const netnsJs = fileURLToPath(new URL('./netns.js', import.meta.url));
  const script = `
    import { NetnsTarget } from ${JSON.stringify(netnsJs)};
    const t = new NetnsTarget();
    await t.start();
    const p = { id: 'loop', net: { mtu: 1500, routeMtu: null, sysctl: [], txChecksum: false, gso: false },
      socket: { domain: 2, type: 2, protocol: 17 }, setsockopt: [], bind: null, connect: null,
      sends: [{ to: { addr: 0xc6120002, port: 7000 }, payload: new Uint8Array(100), iov: [100], flags: 0, control: new Uint8Array(0), txIfindexAt: [], setsockoptBefore: [] }] };
    let n = 0;
    for (;;) { await t.runCase(p); if (++n === 3) console.log(JSON.stringify({ worker: t.workerPid })); }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const worker = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"worker":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`script ended early: ${out} ${err}`)));
  });
  const probe = pids(worker);
  t.is(probe.length, 1);
  const ns = readlinkSync(`/proc/${worker}/ns/net`).replace(/^net:\[(\d+)\]$/, '$1');
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
  child.kill('SIGINT');
  t.is(await exited, 'SIGINT', 'the script died by SIGINT (the handler re-raised it)');
  t.true(await gone([worker, ...probe]), 'worker and probe are gone');
  t.true(await netnsGone(ns), 'the anonymous netns is gone');
  t.notRegex(mainLinks(), /\b(tx|rx)@/);
});

probeTest('NetnsTarget: a probe killed between cases gives that case a harnessError; a fresh netns runs the next', async (t) => {
  const target = new NetnsTarget();
  await target.start();
  try {
    const first = target.workerPid!;
    t.is((await target.runCase(udpSend('before', 10))).harnessError, undefined);
    const probe = pids(first);
    t.is(probe.length, 1);
    process.kill(probe[0]!, 'SIGKILL');
    await gone(probe);
    const hit = await target.runCase(udpSend('probe-dead', 10));
    t.regex(hit.harnessError ?? '', /probe/);
    t.deepEqual(hit.result.packets, []);
    t.true(await gone([first]), 'the old worker (and its netns) is gone');
    const after = await target.runCase(udpSend('after', 10));
    t.is(after.harnessError, undefined);
    t.is(after.result.packets.length, 1);
    t.not(target.workerPid, first);
    t.is(target.drops(), 0);
  } finally {
    await target.close();
  }
});
