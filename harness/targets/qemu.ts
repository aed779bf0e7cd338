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
 * Wire format: the tap has no vnet header and the virtio-net device offers no
 * offload (vms/qemu.ts), so what tap0 sees is what a wire carries. A case that
 * turns `offload.tx_checksum` or `offload.gso` on predicts what the kernel
 * hands an offloading device (a partial checksum, one unsegmented packet);
 * this NIC cannot show that, so such a case is an `error` here, not a guess.
 *
 * A guest that panics, oopses or stops answering during a case: that case is
 * an `error` carrying the fault and the console excerpt; the guest is shut
 * down and a fresh one boots for the next case.
 */
import type { Program } from '../../model/program.js';
import { probeOverSsh } from '../probe/ssh-probe.js';
import type { ProbeProcess } from '../probe/protocol.js';
import type { SshSession } from '../ssh.js';
import type { Observation, Target, TargetInfo } from '../target.js';
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
  private closed = false;
  private dropsDone = 0;
  private boots = 0;
  private queue: Promise<unknown> = Promise.resolve();
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
    const details: Record<string, string> = {
      target: 'QEMU guest, test NIC tx = tap0 in an anonymous netns',
      kernel: this.kernel.source,
      uname_v: version,
      accel: live.guest.accel.toUpperCase(),
      boot_seconds: (live.guest.times.sshMs / 1000).toFixed(1),
      capture: 'libpcap on tap0 (host side of the guest NIC, no vnet header: wire format)',
      offload: 'none: cases with offload.tx_checksum or offload.gso on are errors on this target',
      kconfig: config ?? 'no .config found beside the image (not checked)',
    };
    // A Debian ABI release (6.1.0-50-cloud-amd64) names no point release; uname -v does.
    if (upstream) details['profile_release'] = upstream;
    this.info = { release, details };
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
    const run = this.queue.then(() => this.runOne(program));
    this.queue = run.catch(() => {});
    return run;
  }

  private async runOne(program: Program): Promise<Observation> {
    if (this.closed || !this.info) throw new Error('runCase before start() or after close()');
    if (program.net.txChecksum || program.net.gso) {
      const on = [program.net.txChecksum ? 'offload.tx_checksum' : '', program.net.gso ? 'offload.gso' : ''].filter(Boolean).join(' and ');
      return failedObservation(
        program.id,
        `the qemu target cannot show this case: it turns ${on} on, so the model predicts what the kernel hands an offloading device ` +
          '(a partial checksum, one unsegmented packet); the guest NIC here offers no offload (tap without vnet header, so tap0 sees wire format only)',
      );
    }
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
    await this.queue;
    const live = this.live;
    if (live) {
      await Promise.race([live.probe.close().catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
      await this.retire(live);
    }
  }
}
