/**
 * The guest half of `npm run bench` (harness/bench.ts imports it): boot a
 * Debian guest as the qemu target does, report boot-to-ready seconds with the
 * accelerator named (KVM or TCG), then cases per second through the qemu
 * target (probe over SSH in the guest, capture on tap0, attribution), with
 * the probe alone inside the guest beside it. Figures are printed, never
 * asserted.
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

  // The same kernel through the bzImage's own entry (decompressor in the guest), beside the PVH figure.
  if (guest.image.entry === 'pvh') {
    const viaBzImage = await Guest.boot({ kernel, accel: guest.accel, entry: 'bzimage' });
    await viaBzImage.close();
    lines.push(`  boot to READY:     ${(viaBzImage.times.readyMs / 1000).toFixed(2)} s, bzimage entry (PVH saves ${((viaBzImage.times.readyMs - guest.times.readyMs) / 1000).toFixed(2)} s)`);
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
  return lines;
}
