import test from 'ava';
import * as crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { predict } from '../../model/predict.js';
import { loadCases, runCases, targetRegistry } from '../run.js';
import { builtinSuiteFiles } from '../suites.js';
import { commandTransport, generateEd25519, SshSession } from '../ssh.js';
import { GUEST_MODULES } from '../../vms/initramfs.js';
import { resolveKernel } from '../../vms/kernels.js';
import { Guest } from '../../vms/qemu.js';
import { defaultProbePath } from './netns.js';
import { caseFile } from '../testing/fixtures.js';
import {
  HostKeyNotPinned,
  hostKeyFromKnownHosts,
  netDevRxPackets,
  parseHostSpec,
  sshOptionsFromFlags,
  SshTarget,
  tcpdumpKernelDrops,
} from './ssh.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

// ---- pure pieces ----

test('parseHostSpec: [user@]HOST[:PORT], IPv6 in brackets', (t) => {
  t.deepEqual(parseHostSpec('box'), { host: 'box', port: 22 });
  t.deepEqual(parseHostSpec('me@box:2222'), { username: 'me', host: 'box', port: 2222 });
  t.deepEqual(parseHostSpec('root@[fd00::1]:23'), { username: 'root', host: 'fd00::1', port: 23 });
  t.throws(() => parseHostSpec('@box'), { message: /expected \[user@\]HOST\[:PORT\]/ });
  t.throws(() => parseHostSpec('box:0'));
});

test('hostKeyFromKnownHosts: plain, hashed and [host]:port names; ed25519 preferred; revoked refused', (t) => {
  const ed = generateEd25519().publicKey;
  const other = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAAA';
  const salt = crypto.randomBytes(20);
  const hashed = (name: string): string => `|1|${salt.toString('base64')}|${crypto.createHmac('sha1', salt).update(name).digest('base64')}`;
  const text = [
    '# comment',
    `box,10.0.0.1 ${other}`,
    `box ${ed} a comment`,
    `${hashed('[hashed.example]:2222')} ${ed}`,
    `@cert-authority * ${other}`,
  ].join('\n');
  t.is(hostKeyFromKnownHosts(text, 'box'), ed);
  t.is(hostKeyFromKnownHosts(text, '10.0.0.1'), other);
  t.is(hostKeyFromKnownHosts(text, 'hashed.example', 2222), ed);
  t.is(hostKeyFromKnownHosts(text, 'hashed.example'), null);
  t.is(hostKeyFromKnownHosts(text, 'box', 2222), null);
  t.throws(() => hostKeyFromKnownHosts(`@revoked box ${ed}`, 'box'), { message: /revoked/ });
});

test('tcpdump drop statistics and /proc/net/dev rx counters are read', (t) => {
  t.is(tcpdumpKernelDrops('listening on rx, link-type EN10MB\n12 packets captured\n12 packets received by filter\n3 packets dropped by kernel\n'), 3);
  t.is(tcpdumpKernelDrops('tcpdump: rx: No such device exists'), null);
  const dev = 'Inter-|   Receive\n face |bytes    packets errs\n    lo:       0       0    0\n    rx:    4242      17    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n';
  t.is(netDevRxPackets(dev, 'rx'), 17);
  t.is(netDevRxPackets(dev, 'tx'), null);
});

test('no pinned host key: refused before connecting, with how to get one', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-sshtest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'id');
  writeFileSync(key, generateEd25519().privateKey);
  const e = t.throws(() => sshOptionsFromFlags({ host: 'root@198.18.9.9', identity: key }), { instanceOf: HostKeyNotPinned });
  t.regex(e!.message, /no pinned host key.*--host-key 'ssh-ed25519.*ssh-keyscan.*--known-hosts/);
  // A known_hosts file without the host is no pin either.
  const kh = join(dir, 'known_hosts');
  writeFileSync(kh, `other ${generateEd25519().publicKey}\n`);
  t.throws(() => sshOptionsFromFlags({ host: '198.18.9.9:2222', identity: key, knownHosts: kh }), { instanceOf: HostKeyNotPinned, message: /no key for \[198\.18\.9\.9\]:2222/ });
  t.throws(() => new SshTarget({ host: '198.18.9.9', privateKey: readFileSync(key, 'utf8'), hostPublicKey: '' }), { instanceOf: HostKeyNotPinned });
  // The registry entry (what the CLI calls) refuses the same way.
  t.throws(() => targetRegistry.get('ssh')!.create({ ssh: { host: '198.18.9.9', identity: key } }), { message: /no pinned host key/ });
});

// ---- a real remote: a QEMU guest (debian:6.1) reached through nsenter + nc, as vms/qemu.ts does ----

const guestTest = existsSync(defaultProbePath) && existsSync('/usr/bin/tcpdump') ? test.serial : test.serial.skip;


const CASES = ['udp-basic-100', 'udp-unbound-autobind', 'frag-mtu68-100', 'frag-mtu68-opts40-50', 'gso-sockopt-1000-3000-csum-only', 'gso-sockopt-1000-3000-offload-on'];

/** What runs in the guest that this test cares about, and how many network namespaces exist there. */
async function remoteState(s: SshSession): Promise<{ procs: string; netns: number; tmp: string }> {
  const r = await s.exec(
    'for p in /proc/[0-9]*; do c=$(tr "\\0" " " <$p/cmdline 2>/dev/null); case "$c" in *skbdiff-probe*|*tcpdump*) echo "${p#/proc/} $c";; esac; done; echo ---; ' +
      'for p in /proc/[0-9]*; do readlink $p/ns/net 2>/dev/null; done | sort -u | wc -l; echo ---; ls -d /tmp/skbdiff-* 2>/dev/null; true',
  );
  const [procs = '', netns = '', tmp = ''] = r.stdout.split('---\n');
  // (this very shell's command line names them too)
  const mine = procs.split('\n').filter((l) => l.trim() && !l.includes('for p in /proc')).join('\n');
  return { procs: mine, netns: Number(netns.trim()), tmp: tmp.trim() };
}

guestTest('ssh target on a debian:6.1 guest: probe in an anonymous netns there, tcpdump capture streamed back, cases pass; nothing left after close; a wrong host key is refused', async (t) => {
  const kernel = await resolveKernel('debian:6.1');
  // The guest has busybox (unshare, nsenter) and, for this test, Debian's tcpdump with its libraries; veth as a module.
  const guest = await Guest.boot({
    kernel,
    initramfs: { extraBinaries: ['/usr/bin/tcpdump'], modules: [...GUEST_MODULES, 'veth'], probe: null },
    log: (l) => t.log(l),
  });
  t.teardown(() => guest.close());
  const transport = (): ReturnType<typeof commandTransport> => commandTransport(['nsenter', `--net=${guest.netnsPath}`, '--', '/bin/busybox', 'nc', '127.0.0.1', '22']);
  const observer = guest.ssh[0]!;
  const before = await remoteState(observer);
  t.is(before.procs, '');
  t.is(before.tmp, '');

  // A host key other than the guest's: refused at the handshake, nothing runs.
  const wrong = new SshTarget({ sock: transport, privateKey: guest.initramfs.clientPrivateKey, hostPublicKey: generateEd25519().publicKey });
  await t.throwsAsync(wrong.start(), { message: /host key mismatch/ });
  await wrong.close();

  const target = new SshTarget({ sock: transport, privateKey: guest.initramfs.clientPrivateKey, hostPublicKey: guest.initramfs.hostPublicKey, log: (l) => t.log(l) });
  const info = await target.start();
  t.regex(info.release, /^6\.1\.0-\d+-cloud-amd64$/);
  t.regex(info.profileRelease ?? '', /^6\.1\.\d+$/);
  const during = await remoteState(observer);
  t.log(`during: ${during.procs.replace(/\n/g, ' | ')}; ${during.netns} netns`);
  t.regex(during.procs, /skbdiff-probe --lab veth/);
  t.regex(during.procs, /tcpdump -Z root -i rx -U -w -/);
  t.is(during.netns, before.netns + 1, 'the probe and tcpdump share one extra netns');
  t.regex(during.tmp, /^\/tmp\/skbdiff-[0-9a-f]{16}$/);
  // The guest's main namespace has no rx/tx veth: the lab is only in the probe's netns.
  t.notRegex((await observer.exec('cat /proc/net/dev')).stdout, /\brx:/);

  const cases = await loadCases([caseFile(t, CASES)]);
  const r = await runCases(cases, target, { predict });
  for (const c of r.cases) t.log(`${c.id}: ${c.verdict}${c.error ? ` (${c.error.message.slice(0, 200)})` : ''}${c.rendered.length ? ` ${c.rendered.join(' | ')}` : ''}`);
  t.deepEqual(r.cases.map((c) => c.verdict), CASES.map(() => 'pass'));
  t.is(r.cases.find((c) => c.id === 'frag-mtu68-100')?.observed?.packets.length, 3);
  t.is(r.cases.find((c) => c.id === 'gso-sockopt-1000-3000-csum-only')?.observed?.packets.length, 3);
  t.true(r.cases.every((c) => c.frames > 0));
  t.is(r.drops, 0);
  t.true(r.valid);
  // Both drop checks really ran: tcpdump printed its statistics on SIGINT, and rx's counter matched the frames.
  t.deepEqual(target.captureStats, [{ kernelDrops: 0, rxGap: 0 }]);

  // runCases closed the target: probe and tcpdump gone, their netns with them, the probe's dir removed.
  t.true(target.startedPids.length >= 2);
  const after = await remoteState(observer);
  t.is(after.procs, '');
  t.is(after.netns, before.netns);
  t.is(after.tmp, '');
  const pids = (await observer.exec(`for p in ${target.startedPids.join(' ')}; do [ -e /proc/$p ] && echo $p; done; true`)).stdout.trim();
  t.is(pids, '');

  // The CLI over TCP: skbdiff runs inside the guest's private netns (nothing listens in the main one), where QEMU
  // forwards 127.0.0.1:22 to the guest's dropbear; the flags name the host, the key file and the pinned host key.
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-sshtest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'id'), guest.initramfs.clientPrivateKey, { mode: 0o600 });
  const cli = spawnSync('nsenter', [`--net=${guest.netnsPath}`, '--', process.execPath, join(repoRoot, 'bin/skbdiff.js'), 'run', '--target', 'ssh',
    '--host', 'root@127.0.0.1:22', '--identity', join(dir, 'id'), '--host-key', guest.initramfs.hostPublicKey, '--out', join(dir, 'res'), '--json',
    caseFile(t, CASES.slice(0, 3))], { encoding: 'utf8', timeout: 120_000 });
  t.is(cli.status, 0, cli.stderr);
  const json = JSON.parse(cli.stdout) as { target: { name: string }; counts: { pass: number } };
  t.is(json.target.name, 'ssh');
  t.is(json.counts.pass, 3);
  t.deepEqual(await remoteState(observer), before);

  // Interrupted (SIGINT in the CLI aborts runCases, which closes the target): the rest are errors, nothing is left.
  const ac = new AbortController();
  const t2 = new SshTarget({ sock: transport, privateKey: guest.initramfs.clientPrivateKey, hostPublicKey: guest.initramfs.hostPublicKey });
  const r2 = await runCases(cases, t2, { predict, signal: ac.signal, onCase: (done) => { if (done === 2) ac.abort(); } });
  t.deepEqual(r2.cases.map((c) => c.verdict), ['pass', 'pass', 'error', 'error', 'error', 'error']);
  t.deepEqual(await remoteState(observer), before);

  // The harness vanishes without close() (its SSH connection drops): the probe reads EOF and exits, the watchdog
  // stops tcpdump, the netns goes with them. Only the probe's dir stays behind.
  const t3 = new SshTarget({ sock: transport, privateKey: guest.initramfs.clientPrivateKey, hostPublicKey: guest.initramfs.hostPublicKey });
  await t3.start();
  t.regex((await remoteState(observer)).procs, /tcpdump/);
  (t3 as unknown as { session: SshSession }).session.close();
  let left = await remoteState(observer);
  for (const end = Date.now() + 10_000; Date.now() < end && (left.procs !== '' || left.netns !== before.netns); left = await remoteState(observer)) {
    await new Promise((res) => setTimeout(res, 250));
  }
  t.is(left.procs, '');
  t.is(left.netns, before.netns);
  t.regex(left.tmp, /^\/tmp\/skbdiff-[0-9a-f]{16}$/);

  // The next run finds the probe there (same hash), uses it, and leaves the directory it did not make.
  const logs: string[] = [];
  const t4 = new SshTarget({ sock: transport, privateKey: guest.initramfs.clientPrivateKey, hostPublicKey: guest.initramfs.hostPublicKey, log: (l) => logs.push(l) });
  await t4.start();
  await t4.close();
  t.true(logs.some((l) => /probe already at/.test(l)), logs.join('\n'));
  t.deepEqual(await remoteState(observer), { ...before, tmp: left.tmp });
  await observer.exec(`rm -rf ${left.tmp}`);
});
