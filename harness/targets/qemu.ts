/**
 * A kernel under QEMU as a target (`--target qemu --kernel debian:6.1`, or
 * `--kernel PATH/bzImage [--modules DIR]`). vms/qemu.ts boots the guest in an
 * anonymous network namespace holding only `lo` and `tap0` (the host side of
 * the guest's test NIC `tx`); the probe runs in the guest over SSH
 * (`--lab dev:tx`: each case moves tx into a fresh netns there and back), and
 * libpcap captures on tap0 inside the guest's namespace (lab-capture.ts
 * NetnsCapture); frames are sorted into cases at the fences, as on the netns
 * target.
 *
 * Offload: the guest's test NIC is a virtio-net with checksum and
 * segmentation offload on a tap with a vnet header (vms/qemu.ts). The probe's
 * per-case ethtool switches (off unless the case turns them on) decide what
 * the guest kernel hands the driver; the driver puts CHECKSUM_PARTIAL and
 * gso_type into the virtio_net_hdr, and the tap rebuilds that skb on the host
 * (tun_get_user), where the capture on tap0 sees it before anything finishes
 * it: with the switches off, wire format (final checksums, one packet per
 * segment); with tx_checksum on, the partial UDP checksum; a GSO packet as one
 * packet. What the NIC really negotiated is read from the guest
 * (`/sys/class/net/tx/device/features`) at start. Whether the NIC takes UDP
 * GSO packets whole (VIRTIO_NET_F_HOST_USO: QEMU 8.1+, virtio_net 6.2+) is a
 * run input of the model (`inputs.tx_gso_udp_l4`): without it the guest
 * segments in validate_xmit_skb before the driver, as the model then
 * predicts. A case stays an `error` only where the NIC cannot show it at
 * all: tx_checksum on with no VIRTIO_NET_F_CSUM.
 *
 * A guest that panics, oopses or stops answering during a case: that case is
 * an `error` carrying the fault and the console excerpt; the guest is shut
 * down and a fresh one boots for the next case.
 */
import { readFileSync } from 'node:fs';
import { profileFor, type Profile } from '../../model/profiles.js';
import type { Program } from '../../model/program.js';
import { probeOverSsh } from '../probe/ssh-probe.js';
import type { ProbeProcess } from '../probe/protocol.js';
import type { SshSession } from '../ssh.js';
import { type Observation, type Target, type TargetInfo, SerialQueue, withTargetInputs } from '../target.js';
import { configInputs, REMOTE_CONFIG_COMMAND } from '../kernel-config.js';
import { checkKernelConfig } from '../../vms/kconfig.js';
import { resolveKernel, type FetchOptions, type Kernel } from '../../vms/kernels.js';
import { Guest, GuestError, type Accel } from '../../vms/qemu.js';
import { buildObservation, failedObservation, FenceSorter, NetnsCapture } from './lab-capture.js';

export type KernelSpec = string | { bzImage: string; modules?: string };

export interface QemuTargetOptions {
  /** `debian:6.1`, a `linux-image-…` package, or a user's own build. */
  kernel: KernelSpec;
  accel?: Accel | 'auto';
  /** Per-case limit inside the guest (default 30 s: TCG is slow). */
  caseTimeoutMs?: number;
  bootTimeoutMs?: number;
  memoryMB?: number;
  /** Where the fetched kernels are cached (vms/kernels.ts). */
  fetch?: FetchOptions;
  log?: (line: string) => void;
  /**
   * Test-only: called with the guest before each case is sent (the
   * panic-recovery test crashes the guest from here). Never set by the CLI.
   */
  beforeCase?: (program: Program, guest: Guest) => Promise<void>;
}

/** How long after DONE the fence may take to come through QEMU to the capture. */
const FENCE_WAIT_MS = 4000;
/** After a probe failure, how long the console may take to show the panic or oops. */
const FAULT_SETTLE_MS = 1500;
/** Console lines quoted in a case's error. */
const EXCERPT_LINES = 40;

interface Live {
  guest: Guest;
  ssh: SshSession;
  probe: ProbeProcess;
  capture: NetnsCapture;
  sorter: FenceSorter;
  seq: number;
}

/** Offloads the guest's virtio-net test NIC negotiated (virtio feature bits, include/uapi/linux/virtio_net.h). */
export interface NicOffload {
  /** VIRTIO_NET_F_CSUM (bit 0): the guest may hand CHECKSUM_PARTIAL packets (NETIF_F_HW_CSUM). */
  csum: boolean;
  /** VIRTIO_NET_F_HOST_TSO4 (bit 11). */
  tso4: boolean;
  /** VIRTIO_NET_F_HOST_USO (bit 56): NETIF_F_GSO_UDP_L4, the guest may hand UDP GSO packets unsegmented. */
  uso: boolean;
  /** The sysfs string, one character per feature bit. */
  bits: string;
}

/** NicOffload from `/sys/bus/virtio/devices/virtioN/features` (virtio.c features_show: '0'/'1' per bit from bit 0). */
export function parseVirtioFeatures(text: string): NicOffload {
  const bits = text.trim();
  if (!/^[01]{32,}$/.test(bits)) throw new Error(`virtio features ${JSON.stringify(text.slice(0, 100))}: not a bit string`);
  return { csum: bits[0] === '1', tso4: bits[11] === '1', uso: bits[56] === '1', bits };
}

/** Why `nic` cannot show `program` at all, or null when it can (see the file comment). */
export function offloadLimit(program: Program, nic: NicOffload): string | null {
  if (program.net.txChecksum && !nic.csum) {
    return 'the case turns offload.tx_checksum on, and the guest NIC did not negotiate VIRTIO_NET_F_CSUM, so the guest finishes every checksum itself';
  }
  return null;
}

/** `6.1.176` from a Debian `uname -v` ("#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-06-01)"), else null. */
export function debianUpstreamVersion(unameV: string): string | null {
  const m = /Debian (\d+\.\d+(?:\.\d+)?)[-~+]/.exec(unameV);
  return m ? m[1]! : null;
}

export class QemuTarget implements Target {
  readonly name = 'qemu';
  private kernel: Kernel | null = null;
  private live: Live | null = null;
  private info: TargetInfo | null = null;
  private nic: NicOffload | null = null;
  private profile: Profile | null = null;
  private closed = false;
  private dropsDone = 0;
  private boots = 0;
  private readonly queue = new SerialQueue();
  private readonly caseTimeoutMs: number;
  private readonly log: (line: string) => void;
  /** Boot to SSH-ready seconds of each guest, and the accelerator. */
  readonly bootSeconds: number[] = [];

  constructor(private readonly opts: QemuTargetOptions) {
    this.caseTimeoutMs = opts.caseTimeoutMs ?? 30_000;
    this.log = opts.log ?? (() => {});
  }

  async start(): Promise<TargetInfo> {
    if (this.closed) throw new Error('target is closed');
    if (this.info) return this.info;
    this.kernel = await resolveKernel(this.opts.kernel, { ...this.opts.fetch, log: this.opts.fetch?.log ?? this.log });
    const config = checkKernelConfig(this.kernel);
    const live = await this.bootGuest();
    const s = live.ssh;
    const uname = await s.exec('uname -r; uname -v', { timeoutMs: 15_000 });
    const [release = this.kernel.release, version = ''] = uname.stdout.trim().split('\n');
    const upstream = debianUpstreamVersion(version);
    // tx's device is the virtio device (virtioN); its features are the negotiated ones.
    const feat = await s.exec('cat /sys/class/net/tx/device/features', { timeoutMs: 15_000 });
    if (feat.code !== 0) throw new Error(`guest ${release}: cannot read tx's virtio features: ${feat.stderr.trim()}`);
    const nic = parseVirtioFeatures(feat.stdout);
    this.nic = nic;
    try {
      this.profile = profileFor(upstream ?? release);
    } catch {
      this.profile = null; // an unknown kernel: the run says so
    }
    const has = (on: boolean, name: string): string => (on ? name : `no ${name}`);
    const details: Record<string, string> = {
      target: 'QEMU guest, test NIC tx = tap0 in an anonymous netns',
      kernel: this.kernel.source,
      uname_v: version,
      accel: live.guest.accel.toUpperCase(),
      entry: `${live.guest.image.entry} (${live.guest.image.why})`,
      boot_seconds: (live.guest.times.sshMs / 1000).toFixed(1),
      capture: 'libpcap on tap0 (host side of the guest NIC, vnet header: what the guest handed its NIC, unsegmented, partial checksums as they were)',
      offload: `virtio-net negotiated ${has(nic.csum, 'CSUM')}, ${has(nic.tso4, 'HOST_TSO4')}, ${has(nic.uso, 'HOST_USO')}; ethtool switches per case` +
        (nic.uso ? '' : '; UDP GSO packets are segmented before the driver (inputs.tx_gso_udp_l4 false)'),
      kconfig: config ?? 'no .config found beside the image (not checked)',
    };
    // The kernel's config: the one beside the image (Debian's package), else the guest's /proc/config.gz.
    const kc = configInputs(config
      ? { text: readFileSync(config, 'utf8'), source: config }
      : await s.exec(REMOTE_CONFIG_COMMAND, { timeoutMs: 15_000 }).then((r) => (r.stdout.trim() ? { text: r.stdout, source: 'the guest\'s /proc/config.gz' } : null)));
    details.kernel_config = kc.detail;
    // A Debian ABI release (6.1.0-50-cloud-amd64) names no point release; uname -v does.
    this.info = { release, details, inputs: kc.inputs, ...(upstream ? { profileRelease: upstream } : {}) };
    return this.info;
  }

  private async bootGuest(): Promise<Live> {
    const kernel = this.kernel!;
    const guest = await Guest.boot({
      kernel,
      accel: this.opts.accel ?? 'auto',
      log: this.log,
      ...(this.opts.bootTimeoutMs !== undefined ? { bootTimeoutMs: this.opts.bootTimeoutMs } : {}),
      ...(this.opts.memoryMB !== undefined ? { memoryMB: this.opts.memoryMB } : {}),
    });
    this.boots++;
    this.bootSeconds.push(guest.times.sshMs / 1000);
    try {
      const ssh = guest.ssh[0] ?? (await guest.connect());
      const sorter = new FenceSorter();
      const capture = await NetnsCapture.open(guest.netnsPath, guest.tapName, (f) => sorter.add(f));
      let probe: ProbeProcess;
      try {
        if (!guest.initramfs.probe) throw new Error('the initramfs has no probe (build it: make -C kernel-probes)');
        probe = await probeOverSsh(ssh, [guest.initramfs.probe, '--lab', 'dev:tx'], {
          caseTimeoutMs: this.caseTimeoutMs,
          readyTimeoutMs: 30_000,
          label: `probe in guest ${kernel.release}`,
        });
      } catch (e) {
        capture.kill();
        throw e;
      }
      this.live = { guest, ssh, probe, capture, sorter, seq: 0 };
      return this.live;
    } catch (e) {
      const tail = guest.consoleTail(EXCERPT_LINES);
      await guest.close();
      throw e instanceof GuestError ? e : new GuestError(`guest ${kernel.release}: ${(e as Error).message}`, tail);
    }
  }

  runCase(program: Program): Promise<Observation> {
    return this.queue.run(async () => withTargetInputs(await this.runOne(program), this.info!));
  }

  private async runOne(program: Program): Promise<Observation> {
    if (this.closed || !this.info) throw new Error('runCase before start() or after close()');
    const limit = this.nic && this.profile ? offloadLimit(program, this.nic) : null;
    if (limit) return failedObservation(program.id, `the qemu target cannot show this case: ${limit}`);
    let live = this.live;
    if (!live) {
      try {
        live = await this.bootGuest();
      } catch (e) {
        return failedObservation(program.id, `a fresh guest did not come up: ${(e as Error).message}`);
      }
    }
    const seq = ++live.seq;
    try {
      await this.opts.beforeCase?.(program, live.guest);
      const r = await this.watch(live, live.probe.runCase(seq, program));
      const frames = 'labError' in r ? ((await live.sorter.take(seq, 200)) ?? []) : await live.sorter.take(seq, FENCE_WAIT_MS);
      const late = live.sorter.leftovers().late;
      live.sorter.dropLate();
      const obs = buildObservation(program.id, r, frames, { device: 'tap0', fenceWaitMs: FENCE_WAIT_MS });
      if (this.nic) obs.result.inputs = { ...obs.result.inputs, tx_gso_udp_l4: this.nic.uso };
      if (late.size > 0) {
        const n = [...late.values()].reduce((a, b) => a + b.length, 0);
        obs.harnessError = [obs.harnessError, `${n} frames of earlier errored cases ${[...late.keys()].join(',')} arrived late`].filter(Boolean).join('; ');
      }
      const fault = live.guest.fault();
      if (fault) throw new Error(`guest fault after the case: ${fault}`);
      return obs;
    } catch (e) {
      return this.guestFailed(live, program, e);
    }
  }

  /** `p`, unless the guest dies first (QEMU gone, panic or oops on the console). */
  private watch<T>(live: Live, p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setInterval(() => {
        const f = live.guest.fault();
        if (f) {
          clearInterval(timer);
          reject(new Error(f));
        }
      }, 200);
      p.then(
        (v) => {
          clearInterval(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearInterval(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  /** The case in flight when the guest failed: error with the console excerpt; the guest is retired. */
  private async guestFailed(live: Live, program: Program, e: unknown): Promise<Observation> {
    // Let a panic or oops trace reach the console before quoting it.
    const t0 = Date.now();
    while (!live.guest.fault() && Date.now() - t0 < FAULT_SETTLE_MS) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    const fault = live.guest.fault();
    const excerpt = live.guest.consoleTail(EXCERPT_LINES).trimEnd();
    await this.retire(live);
    const why = `guest ${this.kernel?.release} failed during this case: ${(e as Error).message}${fault && !(e as Error).message.includes(fault) ? `; ${fault}` : ''}; a fresh guest runs the next case`;
    return failedObservation(program.id, `${why}\n--- guest console ---\n${excerpt}`);
  }

  private async retire(live: Live): Promise<void> {
    if (this.live === live) this.live = null;
    live.probe.close().catch(() => {});
    this.dropsDone += (await Promise.race([live.capture.drops(), new Promise<null>((r) => setTimeout(() => r(null), 1000))])) ?? 0;
    await live.capture.close();
    await live.guest.close();
  }

  /** Guests booted so far (1 + the fresh ones after failures). */
  get bootCount(): number {
    return this.boots;
  }

  /** The running guest (tests), or null between a failure and the next case. */
  get guest(): Guest | null {
    return this.live?.guest ?? null;
  }

  drops(): number {
    return this.dropsDone;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    const live = this.live;
    if (live) {
      await Promise.race([live.probe.close().catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
      await this.retire(live);
    }
  }
}
