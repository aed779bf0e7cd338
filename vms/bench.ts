/**
 * The guest half of `npm run bench` (harness/bench.ts imports it): boot a
 * Debian guest as the qemu target does, report boot-to-ready seconds with the
 * accelerator named (KVM or TCG), then cases per second through the qemu
 * target (probe over SSH in the guest, capture on tap0, attribution), with
 * the probe alone inside the guest beside it; then boot-to-ready of each
 * Debian line through the PVH entry and through the bzImage's own, one boot
 * after the other. Figures are printed, never asserted.
 */
import type { Program } from '../model/program.js';
import { probeOverSsh } from '../harness/probe/ssh-probe.js';
import { QemuTarget } from '../harness/targets/qemu.js';
import { resolveKernel } from './kernels.js';
import { Guest } from './qemu.js';

const KERNEL = process.env['SKBDIFF_BENCH_KERNEL'] ?? 'debian:6.1';

/** Lines to print: boot-to-ready, cases/s through the target, cases/s of the probe alone in the guest. */
export async function benchGuest(programs: Program[]): Promise<string[]> {
  // The qemu target errors offload-on cases without running them: leave them out of the rate.
  const runnable = programs.filter((p) => !p.net.txChecksum && !p.net.gso);
  const lines: string[] = [];

  const kernel = await resolveKernel(KERNEL);
  const guest = await Guest.boot({ kernel });
  let alone: number;
  try {
    lines.push(`qemu guest ${kernel.release} (${KERNEL}), ${guest.accel.toUpperCase()}:`);
    lines.push(`  boot to READY:     ${(guest.times.readyMs / 1000).toFixed(2)} s, ${guest.image.entry} entry (initramfs ${(guest.times.initramfsMs / 1000).toFixed(2)} s before QEMU starts)`);
    lines.push(`  boot to SSH ready: ${(guest.times.sshMs / 1000).toFixed(2)} s`);
    const probe = await probeOverSsh(guest.ssh[0]!, [guest.initramfs.probe!, '--lab', 'dev:tx'], { caseTimeoutMs: 30_000, readyTimeoutMs: 30_000 });
    try {
      const t0 = performance.now();
      for (let i = 0; i < runnable.length; i++) await probe.runCase(i + 1, runnable[i]!);
      alone = (performance.now() - t0) / 1000;
    } finally {
      await probe.close();
    }
  } finally {
    await guest.close();
  }

  const target = new QemuTarget({ kernel: KERNEL });
  let secs: number;
  let errors = 0;
  try {
    await target.start();
    const t0 = performance.now();
    for (const p of runnable) if ((await target.runCase(p)).harnessError !== undefined) errors++;
    secs = (performance.now() - t0) / 1000;
  } finally {
    await target.close();
  }
  lines.push(`  probe alone in the guest: ${(runnable.length / alone).toFixed(1)} cases/s (${runnable.length} cases, ${alone.toFixed(2)} s)`);
  lines.push(`  qemu target (SSH + tap0 capture): ${(runnable.length / secs).toFixed(1)} cases/s (${secs.toFixed(2)} s; ${errors} harness errors; predict/diff not included)`);
  lines.push(...await bootTable());
  return lines;
}

const BOOT_KERNELS = (process.env['SKBDIFF_BENCH_BOOT_KERNELS'] ?? 'debian:5.10,debian:6.1,debian:6.12,debian:6.18').split(',').filter(Boolean);

/** Boot-to-READY of each Debian line, through the PVH entry and the bzImage's own, one after the other. */
async function bootTable(): Promise<string[]> {
  const lines = ['boot to READY by kernel line (PVH entry vs the bzImage with its in-guest decompressor):'];
  for (const spec of BOOT_KERNELS) {
    const kernel = await resolveKernel(spec);
    const ready: Record<string, string> = {};
    let accel = '';
    for (const entry of ['auto', 'bzimage'] as const) {
      const g = await Guest.boot({ kernel, entry });
      await g.close();
      accel = g.accel.toUpperCase();
      ready[g.image.entry] = `${(g.times.readyMs / 1000).toFixed(2)} s`;
    }
    lines.push(`  ${spec.padEnd(12)} ${kernel.release.padEnd(28)} ${accel}  pvh ${ready['pvh'] ?? '(none)'}  bzimage ${ready['bzimage']}`);
  }
  return lines;
}
