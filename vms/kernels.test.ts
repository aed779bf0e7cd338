import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareDebVersions, readBzImageRelease, ownKernel, resolveKernel, KernelError, defaultCacheDir, holderId, withLock } from './kernels.js';

/** Hash of every file (path, mode, bytes) under a tree. */
function treeHash(root: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      h.update(`${p}\0${st.mode}\0${st.mtimeMs}\0`);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) h.update(fs.readFileSync(p));
      else if (e.isSymbolicLink()) h.update(fs.readlinkSync(p));
    }
  };
  walk(root);
  return h.digest('hex');
}

test('Debian version order (deb-version(7))', (t) => {
  const ordered = ['1.0~rc1-1', '1.0-1', '1.0-1+b1', '1.0-2', '1.0.1-1', '6.1.170-1', '6.1.176-1', '6.18.12-1~bpo13+1', '6.18.15-1~bpo13+1', '6.18.15-1', '1:0.1-1'];
  for (let i = 0; i + 1 < ordered.length; i++) {
    t.true(compareDebVersions(ordered[i]!, ordered[i + 1]!) < 0, `${ordered[i]} < ${ordered[i + 1]}`);
    t.true(compareDebVersions(ordered[i + 1]!, ordered[i]!) > 0);
  }
  t.is(compareDebVersions('6.1.176-1', '6.1.176-1'), 0);
});

test('a file that is no bzImage is refused by name, with the bytes where HdrS should be', (t) => {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'skbdiff-k-')), 'bzImage');
  t.teardown(() => fs.rmSync(path.dirname(f), { recursive: true, force: true }));
  fs.writeFileSync(f, Buffer.alloc(4096, 0x41));
  const e = t.throws(() => ownKernel(f), { instanceOf: KernelError });
  t.true(e!.message.includes(f));
  t.regex(e!.message, /not an x86 bzImage.*4141/);
  t.throws(() => ownKernel('/nonexistent/bzImage'), { instanceOf: KernelError, message: /nonexistent/ });
});

test('unknown specs are refused with the accepted forms', async (t) => {
  await t.throwsAsync(resolveKernel('debian:4.19', { cacheDir: defaultCacheDir() }), { instanceOf: KernelError, message: /debian:6\.1/ });
  await t.throwsAsync(resolveKernel('ubuntu:22.04', { cacheDir: defaultCacheDir() }), { instanceOf: KernelError, message: /expected debian:X\.Y/ });
});

test('debian:6.1 resolves to bookworm\'s cloud kernel; cached on the second call; /etc/apt and /var/lib/apt untouched', async (t) => {
  const before = [treeHash('/etc/apt'), treeHash('/var/lib/apt')];
  const lines: string[] = [];
  const k = await resolveKernel('debian:6.1', { log: (l) => lines.push(l) });
  t.log(lines.join('\n') || '(from cache)');
  t.regex(k.release, /^6\.1\.\d+-\d+-cloud-amd64$/);
  t.regex(k.source, /^debian:bookworm linux-image-6\.1\.\d+-\d+-cloud-amd64=6\.1\.\d+-\d+$/);
  t.is(readBzImageRelease(k.vmlinuz), k.release);
  t.true(fs.existsSync(path.join(k.modulesDir!, 'modules.dep')));
  // Same release and no download the second time (the extracted tree is not rewritten).
  const stamp = fs.statSync(path.join(path.dirname(path.dirname(k.vmlinuz)), 'kernel.json')).mtimeMs;
  const t0 = Date.now();
  const again = await resolveKernel('debian:6.1');
  t.deepEqual(again, k);
  t.true(Date.now() - t0 < 2000, `second resolve took ${Date.now() - t0} ms`);
  t.is(fs.statSync(path.join(path.dirname(path.dirname(k.vmlinuz)), 'kernel.json')).mtimeMs, stamp);
  t.deepEqual([treeHash('/etc/apt'), treeHash('/var/lib/apt')], before);
});

test('a user build: release from the bzImage header, modules dir checked', async (t) => {
  const k = await resolveKernel('debian:6.1');
  // lib/modules/<release> itself, or an INSTALL_MOD_PATH holding it
  for (const dir of [k.modulesDir!, path.dirname(path.dirname(path.dirname(k.modulesDir!)))]) {
    const own = ownKernel(k.vmlinuz, dir);
    t.is(own.release, k.release);
    t.is(own.modulesDir, k.modulesDir);
  }
  t.throws(() => ownKernel(k.vmlinuz, os.tmpdir()), { instanceOf: KernelError, message: /modules\.dep/ });
});

test('withLock: a lock left by a dead holder, by a pid now held by another process, or half-made long ago is taken over; a live holder is waited for', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skbdiff-lock-'));
  const lock = path.join(dir, 'apt.lock');
  const leave = (holder: string | null, ageMs = 0): void => {
    fs.mkdirSync(lock);
    if (holder !== null) fs.writeFileSync(path.join(lock, 'holder'), holder);
    const then = (Date.now() - ageMs) / 1000;
    fs.utimesSync(lock, then, then);
  };
  const quick = (): Promise<string> => withLock(lock, async () => 'ran', 1000);
  try {
    const me = holderId(process.pid);
    t.truthy(me);
    const [boot, pid, start] = me!.split(' ');
    // The same pid with another start time: the pid was reused (a restored snapshot).
    leave(`${boot} ${pid} ${Number(start) + 1}`);
    t.is(await quick(), 'ran');
    t.false(fs.existsSync(lock), 'released');
    leave(`00000000-0000-0000-0000-000000000000 ${pid} ${start}`);
    t.is(await quick(), 'ran', 'another boot');
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const dead = holderId(child.pid!);
    t.truthy(dead);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    leave(dead);
    t.is(await quick(), 'ran', 'the holder died');
    leave(null, 60_000);
    t.is(await quick(), 'ran', 'half-made a minute ago');
    // A live holder (this process, as it names itself) is waited on until the timeout.
    leave(me);
    const e = await t.throwsAsync(quick, { instanceOf: KernelError });
    t.regex(e!.message, /held by .* for more than 1 s/);
    t.true(fs.existsSync(lock), 'a live holder\'s lock is left alone');
    fs.rmSync(lock, { recursive: true });
    leave(null);
    await t.throwsAsync(quick, { instanceOf: KernelError }, 'half-made just now: its maker is writing the holder');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
