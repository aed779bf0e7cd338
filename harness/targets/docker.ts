/**
 * The host kernel as seen from a Docker container (`--target docker`): the
 * same static probe, run as the only file of an image built FROM scratch on
 * this machine (`skbdiff-probe:<sha256 of the probe>`, built once, then
 * reused), in a container of the local dockerd (dockerode over its socket).
 * What a containerised sender gets differs from the netns target only by the
 * container's confinement: its capability set, docker's default seccomp
 * profile, its mounts.
 *
 * Network: `NetworkMode: 'none'`: the container gets a network namespace of
 * its own holding only `lo`, and docker's bridge is never used (the daemon
 * setup.sh starts has none: `--bridge=none --iptables=false
 * --ip-forward=false`). The probe builds its lab in there (`--lab veth`: tx/rx
 * in the container's netns, each case in a child netns) and libpcap captures
 * on `rx` from the host, inside the container's netns
 * (lab-capture.ts NetnsCapture on `/proc/<container pid>/ns/net`).
 *
 * Confinement, kept as close to docker's default as the lab allows:
 * - capabilities: docker's default set plus NET_ADMIN (veth pair, ethtool,
 *   addresses, routes, neighbours, moving tx between namespaces), SYS_ADMIN
 *   (`unshare(CLONE_NEWNET)` and `setns` for each case's namespace; docker's
 *   seccomp profile also allows those syscalls only with SYS_ADMIN), NET_RAW
 *   (the fence's AF_PACKET socket; in docker's default set already, named so
 *   that a daemon with another default still grants it). The probe's socket
 *   calls run with the same set: a containerised sender with these three.
 * - seccomp and AppArmor: the daemon's defaults, untouched.
 * - `/proc/sys` writable (dropped from ReadonlyPaths; the other read-only
 *   and masked paths stay): the probe writes each case's sysctls and
 *   `disable_ipv6` in the case's own netns. With SYS_ADMIN the container
 *   could remount it writable anyway, so this grants nothing new.
 * - not `--privileged`: nothing in the lab needs it.
 *
 * Cleanup: close() stops and removes the container on every path; SIGINT,
 * SIGTERM and process exit remove it too; the container has AutoRemove and
 * the probe ends at EOF on stdin, so if this process is SIGKILLed the
 * attach closes, the probe exits and dockerd removes the container. The
 * image stays (cached by the probe's hash).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import Docker from 'dockerode';
import type { Program } from '../../model/program.js';
import { startProbe, type ProbeProcess, type ProbeTransport } from '../probe/protocol.js';
import { type Observation, type Target, type TargetInfo, SerialQueue, withTargetInputs } from '../target.js';
import { configInputs, hostKernelConfig } from '../kernel-config.js';
import { buildObservation, failedObservation, FenceSorter, NetnsCapture } from './lab-capture.js';
import { defaultProbePath } from './netns.js';

/** How long after DONE the fence may take to reach the capture. */
const FENCE_WAIT_MS = 2000;

/** Labels on every container this target creates (stale ones are found by them). */
export const LABEL_TARGET = 'skbdiff.target';
export const LABEL_OWNER = 'skbdiff.owner';
/** Probe images kept: the current one and the newest others (pruneProbeImages). */
export const KEEP_IMAGES = 3;
export const IMAGE_REPO = 'skbdiff-probe';

/** Capabilities added to docker's default set (see the file comment). */
export const CAP_ADD = ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW'] as const;

/** Docker's default ReadonlyPaths (moby oci/defaults.go) less `/proc/sys`. */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sysrq-trigger'];

export interface DockerTargetOptions {
  /** The static probe binary (default kernel-probes/build/skbdiff-probe of this checkout). */
  probe?: string;
  /** dockerode's connection options (default: DOCKER_HOST or /var/run/docker.sock). */
  docker?: Docker.DockerOptions;
  /** Per-case limit in the probe (default 10 s). */
  caseTimeoutMs?: number;
  /** Limit for the image, the container and READY (default 60 s). */
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

/** A fault of this target: no daemon, no image, no container. */
export class DockerTargetError extends Error {
  override name = 'DockerTargetError';
}

const HOW_TO_START =
  'start it with `bash scripts/setup.sh` (installs docker.io and runs dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false, log in /tmp/skbdiff-dockerd.log)';

/** `skbdiff-probe:<first 16 hex of sha256(probe)>`. */
export function imageTag(probeBytes: Uint8Array): string {
  return `${IMAGE_REPO}:${createHash('sha256').update(probeBytes).digest('hex').slice(0, 16)}`;
}

/** The container's create options: the probe alone, NetworkMode none, the lab's capabilities. */
export function containerSpec(image: string, owner: string): Docker.ContainerCreateOptions {
  return {
    Image: image,
    Cmd: ['--lab', 'veth'],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    // The probe's stdin closes when our attach does: the probe ends at EOF, AutoRemove removes it.
    StdinOnce: true,
    Tty: false,
    Labels: { [LABEL_TARGET]: 'docker', [LABEL_OWNER]: owner },
    HostConfig: {
      NetworkMode: 'none',
      CapAdd: [...CAP_ADD],
      ReadonlyPaths: READONLY_PATHS,
      AutoRemove: true,
      Privileged: false,
    },
  };
}

/** This process as a container owner label: `<hostname>:<pid>`. */
function ownerLabel(pid = process.pid): string {
  return `${hostname()}:${pid}`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A new probe means a new image: keep `current` and the `keep - 1` newest
 * other images labelled `label` (another checkout may be using its own),
 * remove the older ones. An image a container still uses is refused by
 * dockerd (409) and stays.
 */
export async function pruneProbeImages(
  docker: Docker, current: string, log: (m: string) => void, keep = KEEP_IMAGES, label = `${LABEL_TARGET}=docker`,
): Promise<void> {
  const images = await docker.listImages({ filters: { label: [label] } }).catch(() => []);
  const older = images
    .filter((im) => !(im.RepoTags ?? []).includes(current))
    .sort((a, b) => b.Created - a.Created)
    .slice(Math.max(0, keep - 1));
  for (const im of older) {
    const name = im.RepoTags?.[0] ?? im.Id;
    await docker.getImage(im.Id).remove().then(
      () => log(`docker: removed old probe image ${name}`),
      (e: unknown) => log(`docker: old probe image ${name} kept: ${(e as Error).message}`),
    );
  }
}

const statusOf = (e: unknown): number | undefined => (e as { statusCode?: number })?.statusCode;

interface Live {
  container: Docker.Container;
  id: string;
  pid: number;
  probe: ProbeProcess;
  capture: NetnsCapture;
  sorter: FenceSorter;
  stderr: () => string;
  seq: number;
}

export class DockerTarget implements Target {
  readonly name = 'docker';
  readonly docker: Docker;
  private readonly probePath: string;
  private readonly caseTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly log: (line: string) => void;
  private image: string | null = null;
  private info: TargetInfo | null = null;
  private live: Live | null = null;
  /** Every container created and not yet seen removed (a signal removes them all). */
  private readonly containers = new Set<string>();
  private closed = false;
  private dropsDone = 0;
  private starts = 0;
  private readonly queue = new SerialQueue();

  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.uninstall();
    const removal = this.removeAll();
    // Our listener suppressed the default action; if nobody else handles the signal, die by it
    // once the containers are gone (bounded: a hung daemon must not keep us alive).
    if (process.listenerCount(sig) === 0) {
      const bounded = Promise.race([removal, new Promise((r) => setTimeout(r, 5000))]);
      void bounded.finally(() => process.kill(process.pid, sig));
    }
  };
  private readonly onExit = (): void => {
    // Synchronous last resort: a child node process asks the daemon to remove them.
    if (this.containers.size > 0) this.removeSync([...this.containers]);
  };

  constructor(options: DockerTargetOptions = {}) {
    this.probePath = options.probe ?? defaultProbePath;
    this.caseTimeoutMs = options.caseTimeoutMs ?? 10_000;
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
    this.log = options.log ?? (() => {});
    this.docker = new Docker(options.docker);
  }

  async start(): Promise<TargetInfo> {
    if (this.closed) throw new DockerTargetError('target is closed');
    if (this.info) return this.info;
    if (!existsSync(this.probePath)) throw new DockerTargetError(`no probe at ${this.probePath} (build it: make -C kernel-probes)`);
    let version: Docker.DockerVersion;
    let sysinfo: { SecurityOptions?: string[]; DefaultRuntime?: string };
    try {
      version = await this.docker.version();
      sysinfo = (await this.docker.info()) as typeof sysinfo;
    } catch (e) {
      throw new DockerTargetError(`the Docker daemon does not answer (${(e as Error).message}); ${HOW_TO_START}`);
    }
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
    await this.removeStale();
    this.image = await this.ensureImage();
    const live = await this.startContainer();
    const kc = configInputs(hostKernelConfig()); // the container runs on the host's kernel
    this.info = {
      release: live.probe.ready.release,
      inputs: kc.inputs,
      details: {
        target: 'Docker container on the host kernel, NetworkMode none (its own netns), probe image FROM scratch',
        image: this.image,
        docker: `dockerd ${version.Version} (API ${version.ApiVersion}), runtime ${sysinfo.DefaultRuntime ?? '?'}`,
        capabilities: `docker default + ${CAP_ADD.join(', ')}; not privileged`,
        security: (sysinfo.SecurityOptions ?? []).join(', ') || 'none reported',
        proc_sys: 'writable (the lab writes per-netns sysctls); other default read-only and masked paths kept',
        kernel_config: kc.detail,
        capture: 'libpcap on rx inside the container netns, from the host',
      },
    };
    return this.info;
  }

  /** Containers of this target whose owning process (on this host) is gone. */
  private async removeStale(): Promise<void> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_TARGET}=docker`] } });
    for (const c of list) {
      const owner = c.Labels[LABEL_OWNER] ?? '';
      const [host, pid] = owner.split(':');
      if (host !== hostname() || !pid || pidAlive(Number(pid))) continue;
      this.log(`docker: removing stale container ${c.Id.slice(0, 12)} of dead process ${pid}`);
      await this.docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
  }

  /** The probe image, built FROM scratch unless the tag for this probe's hash exists. */
  private async ensureImage(): Promise<string> {
    const bytes = readFileSync(this.probePath);
    const tag = imageTag(bytes);
    try {
      await this.docker.getImage(tag).inspect();
      return tag;
    } catch (e) {
      if (statusOf(e) !== 404) throw new DockerTargetError(`docker image inspect ${tag}: ${(e as Error).message}`);
    }
    this.log(`docker: building ${tag} FROM scratch`);
    const dir = mkdtempSync(join(tmpdir(), 'skbdiff-docker-'));
    try {
      copyFileSync(this.probePath, join(dir, 'skbdiff-probe'));
      writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY skbdiff-probe /skbdiff-probe\nENTRYPOINT ["/skbdiff-probe"]\n');
      const stream = await this.docker.buildImage(
        { context: dir, src: ['Dockerfile', 'skbdiff-probe'] },
        // networkmode none: the build's intermediate containers get no network either.
        { t: tag, networkmode: 'none', rm: true, forcerm: true, labels: { [LABEL_TARGET]: 'docker' } },
      );
      const out = await new Promise<Array<{ error?: string; stream?: string }>>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err: Error | null, res: Array<{ error?: string; stream?: string }>) => (err ? reject(err) : resolve(res))),
      );
      const failed = out.find((m) => m.error);
      if (failed) throw new Error(failed.error);
      await this.docker.getImage(tag).inspect();
    } catch (e) {
      throw new DockerTargetError(`building image ${tag}: ${(e as Error).message}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await pruneProbeImages(this.docker, tag, (m) => this.log(m));
    return tag;
  }

  /** A container running the probe, its stdio attached, READY read, capture open on its rx. */
  private async startContainer(): Promise<Live> {
    const container = await this.docker.createContainer(containerSpec(this.image!, ownerLabel()));
    this.containers.add(container.id);
    this.starts++;
    try {
      // Attach before start: READY must not be missed. Hijacked: stdin flows over the same socket.
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let stderrText = '';
      stderr.on('data', (d: Buffer) => {
        stderrText = (stderrText + d.toString('utf8')).slice(-4000);
      });
      this.docker.modem.demuxStream(stream, stdout, stderr);
      stream.on('end', () => {
        stdout.end();
        stderr.end();
      });
      stream.on('error', () => {});
      // next-exit, asked before start: with AutoRemove the container may be gone by the time we would ask.
      const exit = container.wait({ condition: 'next-exit' }).then(
        (r: { StatusCode?: number }) => ({ code: r.StatusCode ?? null, signal: null }),
        () => ({ code: null, signal: 'container gone' }),
      );
      await container.start();
      const pid = ((await container.inspect()).State.Pid as number) || 0;
      const transport: ProbeTransport = {
        stdin: stream,
        stdout,
        stderr,
        exit,
        kill: () => void container.kill().catch(() => {}),
        pid,
        label: `probe in container ${container.id.slice(0, 12)}`,
      };
      const probe = await startProbe(transport, { caseTimeoutMs: this.caseTimeoutMs, readyTimeoutMs: this.startTimeoutMs });
      if (!probe.ready.rx) throw new Error(`probe READY names no rx: ${JSON.stringify(probe.ready)}`);
      // The probe is between cases now, in the container's netns (it unshares only during a case).
      const sorter = new FenceSorter();
      const capture = await NetnsCapture.open(`/proc/${pid}/ns/net`, probe.ready.rx, (f) => sorter.add(f));
      this.live = { container, id: container.id, pid, probe, capture, sorter, stderr: () => stderrText, seq: 0 };
      return this.live;
    } catch (e) {
      await this.removeContainer(container.id);
      throw new DockerTargetError(`container ${container.id.slice(0, 12)} (${this.image}): ${(e as Error).message}`);
    }
  }

  runCase(program: Program): Promise<Observation> {
    return this.queue.run(async () => withTargetInputs(await this.runOne(program), this.info!));
  }

  private async runOne(program: Program): Promise<Observation> {
    if (this.closed || !this.info) throw new DockerTargetError('runCase before start() or after close()');
    let live = this.live;
    if (!live) {
      try {
        live = await this.startContainer(); // a fresh container after a probe failure
      } catch (e) {
        return failedObservation(program.id, `a fresh container did not start: ${(e as Error).message}`);
      }
    }
    const seq = ++live.seq;
    try {
      const r = await live.probe.runCase(seq, program);
      const frames = 'labError' in r ? ((await live.sorter.take(seq, 200)) ?? []) : await live.sorter.take(seq, FENCE_WAIT_MS);
      const late = live.sorter.leftovers().late;
      live.sorter.dropLate();
      const obs = buildObservation(program.id, r, frames, { device: `rx in container ${live.id.slice(0, 12)}`, fenceWaitMs: FENCE_WAIT_MS });
      if (late.size > 0) {
        const n = [...late.values()].reduce((a, b) => a + b.length, 0);
        obs.harnessError = [obs.harnessError, `${n} frames of earlier errored cases ${[...late.keys()].join(',')} arrived late`].filter(Boolean).join('; ');
      }
      return obs;
    } catch (e) {
      // The probe died or hung: tx may be stranded in the case's netns. A fresh container runs the next case.
      await this.retire(live);
      return failedObservation(program.id, `${(e as Error).message}; a fresh container runs the next case`);
    }
  }

  private async retire(live: Live): Promise<void> {
    if (this.live === live) this.live = null;
    live.probe.close().catch(() => {});
    this.dropsDone += (await Promise.race([live.capture.drops(), new Promise<null>((r) => setTimeout(() => r(null), 1000))])) ?? 0;
    await live.capture.close();
    await this.removeContainer(live.id);
  }

  /** Force-removes the container and waits until the daemon no longer knows it. */
  private async removeContainer(id: string): Promise<void> {
    const c = this.docker.getContainer(id);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await c.remove({ force: true });
      } catch (e) {
        // 404: gone; 409: AutoRemove's removal already in progress: wait for it.
        if (statusOf(e) !== 404 && statusOf(e) !== 409) this.log(`docker: removing ${id.slice(0, 12)}: ${(e as Error).message}`);
      }
      try {
        await c.inspect();
      } catch (e) {
        if (statusOf(e) === 404) {
          this.containers.delete(id);
          return;
        }
      }
      if (Date.now() > deadline) throw new DockerTargetError(`container ${id.slice(0, 12)} still exists 15 s after removal`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async removeAll(): Promise<void> {
    this.live?.capture.kill();
    await Promise.all([...this.containers].map((id) => this.removeContainer(id).catch(() => {})));
  }

  /** DELETE /containers/ID?force=1 from a child process (for the 'exit' event, where nothing async runs). */
  private removeSync(ids: string[]): void {
    const modem = this.docker.modem as { socketPath?: string };
    const socketPath = typeof modem.socketPath === 'string' ? modem.socketPath : '/var/run/docker.sock';
    const script = `const http=require('node:http');let n=${ids.length};for(const id of ${JSON.stringify(ids)}){http.request({socketPath:${JSON.stringify(socketPath)},method:'DELETE',path:'/containers/'+id+'?force=1'},(r)=>{r.resume();r.on('end',()=>{if(--n===0)process.exit(0)})}).on('error',()=>{if(--n===0)process.exit(0)}).end()}`;
    spawnSync(process.execPath, ['-e', script], { timeout: 10_000, stdio: 'ignore' });
  }

  /** The running container's id and init pid (tests), or null between a failure and the next case. */
  get container(): { id: string; pid: number } | null {
    return this.live ? { id: this.live.id, pid: this.live.pid } : null;
  }

  /** Containers started so far (1 + the fresh ones after probe failures). */
  get startCount(): number {
    return this.starts;
  }

  drops(): number {
    return this.dropsDone;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.queue.idle();
      const live = this.live;
      if (live) {
        await Promise.race([live.probe.close().catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
        await this.retire(live);
      }
    } finally {
      await this.removeAll();
      this.uninstall();
    }
  }

  private uninstall(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
  }
}
