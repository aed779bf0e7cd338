import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveKernel, type Kernel } from './kernels.js';
import { Guest, GuestError, hostAccelKey, readAccelVerdict, recordAccelVerdict } from './qemu.js';

// One guest at a time: two TCG guests on 2 cores slow each other past the boot budget.

/** QEMU processes whose command line mentions `dir` (each test boots from its own dir). */
function qemuUsing(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-f', `qemu-system.*${dir}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function runDir(t: import('ava').ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skbdiff-vmtest-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test.serial('debian:6.1 boots; uname -r over SSH matches the package; no QEMU left after close', async (t) => {
  const kernel = await resolveKernel('debian:6.1');
  const dir = runDir(t);
  let guest: Guest | undefined;
  t.teardown(async () => { await guest?.close(); });
  guest = await Guest.boot({ kernel, workDir: dir });
  t.log(`${guest.accel}, entry ${guest.image.entry}: READY ${guest.times.readyMs} ms, SSH ${guest.times.sshMs} ms (initramfs ${guest.times.initramfsMs} ms)`);
  // Debian's cloud kernels have CONFIG_PVH: QEMU enters the vmlinux directly (vms/pvh.ts).
  t.is(guest.image.entry, 'pvh');
  const s = guest.ssh[0]!;
  const r = await s.exec('uname -r');
  t.is(r.code, 0);
  t.is(r.stdout.trim(), kernel.release);
  // Both NICs are there under their names; the test NIC's host side is a tap in the guest's own netns.
  const links = (await s.exec('ip -o link')).stdout;
  t.regex(links, /: mgmt: /);
  t.regex(links, /: tx: /);
  const tap = execFileSync('nsenter', [`--net=${guest.netnsPath}`, '--', 'ip', '-o', '-details', 'link', 'show', guest.tapName], { encoding: 'utf8' });
  t.regex(tap, /tap0: .*UP/);
  // The tap carries the virtio_net_hdr (QEMU opened it with IFF_VNET_HDR), so the guest's offloads reach tap0 as they were.
  t.regex(tap, /tun type tap .*vnet_hdr on/);
  // The guest NIC was offered checksum and TSO offload (virtio feature bits 0 and 11), and no receive offload (bit 1).
  const features = (await s.exec('cat /sys/class/net/tx/device/features')).stdout.trim();
  t.is(`${features[0]}${features[1]}${features[11]}`, '101', features);
  t.is(guest.fault(), null);
  const pid = guest.pid;
  t.is(qemuUsing(dir).length, 1);
  await guest.close();
  t.deepEqual(qemuUsing(dir), []);
  t.throws(() => process.kill(pid, 0));
});

test.serial('entry bzimage (a kernel without CONFIG_PVH): the bzImage\'s own boot path reaches SSH with the same kernel', async (t) => {
  const kernel = await resolveKernel('debian:6.1');
  const dir = runDir(t);
  let guest: Guest | undefined;
  t.teardown(async () => { await guest?.close(); });
  guest = await Guest.boot({ kernel, workDir: dir, entry: 'bzimage' });
  t.log(`${guest.accel}, entry ${guest.image.entry}: READY ${guest.times.readyMs} ms`);
  t.deepEqual({ ...guest.image }, { path: kernel.vmlinuz, entry: 'bzimage', why: 'asked for' });
  t.is((await guest.ssh[0]!.exec('uname -r')).stdout.trim(), kernel.release);
});

test.serial('a broken /init: GuestError names the kernel and shows the panic on the console tail', async (t) => {
  const kernel = await resolveKernel('debian:6.1');
  const dir = runDir(t);
  const e = await t.throwsAsync(Guest.boot({
    kernel, workDir: dir, accel: 'tcg',
    initramfs: { initScript: () => '#!/bin/sh\necho "about to exit from pid 1" >/dev/console\nexit 7\n' },
  }), { instanceOf: GuestError });
  t.log(e!.message);
  t.true(e!.message.includes(kernel.release));
  t.regex(e!.message, /Kernel panic|Attempted to kill init/);
  t.regex(e!.consoleTail, /about to exit from pid 1/);
  t.regex(e!.message, /console says "[^"]*Attempted to kill init! exitcode=0x00000700/);
  t.deepEqual(qemuUsing(dir), []);
});

test.serial('a kernel image that is garbage: GuestError with QEMU\'s reason', async (t) => {
  const dir = runDir(t);
  const garbage = path.join(dir, 'vmlinuz-garbage');
  fs.writeFileSync(garbage, Buffer.alloc(1 << 16, 0x5a));
  const kernel: Kernel = { release: 'garbage', vmlinuz: garbage, modulesDir: null, source: garbage };
  const e = await t.throwsAsync(Guest.boot({ kernel, workDir: dir, accel: 'tcg', bootTimeoutMs: 20_000 }), { instanceOf: GuestError });
  t.log(e!.message);
  t.true(e!.message.includes(garbage));
  t.regex(e!.message, /QEMU exited/);
  t.deepEqual(qemuUsing(dir), []);
});

test.serial('a boot that never says READY times out with a clear error', async (t) => {
  const kernel = await resolveKernel('debian:6.1');
  const dir = runDir(t);
  const e = await t.throwsAsync(Guest.boot({
    kernel, workDir: dir, accel: 'tcg', bootTimeoutMs: 6000,
    initramfs: { initScript: () => '#!/bin/sh\necho "hanging on purpose" >/dev/console\nexec sleep 3600\n' },
  }), { instanceOf: GuestError });
  t.regex(e!.message, /no READY marker within 6000 ms/);
  t.regex(e!.consoleTail, /hanging on purpose/);
  t.deepEqual(qemuUsing(dir), []);
});

test('accel verdict (Guest.boot, kvmUsable): a recorded KVM outcome holds for the same host key only; a missing or broken file is no verdict', (t) => {
  const dir = runDir(t);
  const file = path.join(dir, 'sub', 'accel.json');
  const key = hostAccelKey();
  t.regex(key, new RegExp(`^${os.release().replace(/[.+]/g, '\\$&')} \\| .+ \\| QEMU emulator version `));
  t.is(readAccelVerdict(file, key), undefined);
  recordAccelVerdict(file, key, false, 'a KVM boot showed nothing on the console');
  t.like(readAccelVerdict(file, key), { key, kvm: false, why: 'a KVM boot showed nothing on the console' });
  t.is(readAccelVerdict(file, `${key} (another host)`), undefined);
  recordAccelVerdict(file, key, true, 'reached READY');
  t.is(readAccelVerdict(file, key)?.kvm, true);
  t.deepEqual(fs.readdirSync(path.dirname(file)), ['accel.json']);
  fs.writeFileSync(file, '{"key":');
  t.is(readAccelVerdict(file, key), undefined);
});
