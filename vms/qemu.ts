/**
 * Boot a kernel under QEMU and reach it over SSH.
 *
 * Network layout (the traffic rule: nothing leaves namespaces we made):
 * - QEMU runs inside an anonymous network namespace (`unshare --net`) that
 *   holds only `lo` and the tap `tap0`; the namespace, the tap and everything
 *   sent on it die with QEMU. Capture on tap0 via `nsenter --net=<netnsPath>`.
 * - The guest's test NIC (`tx`, MAC TX_MAC) is that tap.
 * - The management NIC (`mgmt`, MAC MGMT_MAC) is user-mode networking with
 *   `restrict=on`: the guest cannot open anything outward through slirp (slirp
 *   would otherwise proxy to the real network); only the hostfwd to the guest's
 *   port 22 works. That forward listens on 127.0.0.1 of the private namespace,
 *   so even an unrestricted slirp would have no route out. The harness reaches
 *   it by `nsenter --net=<netnsPath> busybox nc 127.0.0.1 22` as the SSH
 *   transport (like OpenSSH's ProxyCommand).
 */
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { defaultCacheDir, type Kernel } from './kernels.js';
import { buildInitramfs, MGMT_MAC, TX_MAC, MGMT_NET, MGMT_HOST, MGMT_GUEST, type Initramfs, type InitramfsOptions } from './initramfs.js';
import { SshSession, connectWithRetry, commandTransport } from '../harness/ssh.js';
import { bootImage, type BootImage } from './pvh.js';

const execFileP = promisify(execFile);

export const QEMU = 'qemu-system-x86_64';
const BUSYBOX = '/bin/busybox';

export type Accel = 'kvm' | 'tcg';

/** A guest that did not come up or died: the message names the kernel and carries the console tail. */
export class GuestError extends Error {
  override name = 'GuestError';
  constructor(message: string, readonly consoleTail: string) {
    super(consoleTail ? `${message}\n--- console tail ---\n${consoleTail}` : message);
  }
}

export interface BootOptions {
  kernel: Kernel;
  /** Run dir for the initramfs, keys and console.log; default a fresh dir under os.tmpdir(), removed on close. */
  workDir?: string;
  /** `auto` (default) uses KVM only when a probe boot under KVM works. */
  accel?: Accel | 'auto';
  memoryMB?: number;
  /** Time from QEMU start to the READY marker (default 60 s under TCG, 20 s under KVM). */
  bootTimeoutMs?: number;
  /** Extra kernel command line. */
  append?: string;
  /**
   * `auto` (default): enter the kernel through its PVH note when the bzImage's
   * vmlinux has one (vms/pvh.ts; skips the in-guest decompressor), else the
   * bzImage. `bzimage`: always the bzImage's own boot path.
   */
  entry?: 'auto' | 'bzimage';
  /** Passed to buildInitramfs (probe, modules, initScript). */
  initramfs?: Omit<InitramfsOptions, 'kernel' | 'workDir'>;
  log?: (line: string) => void;
}

export interface BootTimes {
  /** QEMU spawn → READY on the console. */
  readyMs: number;
  /** QEMU spawn → first SSH login done. */
  sshMs: number;
  /** Building the initramfs (before QEMU starts). */
  initramfsMs: number;
}

const FAILURE = /Kernel panic|Oops[:\s]|BUG: |SKBDIFF-INIT-FAILED|general protection fault|Attempted to kill init/;

export class Guest {
  private consoleBuf = '';
  private failure: string | null = null;
  private closed = false;
  private exited: Promise<void>;
  readonly ssh: SshSession[] = [];

  private constructor(
    private readonly qemu: ChildProcess,
    readonly kernel: Kernel,
    readonly accel: Accel,
    readonly image: BootImage,
    readonly initramfs: Initramfs,
    readonly workDir: string,
    private readonly ownsWorkDir: boolean,
    private readonly consoleLog: fs.WriteStream,
    private stderrBuf: { text: string },
  ) {
    this.exited = new Promise((r) => qemu.once('exit', () => r()));
  }

  times: BootTimes = { readyMs: NaN, sshMs: NaN, initramfsMs: NaN };

  get pid(): number {
    return this.qemu.pid!;
  }

  /** The private network namespace holding tap0 (valid while the guest runs). */
  get netnsPath(): string {
    return `/proc/${this.qemu.pid}/ns/net`;
  }

  /** Name of the guest's test NIC's host side (inside netnsPath). */
  readonly tapName = 'tap0';

  /** The last `lines` lines of the console. */
  consoleTail(lines = 60): string {
    return this.consoleBuf.split('\n').slice(-lines).join('\n');
  }

  /** Panic/oops/BUG seen on the console since boot, or QEMU gone: null while healthy. */
  fault(): string | null {
    if (this.failure) {
      // The whole first failing line names the culprit ("Kernel panic - not syncing: Attempted to kill init! exitcode=…"),
      // read now rather than when the match was seen: the console may have been mid-line then.
      const m = FAILURE.exec(this.consoleBuf);
      if (!m) return `console said ${JSON.stringify(this.failure)}`;
      const start = this.consoleBuf.lastIndexOf('\n', m.index) + 1;
      const end = this.consoleBuf.indexOf('\n', m.index);
      return `console says ${JSON.stringify(this.consoleBuf.slice(start, end < 0 ? undefined : end).trim())}`;
    }
    if (this.qemu.exitCode !== null || this.qemu.signalCode !== null) return `QEMU exited (${this.qemu.exitCode ?? this.qemu.signalCode})`;
    return null;
  }

  /** Throw a GuestError when fault() is set. */
  assertHealthy(): void {
    const f = this.fault();
    if (f) throw new GuestError(`guest ${this.kernel.release} (${this.kernel.source}): ${f}`, this.consoleTail());
  }

  /** A new SSH session to the guest (pinned host key, the run's client key). Closed with the guest. */
  async connect(timeoutMs = 10_000): Promise<SshSession> {
    const s = await connectWithRetry(
      {
        sock: () => commandTransport(['nsenter', `--net=${this.netnsPath}`, '--', BUSYBOX, 'nc', '127.0.0.1', '22']),
        privateKey: this.initramfs.clientPrivateKey,
        hostPublicKey: this.initramfs.hostPublicKey,
        connectTimeoutMs: Math.min(timeoutMs, 10_000),
      },
      Date.now() + timeoutMs,
    );
    this.ssh.push(s);
    return s;
  }

  /** Stop QEMU (SIGTERM, then SIGKILL) and remove what the guest made. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return this.exited;
    this.closed = true;
    for (const s of this.ssh) s.close();
    if (this.qemu.exitCode === null && this.qemu.signalCode === null) {
      this.qemu.kill('SIGTERM');
      const t = setTimeout(() => this.qemu.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(t);
    }
    this.consoleLog.end();
    if (this.ownsWorkDir) fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /**
   * Boot `kernel` and wait for READY and an SSH login. On any failure nothing is
   * left running. `accel: 'auto'`: KVM when kvmUsable() says so; a KVM boot that
   * shows nothing at all on the console (nested KVM that hangs) marks KVM
   * unusable for this process and the guest is booted again under TCG.
   */
  static async boot(opts: BootOptions): Promise<Guest> {
    if (opts.accel === 'kvm' || opts.accel === 'tcg') return Guest.bootOnce(opts, opts.accel);
    if (await kvmUsable(opts.log)) {
      try {
        const g = await Guest.bootOnce({ ...opts, bootTimeoutMs: opts.bootTimeoutMs ?? KVM_FIRST_BOOT_MS }, 'kvm');
        if (readAccelVerdict(accelVerdictFile(), hostAccelKey())?.kvm !== true) {
          recordAccelVerdict(accelVerdictFile(), hostAccelKey(), true, `${opts.kernel.release} reached READY`);
        }
        return g;
      } catch (e) {
        if (!(e instanceof GuestError) || e.consoleTail.trim() !== '') throw e;
        const why = `a KVM boot showed nothing on the console (${e.message.split('\n')[0]})`;
        opts.log?.(`${why}; using TCG from now on (kept in ${accelVerdictFile()})`);
        kvmVerdict = Promise.resolve(false);
        recordAccelVerdict(accelVerdictFile(), hostAccelKey(), false, why);
      }
    }
    return Guest.bootOnce(opts, 'tcg');
  }

  private static async bootOnce(opts: BootOptions, accel: Accel): Promise<Guest> {
    const log = opts.log ?? (() => {});
    const ownsWorkDir = !opts.workDir;
    const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'skbdiff-vm-'));
    const cleanupDir = (): void => { if (ownsWorkDir) fs.rmSync(workDir, { recursive: true, force: true }); };
    let initramfs: Initramfs;
    const t0 = Date.now();
    try {
      initramfs = await buildInitramfs({ ...opts.initramfs, kernel: opts.kernel, workDir });
    } catch (e) {
      cleanupDir();
      throw e;
    }
    const initramfsMs = Date.now() - t0;
    const image: BootImage = opts.entry === 'bzimage'
      ? { path: opts.kernel.vmlinuz, entry: 'bzimage', why: 'asked for' }
      : bootImage(opts.kernel.vmlinuz, defaultCacheDir());
    log(`initramfs ${(initramfs.bytes / 1e6).toFixed(2)} MB in ${initramfsMs} ms; modules: ${initramfs.modules.join(' ') || '(none)'}; accel ${accel}; entry ${image.entry} (${image.why})`);

    const args = qemuArgs(image.path, initramfs.path, accel, opts.memoryMB ?? 256, opts.append);
    // The namespace's lo and tap0 exist before QEMU opens them; `exec` keeps one pid for netnsPath.
    // IPv6 off in the namespace first: the host side of tap0 sends nothing (no RS/MLD) into the capture.
    const script = 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null; echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null; '
      + 'ip link set lo up && ip tuntap add dev tap0 mode tap && ip link set tap0 up && exec "$@"';
    const spawnedAt = Date.now();
    // setpriv --pdeathsig: QEMU (and with it the namespace and tap0) dies with this process, even by SIGKILL.
    const qemu = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '--net', '--', 'sh', '-c', script, 'sh', QEMU, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const consoleLog = fs.createWriteStream(path.join(workDir, 'console.log'));
    const stderrBuf = { text: '' };
    const g = new Guest(qemu, opts.kernel, accel, image, initramfs, workDir, ownsWorkDir, consoleLog, stderrBuf);
    g.times.initramfsMs = initramfsMs;
    qemu.stderr!.on('data', (d: Buffer) => { stderrBuf.text = (stderrBuf.text + d.toString('utf8')).slice(-4000); });

    const timeoutMs = opts.bootTimeoutMs ?? (accel === 'kvm' ? 20_000 : 60_000);
    const who = `guest ${opts.kernel.release} (${opts.kernel.source}, ${accel})`;
    try {
      await new Promise<void>((resolve, reject) => {
        let ready = false;
        let faultTimer: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => reject(new GuestError(`${who}: no READY marker within ${timeoutMs} ms`, g.consoleTail())), timeoutMs);
        qemu.stdout!.on('data', (d: Buffer) => {
          const text = d.toString('latin1');
          consoleLog.write(d);
          g.consoleBuf = (g.consoleBuf + text.replace(/\r/g, '')).slice(-64_000);
          const m = FAILURE.exec(g.consoleBuf);
          if (m && !g.failure) {
            g.failure = m[0];
            // Let the trace reach the console before reporting.
            if (!ready) faultTimer = setTimeout(() => reject(new GuestError(`${who}: ${g.fault()}`, g.consoleTail())), 500);
          }
          if (!ready && !g.failure && g.consoleBuf.includes(initramfs.readyMarker)) {
            ready = true;
            g.times.readyMs = Date.now() - spawnedAt;
            clearTimeout(timer);
            resolve();
          }
        });
        qemu.once('exit', (code, sig) => {
          clearTimeout(timer);
          clearTimeout(faultTimer);
          const why = g.failure ? `${g.fault()}, QEMU exited` : `QEMU exited (${code ?? sig}) before READY${stderrBuf.text ? `: ${stderrBuf.text.trim()}` : ''}`;
          reject(new GuestError(`${who}: ${why}`, g.consoleTail()));
        });
        qemu.once('error', (e) => reject(new GuestError(`${who}: cannot start QEMU: ${e.message}`, '')));
      });
      await g.connect(10_000);
      g.times.sshMs = Date.now() - spawnedAt;
      log(`${who}: READY after ${g.times.readyMs} ms, SSH after ${g.times.sshMs} ms`);
      return g;
    } catch (e) {
      await g.close();
      if (e instanceof GuestError) throw e;
      throw new GuestError(`${who}: ${(e as Error).message}`, g.consoleTail());
    }
  }
}

function qemuArgs(kernelImage: string, initrd: string, accel: Accel, memoryMB: number, append?: string): string[] {
  const cmdline = ['console=ttyS0', 'quiet', 'panic=-1', 'rdinit=/init', 'random.trust_cpu=on', 'tsc=reliable', 'no_timer_check', '8250.nr_uarts=1', 'cryptomgr.notests', 'acpi=off', append ?? '']
    .filter(Boolean).join(' ');
  return [
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-machine', `pc,accel=${accel}`,
    '-cpu', accel === 'kvm' ? KVM_CPU : 'max',
    '-smp', '1', '-m', String(memoryMB),
    '-kernel', kernelImage, '-initrd', initrd, '-append', cmdline,
    '-chardev', 'stdio,id=con,signal=off', '-serial', 'chardev:con', '-monitor', 'none',
    '-netdev', `user,id=mgmt,restrict=on,net=${MGMT_NET},host=${MGMT_HOST},hostfwd=tcp:127.0.0.1:22-${MGMT_GUEST}:22`,
    '-device', `virtio-net-pci,netdev=mgmt,mac=${MGMT_MAC},romfile=`,
    // The test NIC offers the guest tx checksum and segmentation offload, so the probe's per-case
    // ethtool switches decide what the guest kernel hands its driver: with them off (the default) the
    // guest finishes every packet itself; with them on, virtio_net puts the skb's CHECKSUM_PARTIAL /
    // gso_type into the virtio_net_hdr, QEMU passes header and bytes to the tap unchanged (vnet_hdr=on),
    // and tun_get_user (virtio_net_hdr_to_skb) makes one skb of them, which tap0's capture sees in
    // __netif_receive_skb before anything could segment or checksum it. Guest receive offloads are off:
    // nothing is sent to the guest, and QEMU's TUNSETOFFLOAD then allows the tap none.
    '-netdev', 'tap,id=tx,ifname=tap0,script=no,downscript=no,vnet_hdr=on',
    '-device', `virtio-net-pci,netdev=tx,mac=${TX_MAC},romfile=,${TX_NIC_FEATURES}${qemuHasHostUso() ? ',host_uso=on' : ''}`,
  ];
}

/**
 * virtio-net features of the test NIC: VIRTIO_NET_F_CSUM (guest: NETIF_F_HW_CSUM | NETIF_F_SG),
 * HOST_TSO4/6 and HOST_ECN (NETIF_F_TSO*), HOST_UFO (unused by guests since 4.14). HOST_USO
 * (NETIF_F_GSO_UDP_L4 in the guest, virtio_net 6.2+) is added only where this QEMU has it (8.1+;
 * the 7.2 of Debian 12 has not): qemuHasHostUso(). What the guest really negotiated is in its
 * /sys/class/net/tx/device/features (harness/targets/qemu.ts reads it).
 */
const TX_NIC_FEATURES = 'csum=on,gso=on,host_tso4=on,host_tso6=on,host_ecn=on,host_ufo=on,guest_csum=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off';

let usoVerdict: boolean | undefined;

/** Does this QEMU's virtio-net have the `host_uso` property (VIRTIO_NET_F_HOST_USO)? Cached per process. */
export function qemuHasHostUso(): boolean {
  if (usoVerdict === undefined) {
    try {
      const r = spawnSync(QEMU, ['-device', 'virtio-net-pci,help'], { encoding: 'utf8', timeout: 10_000 });
      usoVerdict = /\bhost_uso=/.test(`${r.stdout}${r.stderr}`);
    } catch {
      usoVerdict = false;
    }
  }
  return usoVerdict;
}

/** A KVM boot must reach READY this fast before auto falls back to TCG. */
const KVM_FIRST_BOOT_MS = 10_000;
const KVM_CPU = 'host';

let kvmVerdict: Promise<boolean> | undefined;

/**
 * Might KVM run a guest here? /dev/kvm existing is no proof: nested KVM can
 * open it and then abort (here: "failed to set MSR 0x10a") or hang. A real
 * boot's outcome on this host (kernel, CPU, QEMU) is kept in
 * vms/cache/accel.json and decides; without one, this cheap check starts QEMU
 * under KVM with the guest's CPU model and sees it still alive after 1.5 s,
 * and Guest.boot falls back to TCG (and records it) if the real boot hangs.
 * Cached per process; SKBDIFF_ACCEL=tcg|kvm overrides both.
 */
export function kvmUsable(log?: (line: string) => void): Promise<boolean> {
  const env = process.env['SKBDIFF_ACCEL'];
  if (env === 'tcg') return Promise.resolve(false);
  if (env === 'kvm') return Promise.resolve(true);
  kvmVerdict ??= (async () => {
    try {
      fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    } catch {
      return false;
    }
    const known = readAccelVerdict(accelVerdictFile(), hostAccelKey());
    if (known) {
      log?.(`KVM ${known.kvm ? 'works' : 'does not boot a guest'} on this host (${known.why}, ${known.at}; ${accelVerdictFile()}, SKBDIFF_ACCEL=kvm|tcg overrides)`);
      return known.kvm;
    }
    try {
      return await execFileP(QEMU, ['-nodefaults', '-no-user-config', '-display', 'none', '-machine', 'pc,accel=kvm', '-cpu', KVM_CPU, '-m', '16',
        '-serial', 'none', '-monitor', 'none', '-no-reboot'], { timeout: 1500, killSignal: 'SIGKILL' })
        .then(() => false, (e: { killed?: boolean }) => e.killed === true); // alive until the timeout killed it
    } catch {
      return false;
    }
  })();
  return kvmVerdict;
}

/** What a real boot showed about KVM on one host: the key names the host kernel, CPU and QEMU. */
export interface AccelVerdict { key: string; kvm: boolean; why: string; at: string }

export function accelVerdictFile(): string {
  return path.join(defaultCacheDir(), 'accel.json');
}

let hostKey: string | undefined;
/** The host kernel release, CPU model and QEMU version: a verdict holds while these do. */
export function hostAccelKey(): string {
  hostKey ??= [os.release(), os.cpus()[0]?.model ?? '?',
    spawnSync(QEMU, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '?'].join(' | ');
  return hostKey;
}

export function readAccelVerdict(file: string, key: string): AccelVerdict | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<AccelVerdict>;
    return v.key === key && typeof v.kvm === 'boolean' ? v as AccelVerdict : undefined;
  } catch {
    return undefined;
  }
}

/** Best effort (a read-only cache only costs the next run the KVM try); written whole by rename. */
export function recordAccelVerdict(file: string, key: string, kvm: boolean, why: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ key, kvm, why, at: new Date().toISOString() } satisfies AccelVerdict, null, 2) + '\n');
    fs.renameSync(tmp, file);
  } catch {
    // ignored: see above
  }
}
