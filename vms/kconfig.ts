/**
 * What a kernel must have to run as a skbdiff guest (`skbdiff kconfig`), and
 * the check of a kernel's .config against it before booting: a kernel that
 * lacks an option fails with the option's name, not with a silent console.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Kernel } from './kernels.js';
import { GUEST_MODULES } from './initramfs.js';

export interface KconfigNeed {
  option: string;
  /** `y`: built in; `ym`: built in or a module (the initramfs loads GUEST_MODULES). */
  need: 'y' | 'ym';
  why: string;
}

export const GUEST_KCONFIG: readonly KconfigNeed[] = [
  { option: 'CONFIG_64BIT', need: 'y', why: 'qemu-system-x86_64 boots an x86-64 bzImage' },
  { option: 'CONFIG_BLK_DEV_INITRD', need: 'y', why: 'the guest userland is an initramfs' },
  { option: 'CONFIG_RD_GZIP', need: 'y', why: 'the initramfs is gzip-compressed' },
  { option: 'CONFIG_BINFMT_ELF', need: 'y', why: 'busybox, dropbear, the probe' },
  { option: 'CONFIG_BINFMT_SCRIPT', need: 'y', why: '/init is a shell script' },
  { option: 'CONFIG_DEVTMPFS', need: 'y', why: '/init mounts devtmpfs on /dev' },
  { option: 'CONFIG_PROC_FS', need: 'y', why: '/proc (sysctls, net counters)' },
  { option: 'CONFIG_SYSFS', need: 'y', why: '/init finds the NICs by MAC in /sys/class/net' },
  { option: 'CONFIG_UNIX98_PTYS', need: 'y', why: '/init mounts devpts for dropbear' },
  { option: 'CONFIG_SERIAL_8250', need: 'y', why: 'console on ttyS0' },
  { option: 'CONFIG_SERIAL_8250_CONSOLE', need: 'y', why: 'console=ttyS0: boot progress, READY marker, panics' },
  { option: 'CONFIG_PCI', need: 'y', why: 'the NICs are virtio-net-pci' },
  { option: 'CONFIG_VIRTIO_PCI', need: 'ym', why: 'both NICs (management and test) are virtio PCI devices' },
  { option: 'CONFIG_VIRTIO_NET', need: 'ym', why: 'virtio-net: the management NIC and the test NIC tx' },
  { option: 'CONFIG_NET', need: 'y', why: 'networking' },
  { option: 'CONFIG_INET', need: 'y', why: 'IPv4: the code under test, and SSH on the management NIC' },
  { option: 'CONFIG_NET_NS', need: 'y', why: 'the probe runs each case in a fresh network namespace' },
  { option: 'CONFIG_PACKET', need: 'y', why: 'the probe sends the fence frame through an AF_PACKET socket' },
  { option: 'CONFIG_UNIX', need: 'ym', why: 'dropbear and libc use AF_UNIX sockets' },
  { option: 'CONFIG_FUTEX', need: 'y', why: 'glibc (dropbear)' },
  { option: 'CONFIG_MAGIC_SYSRQ', need: 'y', why: 'optional in a run; the panic-recovery test crashes the guest with /proc/sysrq-trigger' },
];

/** A kernel that cannot run as a guest: names the option. */
export class KconfigError extends Error {
  override name = 'KconfigError';
}

/** `skbdiff kconfig`: a .config fragment, one comment line per option. */
export function kconfigFragment(): string {
  const lines = [
    '# skbdiff guest: what a kernel needs to boot under QEMU and run cases',
    `# (=m is enough where marked; modules named ${GUEST_MODULES.join(', ')} are loaded from --modules DIR)`,
  ];
  for (const k of GUEST_KCONFIG) lines.push(`${k.option}=y${k.need === 'ym' ? '  # or =m' : ''}  # ${k.why}`);
  lines.push('# optional: CONFIG_PVH=y lets QEMU enter the vmlinux directly, without the in-guest decompressor (vms/pvh.ts): a faster boot under TCG');
  return lines.join('\n') + '\n';
}

/**
 * The .config of `kernel` if one can be found: Debian's boot/config-<release>
 * beside the image; for a user's build, `.config` of the tree the bzImage
 * sits in (arch/x86/boot/bzImage → ../../../.config), or config-<release> or
 * .config beside it, or in the modules dir's build/ link.
 */
export function findKernelConfig(kernel: Kernel): string | null {
  const dir = path.dirname(kernel.vmlinuz);
  const candidates = [
    path.join(dir, `config-${kernel.release}`),
    path.join(dir, '.config'),
    path.join(dir, 'config'),
    path.resolve(dir, '../../../.config'),
    ...(kernel.modulesDir ? [path.join(kernel.modulesDir, 'build', '.config')] : []),
  ];
  return candidates.find((f) => fs.existsSync(f)) ?? null;
}

/** A .config's options: `CONFIG_X=value` lines, and `n` for `# CONFIG_X is not set`. */
export function parseKconfig(configText: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of configText.split('\n')) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m) values.set(m[1]!, m[2]!);
    const n = /^# (CONFIG_\w+) is not set/.exec(line);
    if (n) values.set(n[1]!, 'n');
  }
  return values;
}

/** Problems of a .config's text against GUEST_KCONFIG, one per option (empty: fine). Options marked optional are skipped. */
export function kconfigProblems(configText: string): string[] {
  const values = parseKconfig(configText);
  const problems: string[] = [];
  for (const k of GUEST_KCONFIG) {
    if (k.option === 'CONFIG_MAGIC_SYSRQ') continue;
    // CONFIG_FUTEX, CONFIG_PCI… may be implied and absent from old configs: only a recorded "n" or "m" is a problem.
    const v = values.get(k.option);
    if (v === undefined && !['CONFIG_VIRTIO_NET', 'CONFIG_VIRTIO_PCI', 'CONFIG_NET_NS', 'CONFIG_PACKET', 'CONFIG_BLK_DEV_INITRD', 'CONFIG_DEVTMPFS', 'CONFIG_SERIAL_8250_CONSOLE'].includes(k.option)) continue;
    const ok = v === 'y' || (k.need === 'ym' && v === 'm');
    if (!ok) problems.push(`${k.option}=${v ?? 'n (not in .config)'}, needs ${k.need === 'ym' ? 'y or m' : 'y'}: ${k.why}`);
  }
  return problems;
}

/** Throws KconfigError when the kernel's .config (if found) lacks an option; returns the config path or null. */
export function checkKernelConfig(kernel: Kernel): string | null {
  const file = findKernelConfig(kernel);
  if (!file) return null;
  const text = fs.readFileSync(file, 'utf8');
  const problems = kconfigProblems(text);
  if (!kernel.modulesDir) {
    for (const k of GUEST_KCONFIG) {
      if (k.need === 'ym' && new RegExp(`^${k.option}=m$`, 'm').test(text)) problems.push(`${k.option}=m but no modules were given (--modules DIR): build it in (=y) or pass the modules`);
    }
  }
  if (problems.length > 0) {
    throw new KconfigError(`kernel ${kernel.release} (${kernel.source}) cannot run as a guest; its config ${file}:\n  ${problems.join('\n  ')}\n(see skbdiff kconfig)`);
  }
  return file;
}
