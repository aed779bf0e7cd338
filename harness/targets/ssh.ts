/**
 * A remote machine over SSH as a target (`--target ssh --host [user@]HOST[:PORT]
 * --identity KEYFILE --host-key 'ssh-ed25519 AAAA…'` or `--known-hosts FILE`).
 *
 * Nothing touches the remote's main network namespace: the static probe is
 * uploaded to /tmp/skbdiff-<hash of the probe>/ and started as
 * `unshare --net -- sh -c 'exec probe --lab veth'` (its own anonymous
 * netns, where it makes tx/rx as on the netns target); a second exec enters
 * that netns (`nsenter --net=/proc/PID/ns/net`) and runs
 * `tcpdump -i rx -U -w - --immediate-mode`, whose packet-buffered pcap comes
 * back over that channel, is parsed as it arrives (pcap-stream.ts) and sorted
 * into cases at the fences (lab-capture.ts, as on the netns and qemu targets).
 * A watchdog beside tcpdump stops it once the probe is gone, so the netns
 * dies with the probe, also when the harness vanishes (the probe exits at EOF
 * on stdin when the SSH connection drops).
 *
 * Drops: after each case the rx counter of the lab netns
 * (/proc/PID/net/dev) minus the frames parsed so far, as the netns worker
 * does, and at close tcpdump's own "packets dropped by kernel".
 *
 * Root on the remote is required (login as root, or `sudo: true` for
 * passwordless sudo); the host key must be pinned, never learnt.
 */
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { Program } from '../../model/program.js';
import { probePath as localProbePath, startProbe, type ProbeProcess } from '../probe/protocol.js';
import { shellQuote } from '../probe/ssh-probe.js';
import { hostKeyBlob, SshError, SshSession, type RemoteProcess, type SshEndpoint } from '../ssh.js';
import { type Observation, type Target, type TargetInfo, SerialQueue, withTargetInputs } from '../target.js';
import { configInputs, REMOTE_CONFIG_COMMAND } from '../kernel-config.js';
import { buildObservation, failedObservation, FenceSorter } from './lab-capture.js';
import { PcapStreamParser } from './pcap-stream.js';
import { debianUpstreamVersion } from './qemu.js';

/** The remote machine (an SshEndpoint: host/port or sock, login, pinned host key) and what to run there. */
export interface SshTargetOptions extends Omit<SshEndpoint, 'connectTimeoutMs'> {
  /** Login name (default root). */
  username?: string;
  /** Run the remote commands through `sudo -n` (passwordless sudo) when the login is not root. */
  sudo?: boolean;
  /** The static probe to upload (default kernel-probes/build/skbdiff-probe). */
  probe?: string;
  /** Remote directory under which the probe's dir is made (default /tmp). */
  remoteTmp?: string;
  /** Per-case limit in the probe (default 10 s). */
  caseTimeoutMs?: number;
  log?: (line: string) => void;
}

/** How long after DONE the fence may take to come back through tcpdump and SSH. */
const FENCE_WAIT_MS = 4000;
/** How to get the key to pin, for the refusal message. */
export const HOST_KEY_HELP =
  "pin the remote's host key: --host-key 'ssh-ed25519 AAAA…' (the remote's /etc/ssh/ssh_host_ed25519_key.pub, or `ssh-keyscan -t ed25519 HOST` checked against it) or --known-hosts FILE (e.g. ~/.ssh/known_hosts after a verified first login)";

/** `[user@]HOST[:PORT]` (IPv6 as `[addr]:port`). */
export function parseHostSpec(spec: string): { username?: string; host: string; port: number } {
  const at = spec.lastIndexOf('@');
  const username = at >= 0 ? spec.slice(0, at) : undefined;
  const rest = at >= 0 ? spec.slice(at + 1) : spec;
  let host = rest;
  let port = 22;
  const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (m6) {
    host = m6[1]!;
    if (m6[2]) port = Number(m6[2]);
  } else {
    const m = /^([^:]+):(\d+)$/.exec(rest);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  if (!host || /\s/.test(host) || (username !== undefined && !username) || !(port >= 1 && port <= 65535)) {
    throw new Error(`--host ${JSON.stringify(spec)}: expected [user@]HOST[:PORT]`);
  }
  return { ...(username !== undefined ? { username } : {}), host, port };
}

/**
 * The host key for `host`:`port` from an OpenSSH known_hosts text (plain or
 * hashed `|1|salt|hmac` names, `[host]:port` for a port other than 22;
 * `@revoked` lines refuse, `@cert-authority` lines are skipped). Prefers
 * ssh-ed25519. Null when no line names the host.
 */
export function hostKeyFromKnownHosts(text: string, host: string, port = 22): string | null {
  const name = port === 22 ? host : `[${host}]:${port}`;
  const matches = (pattern: string): boolean => {
    if (pattern.startsWith('|1|')) {
      const [, , salt, hash] = pattern.split('|');
      if (!salt || !hash) return false;
      return crypto.createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
    }
    let hit = false;
    for (const p of pattern.split(',')) {
      const neg = p.startsWith('!');
      const glob = new RegExp('^' + (neg ? p.slice(1) : p).replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.').replace(/\[/g, '\\[').replace(/\]/g, '\\]') + '$', 'i');
      if (glob.test(name)) {
        if (neg) return false;
        hit = true;
      }
    }
    return hit;
  };
  const keys: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    let marker: string | null = null;
    if (f[0]!.startsWith('@')) marker = f.shift()!;
    const [pattern, type, b64] = f;
    if (!pattern || !type || !b64 || !matches(pattern)) continue;
    if (marker === '@revoked') throw new SshError(`known_hosts marks the key ${type} of ${name} as revoked`);
    if (marker !== null) continue;
    keys.push(`${type} ${b64}`);
  }
  return keys.find((k) => k.startsWith('ssh-ed25519 ')) ?? keys[0] ?? null;
}

/** Thrown when no host key is pinned: the message says how to get one. */
export class HostKeyNotPinned extends SshError {
  override name = 'HostKeyNotPinned';
}

/** What the CLI hands over: flags, not yet files read. */
export interface SshFlags {
  host?: string;
  identity?: string;
  hostKey?: string;
  knownHosts?: string;
  sudo?: boolean;
  log?: (line: string) => void;
}

/** SshTargetOptions from the CLI flags (reads the key files; throws a plain Error naming the flag). */
export function sshOptionsFromFlags(f: SshFlags): SshTargetOptions {
  if (!f.host) throw new Error('the ssh target needs --host [user@]HOST[:PORT]');
  const h = parseHostSpec(f.host);
  if (!f.identity) throw new Error('the ssh target needs --identity KEYFILE (an OpenSSH private key, unencrypted)');
  let privateKey: string;
  try {
    privateKey = readFileSync(f.identity, 'utf8');
  } catch (e) {
    throw new Error(`--identity ${f.identity}: ${(e as Error).message}`);
  }
  if (/ENCRYPTED|bcrypt/.test(privateKey) && !/BEGIN OPENSSH PRIVATE KEY/.test(privateKey)) throw new Error(`--identity ${f.identity}: encrypted keys are not supported`);
  let hostPublicKey: string | null = null;
  if (f.hostKey !== undefined && f.knownHosts !== undefined) throw new Error('give --host-key or --known-hosts, not both');
  if (f.hostKey !== undefined) {
    hostKeyBlob(f.hostKey); // throws on a malformed line
    hostPublicKey = f.hostKey;
  } else if (f.knownHosts !== undefined) {
    let text: string;
    try {
      text = readFileSync(f.knownHosts, 'utf8');
    } catch (e) {
      throw new Error(`--known-hosts ${f.knownHosts}: ${(e as Error).message}`);
    }
    hostPublicKey = hostKeyFromKnownHosts(text, h.host, h.port);
    if (!hostPublicKey) throw new HostKeyNotPinned(`--known-hosts ${f.knownHosts} has no key for ${h.port === 22 ? h.host : `[${h.host}]:${h.port}`}; ${HOST_KEY_HELP}`);
  }
  if (!hostPublicKey) throw new HostKeyNotPinned(`refusing to connect to ${f.host} with no pinned host key; ${HOST_KEY_HELP}`);
  return {
    host: h.host,
    port: h.port,
    ...(h.username !== undefined ? { username: h.username } : {}),
    privateKey,
    hostPublicKey,
    ...(f.sudo ? { sudo: true } : {}),
    ...(f.log ? { log: f.log } : {}),
  };
}

/** `N packets dropped by kernel` from tcpdump's closing statistics (stderr), or null. */
export function tcpdumpKernelDrops(stderr: string): number | null {
  const m = /(\d+) packets? dropped by kernel/.exec(stderr);
  return m ? Number(m[1]) : null;
}

/** The receive packet counter of `ifname` in a /proc/net/dev text. */
export function netDevRxPackets(text: string, ifname: string): number | null {
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== ifname) continue;
    const n = Number(line.slice(colon + 1).trim().split(/\s+/)[1]);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

/** A probe, its netns and the tcpdump in it, on the remote. */
interface Lab {
  probe: ProbeProcess;
  /** The probe's pid: holds the anonymous netns. */
  probePid: number;
  tcpdump: RemoteProcess;
  tcpdumpPid: number;
  tcpdumpStderr: { text: string };
  parser: PcapStreamParser;
  sorter: FenceSorter;
  /** A fault of the capture stream (corrupt pcap, tcpdump gone). */
  captureFault: string | null;
  rx: string;
  rx0: number;
  seq: number;
}

function lineWaiter(stream: NodeJS.ReadableStream, re: RegExp, sink: { text: string }, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(sink.text);
      if (m) {
        clearTimeout(t);
        stream.off('data', onData);
        resolve(m);
        return true;
      }
      return false;
    };
    const onData = (): void => {
      setImmediate(check);
    };
    const t = setTimeout(() => {
      stream.off('data', onData);
      reject(new SshError(`${what}: not seen within ${timeoutMs} ms; stderr: ${JSON.stringify(sink.text.slice(-500))}`));
    }, timeoutMs);
    stream.on('data', onData);
    check();
  });
}

export class SshTarget implements Target {
  readonly name = 'ssh';
  private session: SshSession | null = null;
  private lab: Lab | null = null;
  private info: TargetInfo | null = null;
  private closed = false;
  private readonly queue = new SerialQueue();
  /** Cumulative rx gap of retired labs plus tcpdump's kernel drops. */
  private dropsDone = 0;
  private remoteDir: string | null = null;
  private createdDir = false;
  private remoteProbe: string | null = null;
  private readonly sudo: string;
  private readonly log: (line: string) => void;
  private readonly caseTimeoutMs: number;
  /** Remote pids this target started (tests check none is left). */
  readonly startedPids: number[] = [];
  /** Each retired lab's capture accounting: tcpdump's kernel drops (null: it printed none) and the rx counter's gap. */
  readonly captureStats: Array<{ kernelDrops: number | null; rxGap: number | null }> = [];

  constructor(private readonly opts: SshTargetOptions) {
    if (!opts.hostPublicKey) throw new HostKeyNotPinned(`refusing to connect to ${opts.host ?? 'the remote'} with no pinned host key; ${HOST_KEY_HELP}`);
    hostKeyBlob(opts.hostPublicKey);
    if (!opts.sock && !opts.host) throw new Error('SshTarget: host or sock is needed');
    this.sudo = opts.sudo ? 'sudo -n ' : '';
    this.log = opts.log ?? (() => {});
    this.caseTimeoutMs = opts.caseTimeoutMs ?? 10_000;
  }

  private get where(): string {
    return this.opts.host ? `${this.opts.username ?? 'root'}@${this.opts.host}${this.opts.port && this.opts.port !== 22 ? `:${this.opts.port}` : ''}` : 'the remote';
  }

  /** Runs `script` with sh on the remote, as root (through sudo -n with `sudo`). */
  private async sh(script: string, opts: { stdin?: Uint8Array; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string; code: number | null }> {
    const s = this.session;
    if (!s) throw new SshError('not connected');
    return s.exec(`${this.sudo}sh -c ${shellQuote(script)}`, opts);
  }

  async start(): Promise<TargetInfo> {
    if (this.closed) throw new Error('target is closed');
    if (this.info) return this.info;
    const o = this.opts;
    this.session = await SshSession.connect({
      ...(o.sock ? { sock: o.sock } : { host: o.host!, port: o.port ?? 22 }),
      ...(o.username !== undefined ? { username: o.username } : {}),
      privateKey: o.privateKey,
      hostPublicKey: o.hostPublicKey,
    });
    try {
      // Root, and the tools.
      const id = await this.sh('id -u', { timeoutMs: 15_000 });
      if (id.code !== 0 || id.stdout.trim() !== '0') {
        throw new Error(o.sudo
          ? `${this.where}: passwordless sudo failed (sudo -n sh -c 'id -u': ${(id.stderr || id.stdout).trim() || `exit ${id.code}`})`
          : `${this.where}: the ssh target needs root on the remote (uid is ${id.stdout.trim() || '?'}): log in as root, or pass --sudo for passwordless sudo`);
      }
      const tools = await this.sh('for t in unshare nsenter tcpdump sha256sum kill; do command -v $t >/dev/null 2>&1 || echo $t; done', { timeoutMs: 15_000 });
      const missing = tools.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
      if (missing.length > 0) {
        throw new Error(`${this.where} lacks ${missing.join(', ')} (Debian: apt-get install ${[...new Set(missing.map((m) => (m === 'tcpdump' ? 'tcpdump' : m === 'sha256sum' ? 'coreutils' : 'util-linux')))].join(' ')})`);
      }
      const uname = await this.sh('uname -r; uname -v', { timeoutMs: 15_000 });
      const [release = '', version = ''] = uname.stdout.trim().split('\n');
      if (!release) throw new Error(`${this.where}: uname -r gave nothing`);
      await this.upload();
      const lab = await this.startLab();
      // A Debian ABI release (6.1.0-50-cloud-amd64) names no point release; uname -v does (as qemu.ts).
      const upstream = debianUpstreamVersion(version);
      const details: Record<string, string> = {
        target: `remote machine over SSH (${this.where}), probe in an anonymous netns there (unshare --net), lab veth tx/rx`,
        uname_v: version,
        capture: `tcpdump -i ${lab.rx} -U -w - --immediate-mode in the probe's netns, pcap streamed over SSH`,
        probe: this.remoteProbe!,
      };
      const conf = await this.sh(REMOTE_CONFIG_COMMAND, { timeoutMs: 15_000 });
      const kc = configInputs(conf.stdout.trim() ? { text: conf.stdout, source: `${this.where}: /boot/config-${release} or /proc/config.gz` } : null);
      details.kernel_config = kc.detail;
      this.info = { release, details, inputs: kc.inputs, ...(upstream ? { profileRelease: upstream } : {}) };
      return this.info;
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** The probe at /tmp/skbdiff-<hash>/skbdiff-probe: reused when there with the same hash. */
  private async upload(): Promise<void> {
    const local = this.opts.probe ?? localProbePath();
    let bytes: Buffer;
    try {
      bytes = readFileSync(local);
    } catch (e) {
      throw new Error(`the static probe ${local}: ${(e as Error).message} (build it: make -C kernel-probes)`);
    }
    const hash = crypto.createHash('sha256').update(bytes).digest('hex');
    const dir = `${this.opts.remoteTmp ?? '/tmp'}/skbdiff-${hash.slice(0, 16)}`;
    const file = `${dir}/skbdiff-probe`;
    // A dir of that name must be ours (root's, no symlink, mode 700): /tmp is world-writable.
    const script = `set -e; d=${shellQuote(dir)}; f="$d/skbdiff-probe"
if [ -L "$d" ] || { [ -e "$d" ] && ! [ -d "$d" ]; }; then echo "BAD $d is not a directory"; exit 0; fi
if [ -d "$d" ]; then
  [ -O "$d" ] && [ "$(stat -c %a "$d" 2>/dev/null || echo 700)" = 700 ] || { echo "BAD $d is not root's with mode 700"; exit 0; }
  if [ -f "$f" ] && [ "$(sha256sum <"$f" | cut -c1-64)" = ${hash} ]; then echo HAVE; exit 0; fi
  made=
else
  mkdir -m 700 "$d"; made=1
fi
cat >"$f.tmp"; chmod 755 "$f.tmp"
[ "$(sha256sum <"$f.tmp" | cut -c1-64)" = ${hash} ] || { rm -f "$f.tmp"; echo "BAD upload hash mismatch"; exit 0; }
mv -f "$f.tmp" "$f"; echo "WROTE $made"`;
    const r = await this.sh(script, { stdin: bytes, timeoutMs: 120_000 });
    const out = r.stdout.trim();
    if (r.code !== 0 || !/^(HAVE|WROTE)/.test(out)) throw new Error(`${this.where}: uploading the probe to ${file} failed: ${out || r.stderr.trim() || `exit ${r.code}`}`);
    this.remoteDir = dir;
    this.createdDir = out === 'WROTE 1';
    this.remoteProbe = file;
    this.log(`probe ${out.startsWith('HAVE') ? 'already at' : 'uploaded to'} ${this.where}:${file}`);
  }

  /** The probe in a fresh anonymous netns, and tcpdump on its rx. */
  private async startLab(): Promise<Lab> {
    const s = this.session!;
    // unshare (no --fork) and sh's exec keep one pid: $$ is the probe, which holds the netns.
    const probeCmd = `exec ${this.sudo}unshare --net -- sh -c ${shellQuote('echo "SKBDIFF-NETNS-PID $$" >&2; exec "$0" --lab veth')} ${shellQuote(this.remoteProbe!)}`;
    const rp = await s.spawn(probeCmd);
    const probeStderr = { text: '' };
    rp.stderr.on('data', (d: Buffer | string) => {
      probeStderr.text = (probeStderr.text + String(d)).slice(-4000);
    });
    let probe: ProbeProcess;
    const pidSeen = lineWaiter(rp.stderr, /SKBDIFF-NETNS-PID (\d+)/, probeStderr, 15_000, `probe on ${this.where}`);
    pidSeen.catch(() => {});
    try {
      probe = await startProbe(
        { stdin: rp.stdin, stdout: rp.stdout, stderr: rp.stderr, exit: rp.exit, kill: () => rp.kill('KILL'), label: `probe on ${this.where}` },
        { caseTimeoutMs: this.caseTimeoutMs, readyTimeoutMs: 30_000 },
      );
    } catch (e) {
      rp.kill('KILL');
      const pid = await pidSeen.then((m) => Number(m[1]), () => null);
      if (pid) await this.killRemote([pid]);
      throw e;
    }
    let probePid: number;
    try {
      probePid = Number((await pidSeen)[1]);
    } catch (e) {
      await probe.close();
      throw e;
    }
    this.startedPids.push(probePid);
    const rx = probe.ready.rx;
    const cleanupProbe = async (): Promise<void> => {
      await Promise.race([probe.close(), new Promise((r) => setTimeout(r, 3000))]);
      await this.killRemote([probePid]);
    };
    if (!rx) {
      await cleanupProbe();
      throw new Error(`probe on ${this.where} READY names no rx: ${JSON.stringify(probe.ready)}`);
    }
    // tcpdump in the probe's netns; the watchdog stops it (SIGINT: it prints its statistics) once the probe is gone.
    const P = String(probePid);
    const tcpdumpScript = `tcpdump -Z root -i ${shellQuote(rx)} -U -w - --immediate-mode -s 262144 </dev/null & t=$!
echo "SKBDIFF-TCPDUMP-PID $t" >&2
while kill -0 ${P} 2>/dev/null && kill -0 $t 2>/dev/null; do sleep 1; done
kill -INT $t 2>/dev/null; wait $t`;
    const tp = await s.spawn(`exec ${this.sudo}nsenter --net=/proc/${P}/ns/net -- sh -c ${shellQuote(tcpdumpScript)}`);
    const tcpdumpStderr = { text: '' };
    tp.stderr.on('data', (d: Buffer) => {
      tcpdumpStderr.text = (tcpdumpStderr.text + d.toString('utf8')).slice(-8000);
    });
    const sorter = new FenceSorter();
    const parser = new PcapStreamParser();
    const lab: Lab = { probe, probePid, tcpdump: tp, tcpdumpPid: 0, tcpdumpStderr, parser, sorter, captureFault: null, rx, rx0: 0, seq: 0 };
    tp.stdout.on('data', (d: Buffer) => {
      if (lab.captureFault) return;
      try {
        for (const f of parser.push(d)) sorter.add(f);
      } catch (e) {
        lab.captureFault = (e as Error).message;
      }
    });
    void tp.exit.then(({ code, signal }) => {
      lab.captureFault ??= `tcpdump on ${this.where} ended (${signal ?? `code ${code}`}): ${tcpdumpStderr.text.trim().split('\n').slice(-3).join(' | ')}`;
    });
    try {
      lab.tcpdumpPid = Number((await lineWaiter(tp.stderr, /SKBDIFF-TCPDUMP-PID (\d+)/, tcpdumpStderr, 15_000, `tcpdump on ${this.where}`))[1]);
      this.startedPids.push(lab.tcpdumpPid);
      // libpcap is capturing once tcpdump says "listening on".
      await Promise.race([
        lineWaiter(tp.stderr, /listening on /, tcpdumpStderr, 15_000, `tcpdump on ${this.where}`),
        tp.exit.then(() => { throw new SshError(lab.captureFault ?? 'tcpdump ended'); }),
      ]);
      lab.rx0 = await this.rxPackets(lab);
    } catch (e) {
      tp.kill('KILL');
      await cleanupProbe();
      if (lab.tcpdumpPid) await this.killRemote([lab.tcpdumpPid]);
      throw e;
    }
    this.lab = lab;
    return lab;
  }

  /** rx's receive counter in the lab netns (the probe's /proc/PID/net/dev). */
  private async rxPackets(lab: Lab): Promise<number> {
    const r = await this.sh(`cat /proc/${lab.probePid}/net/dev`, { timeoutMs: 15_000 });
    const n = r.code === 0 ? netDevRxPackets(r.stdout, lab.rx) : null;
    if (n === null) throw new SshError(`cannot read ${lab.rx}'s counters in the lab netns on ${this.where}: ${r.stderr.trim() || 'no such interface'}`);
    return n;
  }

  /** Frames rx received that never came through tcpdump so far (the lab netns's counter, as the netns worker reads it). */
  private async rxGap(lab: Lab): Promise<number> {
    let gap = (await this.rxPackets(lab)) - lab.rx0 - lab.parser.frames;
    if (gap > 0) {
      await new Promise((r) => setTimeout(r, 100));
      gap = (await this.rxPackets(lab)) - lab.rx0 - lab.parser.frames;
    }
    return Math.max(0, gap);
  }

  /** SIGKILL `pids` on the remote if still running (pids this target started). */
  private async killRemote(pids: number[]): Promise<void> {
    const list = pids.filter((p) => Number.isSafeInteger(p) && p > 1);
    if (list.length === 0 || !this.session) return;
    await this.sh(`kill -KILL ${list.join(' ')} 2>/dev/null; true`, { timeoutMs: 10_000 }).catch(() => {});
  }

  runCase(program: Program): Promise<Observation> {
    return this.queue.run(async () => withTargetInputs(await this.runOne(program), this.info!));
  }

  private async runOne(program: Program): Promise<Observation> {
    if (this.closed || !this.info) throw new Error('runCase before start() or after close()');
    let lab = this.lab;
    if (!lab) {
      try {
        lab = await this.startLab();
      } catch (e) {
        return failedObservation(program.id, `a fresh lab on ${this.where} did not come up: ${(e as Error).message}`);
      }
    }
    const seq = ++lab.seq;
    try {
      const r = await lab.probe.runCase(seq, program);
      const frames = 'labError' in r ? ((await lab.sorter.take(seq, 200)) ?? []) : await lab.sorter.take(seq, FENCE_WAIT_MS);
      const late = lab.sorter.leftovers().late;
      lab.sorter.dropLate();
      const obs = buildObservation(program.id, r, frames, { device: `${lab.rx} (tcpdump on ${this.where})`, fenceWaitMs: FENCE_WAIT_MS });
      const extra: string[] = [];
      if (late.size > 0) {
        const n = [...late.values()].reduce((a, b) => a + b.length, 0);
        extra.push(`${n} frames of earlier errored cases ${[...late.keys()].join(',')} arrived late`);
      }
      if (lab.captureFault) extra.push(`capture: ${lab.captureFault}`);
      if (extra.length > 0) obs.harnessError = [obs.harnessError, ...extra].filter(Boolean).join('; ');
      if (lab.captureFault) await this.retire(lab);
      return obs;
    } catch (e) {
      // The probe died or hung: this lab (netns, tcpdump) is done; a fresh one runs the next case.
      await this.retire(lab);
      return failedObservation(program.id, `probe on ${this.where}: ${(e as Error).message}; a fresh lab runs the next case`);
    }
  }

  /**
   * Stop a lab: QUIT the probe, read rx's counter against what came through,
   * SIGINT tcpdump for its drop statistics, then SIGKILL whatever is left.
   */
  private async retire(lab: Lab): Promise<void> {
    if (this.lab === lab) this.lab = null;
    let rxGap: number | null = null;
    if (!lab.probe.exited && !lab.captureFault) {
      // The frames before the last fence are all in: the counter can be compared now.
      rxGap = await this.rxGap(lab).catch((e: unknown) => {
        this.log(`ssh target: could not read rx counters: ${(e as Error).message}`);
        return null;
      });
      this.dropsDone += rxGap ?? 0;
    }
    await Promise.race([lab.probe.close().catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
    if (lab.tcpdumpPid) await this.sh(`kill -INT ${lab.tcpdumpPid} 2>/dev/null; true`, { timeoutMs: 10_000 }).catch(() => {});
    const exited = await Promise.race([lab.tcpdump.exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    if (!exited) this.log(`ssh target: tcpdump on ${this.where} did not stop on SIGINT; killing it`);
    const kernelDrops = tcpdumpKernelDrops(lab.tcpdumpStderr.text);
    this.captureStats.push({ kernelDrops, rxGap });
    if (kernelDrops !== null) this.dropsDone += kernelDrops;
    else if (exited) this.log(`ssh target: tcpdump printed no drop statistics: ${JSON.stringify(lab.tcpdumpStderr.text.slice(-300))}`);
    await this.killRemote([lab.probePid, lab.tcpdumpPid]);
    lab.tcpdump.kill('KILL');
  }

  drops(): number {
    return this.dropsDone;
  }

  /** Idempotent: stops the remote processes (the netns dies with them), removes the probe's dir if this target made it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    if (this.lab) await this.retire(this.lab).catch((e: unknown) => this.log(`ssh target: ${(e as Error).message}`));
    if (this.createdDir && this.remoteDir) {
      await this.sh(`rm -rf ${shellQuote(this.remoteDir)}`, { timeoutMs: 15_000 }).catch(() => {});
    }
    this.session?.close();
    this.session = null;
  }
}
