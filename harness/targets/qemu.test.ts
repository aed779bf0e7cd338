import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lower } from '../../model/lower.js';
import { predict } from '../../model/predict.js';
import { profileFor } from '../../model/profiles.js';
import type { Program } from '../../model/program.js';
import { main } from '../cli.js';
import { loadCases, runCases, type CaseInput } from '../run.js';
import { builtinSuiteFiles } from '../suites.js';
import { debianUpstreamVersion, offloadLimit, parseVirtioFeatures, QemuTarget, type NicOffload } from './qemu.js';
import { defaultProbePath } from './netns.js';
import { caseFile } from '../testing/fixtures.js';

// One guest at a time (two TCG guests on 2 cores slow each other past their budgets): every test here is serial.
const guestTest = existsSync(defaultProbePath) ? test.serial : test.serial.skip;


const alive = (pid: number): boolean => existsSync(`/proc/${pid}`);
const netnsList = (): string => execFileSync('lsns', ['-t', 'net', '-n', '-o', 'NS'], { encoding: 'utf8' });
/** This process's guests still running (QEMU is our child: setpriv, unshare and sh exec it); others' runs may boot guests meanwhile. */
const qemuProcs = (): string[] => {
  try {
    return execFileSync('pgrep', ['-a', '-P', String(process.pid), '-f', 'qemu-system.*skbdiff-vm-'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/** The guest's QEMU pid and its netns inode, for checking that both are gone later. */
function guestTrace(target: QemuTarget): { pid: number; ns: string } {
  const g = target.guest!;
  return { pid: g.pid, ns: readlinkSync(g.netnsPath).replace(/^net:\[(\d+)\]$/, '$1') };
}

async function goneSoon(pid: number, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && alive(pid)) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

const UDP_FRAG_PING = ['udp-basic-100', 'udp-unbound-autobind', 'frag-mtu68-100', 'frag-mtu68-opts40-50'];
const OFFLOAD_ON = 'gso-sockopt-1000-3000-offload-on';
const CSUM_ONLY = 'gso-sockopt-1000-3000-csum-only';
/** Offload off, UDP GSO: the guest segments and finishes every checksum (6.12+; EIO before). */
const OFFLOAD_OFF = 'gso-sockopt-1000-3000';

/** The built-in cases `ids`, lowered. */
async function programs(t: import('ava').ExecutionContext, ids: string[]): Promise<Map<string, Program>> {
  const m = new Map<string, Program>();
  for (const c of await loadCases([caseFile(t, ids)])) if (c.ok) m.set(c.case.id, lower(c.case));
  return m;
}

/** A UDP datagram's checksum field, and the folded pseudo-header sum a CHECKSUM_PARTIAL header holds instead of the final one. */
function udpChecksums(hex: string): { field: number; partial: number; valid: boolean } {
  const b = Buffer.from(hex, 'hex');
  const ihl = (b[0]! & 15) * 4;
  const udp = b.subarray(ihl);
  const fold = (s: number): number => {
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return s;
  };
  const words = (buf: Buffer): number => {
    let s = 0;
    for (let i = 0; i < buf.length; i += 2) s += (buf[i]! << 8) | (buf[i + 1] ?? 0);
    return s;
  };
  const pseudo = words(b.subarray(12, 20)) + 17 + udp.length;
  return { field: udp.readUInt16BE(6), partial: fold(pseudo), valid: fold(pseudo + words(udp)) === 0xffff };
}

test('debianUpstreamVersion reads the point release from uname -v', (t) => {
  t.is(debianUpstreamVersion('#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-06-01)'), '6.1.176');
  t.is(debianUpstreamVersion('#1 SMP Debian 5.10.223-1 (2024-08-10)'), '5.10.223');
  t.is(debianUpstreamVersion('#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~bpo12+1 (2026-01-01)'), '6.12.117');
  t.is(debianUpstreamVersion('#5 SMP PREEMPT_DYNAMIC Tue Nov 4 2025'), null);
});

test('parseVirtioFeatures reads CSUM, HOST_TSO4 and HOST_USO from the sysfs bit string', (t) => {
  const bits = (on: number[]): string => Array.from({ length: 64 }, (_, i) => (on.includes(i) ? '1' : '0')).join('') + '\n';
  t.like(parseVirtioFeatures(bits([0, 11])), { csum: true, tso4: true, uso: false });
  t.like(parseVirtioFeatures(bits([56])), { csum: false, tso4: false, uso: true });
  t.throws(() => parseVirtioFeatures('cat: /sys/class/net/tx/device/features: No such file'), { message: /not a bit string/ });
});

test('offloadLimit: only a checksum-offload case on a NIC without CSUM is refused; GSO without USO is a model input, not a refusal', async (t) => {
  const p = await programs(t, [OFFLOAD_ON, CSUM_ONLY, OFFLOAD_OFF, 'udp-basic-100']);
  const nic = (o: Partial<NicOffload>): NicOffload => ({ csum: true, tso4: true, uso: false, bits: '', ...o });
  t.is(offloadLimit(p.get(OFFLOAD_ON)!, nic({})), null);
  t.is(offloadLimit(p.get(CSUM_ONLY)!, nic({})), null);
  t.regex(offloadLimit(p.get(CSUM_ONLY)!, nic({ csum: false })) ?? '', /VIRTIO_NET_F_CSUM/);
  for (const id of [OFFLOAD_OFF, 'udp-basic-100']) t.is(offloadLimit(p.get(id)!, nic({ csum: false })), null, id);
});

guestTest('qemu target on debian:6.1: cases pass over SSH with capture on tap0; tx checksum offload shows the partial sum; GSO on a NIC without USO is segmented in the guest, as the model predicts from that input; nothing left after close', async (t) => {
  const file = caseFile(t, [...UDP_FRAG_PING, OFFLOAD_ON, CSUM_ONLY]);
  const cases = await loadCases([file]);
  const target = new QemuTarget({ kernel: 'debian:6.1', log: (l) => t.log(l) });
  const info = await target.start();
  t.regex(info.release, /^6\.1\.0-\d+-cloud-amd64$/);
  // The Debian ABI name has no point release; uname -v has it, and the profile is picked from it.
  t.regex(info.profileRelease ?? '', /^6\.1\.\d+$/);
  t.log(`${info.details['accel']}, boot ${info.details['boot_seconds']} s, ${info.details['uname_v']}`);
  // virtio feature bits 0 (VIRTIO_NET_F_CSUM) and 11 (HOST_TSO4) negotiated: the guest may hand the NIC unfinished
  // packets when a case turns the ethtool switches on. 6.1's virtio_net knows no HOST_USO (bit 56, from 6.2).
  const features = (await target.guest!.ssh[0]!.exec('cat /sys/class/net/tx/device/features')).stdout.trim();
  t.regex(features, /^[01]{64}$/);
  t.is(features[0], '1', 'VIRTIO_NET_F_CSUM not negotiated');
  t.is(features[11], '1', 'VIRTIO_NET_F_HOST_TSO4 not negotiated');
  t.is(features[56], '0');
  t.regex(info.details['offload'] ?? '', /negotiated CSUM, HOST_TSO4, no HOST_USO/);
  const trace = guestTrace(target);
  t.true(netnsList().includes(trace.ns));

  const r = await runCases(cases, target, { predict });
  for (const c of r.cases) t.log(`${c.id}: ${c.verdict}${c.error ? ` (${c.error.message.slice(0, 160)})` : ''}${c.rendered.length ? ` ${c.rendered.join(' | ')}` : ''}`);
  t.is(r.profile?.release, info.profileRelease);
  t.deepEqual(r.cases.slice(0, UDP_FRAG_PING.length).map((c) => c.verdict), UDP_FRAG_PING.map(() => 'pass'));
  // Captured on tap0: the fragments are there, byte for byte what the model predicted.
  t.is(r.cases.find((c) => c.id === 'frag-mtu68-100')?.observed?.packets.length, 3);
  // gso + csum on, NIC without HOST_USO: inputs.tx_gso_udp_l4 false, so the model predicts the
  // guest's software segments (partial sums), not the super-packet veth would take.
  const off = r.cases.find((c) => c.id === OFFLOAD_ON)!;
  t.is(off.observed?.inputs?.tx_gso_udp_l4, false);
  t.is(off.verdict, 'pass');
  t.true((off.observed?.packets.length ?? 0) > 1);
  // tx checksum on, GSO off: three segments, each carrying the pseudo-header sum the device would complete, as on veth.
  const csum = r.cases.find((c) => c.id === CSUM_ONLY)!;
  t.is(csum.verdict, 'pass');
  t.is(csum.observed?.packets.length, 3);
  for (const pk of csum.observed?.packets ?? []) {
    const c = udpChecksums(pk.hex);
    t.is(c.field, c.partial);
    t.false(c.valid);
  }
  // Offload off (the default) in the same guest: the UDP checksums are final again.
  for (const c of r.cases.slice(0, 2)) for (const pk of c.observed?.packets ?? []) t.true(udpChecksums(pk.hex).valid, String(c.id));
  t.is(r.drops, 0);
  t.true(r.valid);

  // runCases closed the target: QEMU, its namespace (and tap0 with it) are gone.
  t.true(await goneSoon(trace.pid), 'QEMU still running');
  t.false(netnsList().includes(trace.ns), 'the guest netns outlived QEMU');
  t.deepEqual(qemuProcs(), []);
});

guestTest('qemu target on debian:5.10: gso + tx checksum on gives software segments with partial sums (no GSO_UDP_L4 on 5.10), as the model says; offload off gives final checksums', async (t) => {
  const cases = await loadCases([caseFile(t, [OFFLOAD_ON, CSUM_ONLY, 'udp-basic-100'])]);
  const target = new QemuTarget({ kernel: 'debian:5.10', log: (l) => t.log(l) });
  const r = await runCases(cases, target, { predict });
  for (const c of r.cases) t.log(`${c.id}: ${c.verdict}${c.error ? ` (${c.error.message.slice(0, 200)})` : ''}${c.rendered.length ? ` ${c.rendered.join(' | ')}` : ''}`);
  t.is(r.profile?.line, '5.10');
  t.deepEqual(r.cases.map((c) => c.verdict), ['pass', 'pass', 'pass']);
  for (const id of [OFFLOAD_ON, CSUM_ONLY]) {
    const pkts = r.cases.find((c) => c.id === id)!.observed!.packets;
    t.is(pkts.length, 3, id);
    for (const pk of pkts) t.is(udpChecksums(pk.hex).field, udpChecksums(pk.hex).partial, id);
  }
  t.true(udpChecksums(r.cases[2]!.observed!.packets[0]!.hex).valid);
  t.true(r.valid);
  t.deepEqual(qemuProcs(), []);
});

guestTest('a guest that panics mid-run: that case is an error with the console excerpt, a fresh guest runs the rest', async (t) => {
  const file = caseFile(t, UDP_FRAG_PING);
  const cases: CaseInput[] = await loadCases([file]);
  const crashAt = 'udp-unbound-autobind';
  let crashedPid = 0;
  const target = new QemuTarget({
    kernel: 'debian:6.1',
    caseTimeoutMs: 20_000,
    // Test-only hook: crash the kernel (sysrq 'c') as this case goes to the probe.
    beforeCase: async (program, guest) => {
      if (program.id !== crashAt || crashedPid) return;
      crashedPid = guest.pid;
      const s = await guest.connect();
      void s.exec('echo c >/proc/sysrq-trigger', { timeoutMs: 60_000 }).catch(() => {});
      // The case goes out once the kernel is going down (the console shows the crash).
      const end = Date.now() + 20_000;
      while (!guest.fault() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    },
  });
  const r = await runCases(cases, target, { predict });
  for (const c of r.cases) t.log(`${c.id}: ${c.verdict}${c.error ? `\n${c.error.message.slice(0, 1500)}` : ''}`);
  t.deepEqual(r.cases.map((c) => c.verdict), ['pass', 'error', 'pass', 'pass']);
  const e = r.cases[1]!.error!;
  t.is(e.kind, 'harness');
  t.regex(e.message, /failed during this case/);
  t.regex(e.message, /--- guest console ---/);
  t.regex(e.message, /sysrq|Kernel panic/i);
  t.is(target.bootCount, 2);
  t.true(await goneSoon(crashedPid));
  t.deepEqual(qemuProcs(), []);
});

guestTest('skbdiff matrix --kernels host,debian:6.1: per-kernel results, matrix.json, a table of groups by kernel', async (t) => {
  const file = caseFile(t, UDP_FRAG_PING, 'smallgroup');
  const outDir = mkdtempSync(join(tmpdir(), 'skbdiff-matrix-'));
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }));
  let stdout = '';
  let stderr = '';
  const code = await main(['matrix', '--kernels', 'host,debian:6.1', '--out', outDir, file], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  t.log(stdout);
  t.is(code, 0, stderr);
  const runDir = join(outDir, readdirSync(outDir).find((d) => d !== 'latest')!);
  t.deepEqual(readdirSync(runDir).sort(), ['debian-6.1', 'host', 'matrix.json', 'matrix.txt']);
  for (const k of ['host', 'debian-6.1']) {
    const res = JSON.parse(readFileSync(join(runDir, k, 'results.json'), 'utf8')) as { target: { name: string }; counts: { pass: number } };
    t.is(res.target.name, k === 'host' ? 'netns' : 'qemu');
    t.is(res.counts.pass, 4);
    t.true(existsSync(join(runDir, k, 'observed.pcap')));
  }
  const m = JSON.parse(readFileSync(join(runDir, 'matrix.json'), 'utf8')) as {
    format: string;
    kernels: Array<{ spec: string; profile: { line: string } }>;
    groups: Record<string, Record<string, { pass: number; total: number }>>;
  };
  t.is(m.format, 'skbdiff-matrix/1');
  t.deepEqual(m.kernels.map((k) => k.spec), ['host', 'debian:6.1']);
  t.is(m.kernels[1]!.profile.line, '6.1');
  t.deepEqual(m.groups['smallgroup']!['debian:6.1'], { pass: 4, differ: 0, error: 0, total: 4 });
  t.regex(stdout, /^group\s+host\s+debian:6\.1\n/);
  t.regex(stdout, /\nsmallgroup\s+4\/4\s+4\/4\n/);
  t.deepEqual(qemuProcs(), []);
});
