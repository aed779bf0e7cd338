/**
 * The real static probe, in a fresh anonymous network namespace
 * (`unshare --net`) with `--lab veth`: its syscall results, and the frames
 * that leave tx as tcpdump on rx sees them. Needs root (CAP_NET_ADMIN).
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ip4, type Program, type ProgramSend } from '../../model/program.js';
import { probePath, spawnProbe, type CaseRun, type ProbeProcess } from './protocol.js';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const IPPROTO_UDP = 17;
const SOL_IP = 0;
const IP_TTL = 2;
const IP_MTU_DISCOVER = 10;
const IP_PMTUDISC_DONT = 0;
const IP_PMTUDISC_DO = 2;
const SOL_UDP = 17;
const UDP_CORK = 1;
const PEER = ip4('198.18.0.2');

function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true);
  return b;
}

function udpSend(len: number, over: Partial<ProgramSend> = {}): ProgramSend {
  const payload = Uint8Array.from({ length: len }, (_, i) => i & 0xff);
  return { to: { addr: PEER, port: 7000 }, payload, iov: [len], flags: 0, control: new Uint8Array(0), txIfindexAt: [], setsockoptBefore: [], ...over };
}

function udp(id: string, over: Partial<Program> = {}): Program {
  return {
    id,
    net: { mtu: 1500, routeMtu: null, sysctl: [], txChecksum: false, gso: false },
    socket: { domain: AF_INET, type: SOCK_DGRAM, protocol: IPPROTO_UDP },
    setsockopt: [],
    bind: null,
    connect: null,
    sends: [udpSend(100)],
    ...over,
  };
}

/** struct cmsghdr (x86-64: size_t len, int level, int type) + an int, CMSG_SPACE-aligned, len field as given. */
function cmsgInt(level: number, type: number, value: number, lenField: number): Uint8Array {
  const b = new Uint8Array(24);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(lenField), true);
  v.setInt32(8, level, true);
  v.setInt32(12, type, true);
  v.setInt32(16, value, true);
  return b;
}

function ok(t: { fail(m: string): void }, r: CaseRun): Exclude<CaseRun, { labError: string }> {
  if ('labError' in r) {
    t.fail(`lab error: ${r.labError}`);
    throw new Error(r.labError);
  }
  return r;
}

/** Frames of a classic pcap file (link type Ethernet). */
function pcapFrames(file: string): Buffer[] {
  const b = readFileSync(file);
  if (b.length < 24 || b.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian pcap`);
  const frames: Buffer[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const incl = b.readUInt32LE(o + 8);
    frames.push(b.subarray(o + 16, o + 16 + incl));
    o += 16 + incl;
  }
  return frames;
}

function mainNamespaceState(): string {
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.replace(/^\d+: /, '').split(/[:@]/)[0])
    .sort()
    .join(',');
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).trim();
  return `links=${links} netns=${netns}`;
}

const root = process.getuid?.() === 0;
const probe = probePath();

test.serial('the probe in a fresh netns: results, kernel-chosen values, frames on rx, nothing left behind', async (t) => {
  if (!root) {
    t.log('not root: cannot create network namespaces');
    t.pass();
    return;
  }
  t.true(existsSync(probe), `${probe} missing: run make -C kernel-probes`);
  const before = mainNamespaceState();
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-probe-test-'));
  const pcap = join(dir, 'rx.pcap');
  let p: ProbeProcess | null = null;
  let dump: ReturnType<typeof spawn> | null = null;
  try {
    p = await spawnProbe(['unshare', '--net', '--', probe, '--lab', 'veth'], { caseTimeoutMs: 10_000 });
    t.is(p.ready.tx, 'tx');
    t.is(p.ready.rx, 'rx');
    t.is(p.ready.release, execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    // the probe is idle in the lab netns between cases: join it there
    const labNs = `--net=/proc/${p.pid}/ns/net`;
    const rxPackets = () =>
      Number(execFileSync('nsenter', [labNs, 'cat', '/proc/net/dev'], { encoding: 'utf8' }).match(/^\s*rx:\s*\d+\s+(\d+)/m)?.[1]);
    dump = spawn('nsenter', [labNs, 'tcpdump', '-i', 'rx', '-n', '--immediate-mode', '-U', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      dump!.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) resolve();
      });
      dump!.on('exit', () => reject(new Error(`tcpdump exited: ${err}`)));
    });
    const rx0 = rxPackets();

    // 1. a 100-byte datagram from an unbound socket
    const r1 = ok(t, await p.runCase(1, udp('udp-100')));
    t.true('ret' in r1.results.socket);
    t.deepEqual(r1.results.sends, [{ ret: 100 }]);
    t.true(r1.sport !== null && r1.sport >= 32768 && r1.sport <= 60999, `sport ${r1.sport}`);
    t.true(r1.txIfindex > 0);

    // 2. an IP_TTL cmsg whose cmsg_len is 0: the control buffer is rejected
    const r2 = ok(t, await p.runCase(2, udp('ttl-cmsg-len-0', { sends: [udpSend(10, { control: cmsgInt(SOL_IP, IP_TTL, 3, 0) })] })));
    t.deepEqual(r2.results.sends, [{ errno: 'EINVAL' }]);

    // 3. MTU 1280, DF by IP_PMTUDISC_DO, 1300 bytes: too big
    const r3 = ok(
      t,
      await p.runCase(3, udp('pmtudisc-do-emsgsize', {
        net: { mtu: 1280, routeMtu: null, sysctl: [], txChecksum: false, gso: false },
        setsockopt: [{ level: SOL_IP, name: IP_MTU_DISCOVER, value: int32(IP_PMTUDISC_DO) }],
        sends: [udpSend(1300)],
      })),
    );
    t.deepEqual(r3.results.setsockopt, [{ ret: 0 }]);
    t.deepEqual(r3.results.sends, [{ errno: 'EMSGSIZE' }]);

    // 4. a locked route MTU of 1000 fragments 1300 bytes (DF off), bound port, IP_TTL via sysctl
    const r4 = ok(
      t,
      await p.runCase(4, udp('route-mtu-fragments', {
        net: { mtu: 1500, routeMtu: 1000, sysctl: [['net.ipv4.ip_default_ttl', '9']], txChecksum: false, gso: false },
        setsockopt: [{ level: SOL_IP, name: IP_MTU_DISCOVER, value: int32(IP_PMTUDISC_DONT) }],
        bind: { addr: ip4('198.18.0.1'), port: 40000 },
        sends: [udpSend(1300, { iov: [700, 600] })],
      })),
    );
    t.deepEqual(r4.results.bind, { ret: 0 });
    t.deepEqual(r4.results.sends, [{ ret: 1300 }]);
    t.is(r4.sport, 40000);

    // 5. a lab fault answers ERR and the probe goes on
    const r5 = await p.runCase(5, udp('bad-sysctl', { net: { mtu: 1500, routeMtu: null, sysctl: [['net.ipv4.no_such_knob', '1']], txChecksum: false, gso: false } }));
    t.deepEqual(r5, { labError: 'sysctl net.ipv4.no_such_knob: No such file or directory' });
    const r6 = ok(t, await p.runCase(6, udp('after-error')));
    t.deepEqual(r6.results.sends, [{ ret: 100 }]);

    // 7. SENDOPT: UDP_CORK on the socket corks send 0; send 1's own UDP_CORK = 0 pushes it before
    // send 1's IP_TTL 7 and sendmsg; setsockopt results are numbered in the order made; 8 bytes of
    // control data are no cmsg at all (for_each_cmsghdr finds no header) and are ignored
    const r7 = ok(
      t,
      await p.runCase(7, udp('sendopt-cork-push', {
        setsockopt: [{ level: SOL_UDP, name: UDP_CORK, value: int32(1) }],
        sends: [
          udpSend(30),
          udpSend(20, {
            setsockoptBefore: [
              { level: SOL_UDP, name: UDP_CORK, value: int32(0) },
              { level: SOL_IP, name: IP_TTL, value: int32(7) },
              { level: SOL_IP, name: IP_TTL, value: new Uint8Array(0) }, // optlen < 1: EINVAL
            ],
            control: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
          }),
        ],
      })),
    );
    t.deepEqual(r7.results.setsockopt, [{ ret: 0 }, { ret: 0 }, { ret: 0 }, { errno: 'EINVAL' }]);
    t.deepEqual(r7.results.sends, [{ ret: 30 }, { ret: 20 }]);

    // frames: udp-100, fence 1, fence 2, fence 3, two fragments, fence 4, udp-100, fence 6, corked 30, 20 at ttl 7, fence 7
    const deadline = Date.now() + 3000;
    while (rxPackets() - rx0 < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    t.is(rxPackets() - rx0, 12, 'rx_packets of rx');
    await new Promise((r) => setTimeout(r, 200));
    dump.kill('SIGTERM');
    await new Promise((r) => dump!.once('exit', r));
    const frames = pcapFrames(pcap);
    const kinds = frames.map((f) => {
      const type = f.readUInt16BE(12);
      if (type === 0x88b5) {
        t.is(f.subarray(14, 27).toString('latin1'), 'SKBDIFF-FENCE');
        t.deepEqual([...f.subarray(0, 6)], [255, 255, 255, 255, 255, 255]);
        return `fence ${f.readUInt32BE(27)}`;
      }
      t.is(type, 0x0800);
      const ip = f.subarray(14);
      const frag = ip.readUInt16BE(6);
      return `ip len=${ip.readUInt16BE(2)} ttl=${ip[8]} df=${(frag >> 14) & 1} mf=${(frag >> 13) & 1} off=${(frag & 0x1fff) * 8}`;
    });
    t.deepEqual(kinds, [
      'ip len=128 ttl=64 df=1 mf=0 off=0',
      'fence 1',
      'fence 2',
      'fence 3',
      'ip len=996 ttl=9 df=0 mf=1 off=0',
      'ip len=352 ttl=9 df=0 mf=0 off=976',
      'fence 4',
      'ip len=128 ttl=64 df=1 mf=0 off=0',
      'fence 6',
      'ip len=58 ttl=64 df=1 mf=0 off=0',
      'ip len=48 ttl=7 df=1 mf=0 off=0',
      'fence 7',
    ]);
    // the first datagram's source port is the one getsockname reported, and its checksum is final
    const udp1 = frames[0]!.subarray(14 + 20);
    t.is(udp1.readUInt16BE(0), r1.sport ?? -1);
    t.is(udp1.readUInt16BE(2), 7000);
    t.is(onesComplementSum(pseudoHeader(frames[0]!.subarray(14)), udp1), 0xffff, 'UDP checksum verifies');
  } finally {
    dump?.kill('SIGTERM');
    await p?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  t.true(p?.exited);
  const after = mainNamespaceState();
  t.is(after, before, 'no interface or named netns left in the main namespace');
  t.false(/links=(.*,)?(tx|rx)(,|$)/.test(after), after);
  // our probe and tcpdump are gone (other engineers' probes may run meanwhile: look up ours by pid)
  for (const pid of [p?.pid, dump?.pid]) {
    t.truthy(pid);
    t.throws(() => process.kill(pid!, 0), { code: 'ESRCH' }, `pid ${pid} still alive`);
  }
});

test.serial('the probe refuses SENDOPT lines with no SEND after them, and goes on', async (t) => {
  if (!root) {
    t.log('not root: cannot create network namespaces');
    t.pass();
    return;
  }
  const child = spawn('unshare', ['--net', '--', probe, '--lab', 'veth'], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    let out = '';
    let wake = () => {};
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      wake();
    });
    /** The first n reply lines, once there are n. */
    const lines = (n: number) =>
      new Promise<string[]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${n} lines within 5 s: ${out}`)), 5000);
        wake = () => {
          const l = out.split('\n').filter((x) => x !== '');
          if (l.length >= n) {
            clearTimeout(timer);
            resolve(l);
          }
        };
        wake();
      });
    t.regex((await lines(1))[0]!, /^READY skbdiff-probe\/3 /);
    child.stdin.write('CASE 1 x\nNET 1500 - 0 0\nSOCKET 2 2 17\nSENDOPT 0 2 05000000\nRUN\n');
    t.regex((await lines(2))[1]!, /^ERR 1 bad request \(SENDOPT without a SEND after it\)/);
    child.stdin.write('CASE 2 y\nNET 1500 - 0 0\nSOCKET 2 2 17\nSENDOPT 0 2\n');
    t.regex((await lines(3))[2]!, /^ERR 2 bad request \(SENDOPT <level> <name> <hex\|->\)/);
    child.stdin.write('CASE 3 z\nNET 1500 - 0 0\nSOCKET 2 2 17\nSENDOPT 0 2 05000000\nSEND 0 198.18.0.2 7 - 00 - -\nRUN\n');
    const l = await lines(7);
    t.regex(l[3]!, /^RES 3 socket ret=\d+$/);
    t.deepEqual(l.slice(4, 6), ['RES 3 setsockopt 0 ret=0', 'RES 3 send 0 ret=1']);
    t.regex(l[6]!, /^INFO 3 /);
  } finally {
    child.stdin.end('QUIT\n');
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
});

test.serial('CAPS: the socket calls run without the dropped network capabilities, the lab keeps full privileges', async (t) => {
  if (!root) {
    t.log('not root: cannot create network namespaces');
    t.pass();
    return;
  }
  const SOCK_RAW = 3;
  const raw = (id: string, caps: number[] | undefined): Program =>
    udp(id, { socket: { domain: AF_INET, type: SOCK_RAW, protocol: 253, ...(caps !== undefined ? { caps } : {}) }, sends: [udpSend(4)] });
  const p = await spawnProbe(['unshare', '--net', '--', probe, '--lab', 'veth'], { caseTimeoutMs: 10_000 });
  try {
    // inet_create: SOCK_RAW needs CAP_NET_RAW
    const none = ok(t, await p.runCase(1, raw('raw-no-caps', [])));
    t.deepEqual(none.results.socket, { errno: 'EPERM' });
    t.deepEqual(ok(t, await p.runCase(2, raw('raw-net-admin', [12]))).results.socket, { errno: 'EPERM' });
    const netRaw = ok(t, await p.runCase(3, raw('raw-net-raw', [13])));
    t.true('ret' in netRaw.results.socket);
    t.deepEqual(netRaw.results.sends, [{ ret: 4 }]);
    // restored after the case: the next lab is built and a raw socket opens again without CAPS
    const after = ok(t, await p.runCase(4, raw('raw-root-again', undefined)));
    t.deepEqual(after.results.sends, [{ ret: 4 }]);
    // __inet_bind: port 80 needs CAP_NET_BIND_SERVICE; the drop lasts until the last send
    const bind80 = (caps: number[]) => udp('bind-80', { socket: { domain: AF_INET, type: SOCK_DGRAM, protocol: IPPROTO_UDP, caps }, bind: { addr: ip4('198.18.0.1'), port: 80 } });
    t.deepEqual(ok(t, await p.runCase(5, bind80([13]))).results.bind, { errno: 'EACCES' });
    t.deepEqual(ok(t, await p.runCase(6, bind80([10]))).results.bind, { ret: 0 });
  } finally {
    await p.close();
  }
});

function pseudoHeader(ip: Buffer): Buffer {
  const ph = Buffer.alloc(12);
  ip.copy(ph, 0, 12, 20);
  ph[9] = 17;
  ph.writeUInt16BE(ip.readUInt16BE(2) - (ip[0]! & 15) * 4, 10);
  return ph;
}

function onesComplementSum(...parts: Buffer[]): number {
  let s = 0;
  for (const b of parts) for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
