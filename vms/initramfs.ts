/**
 * The guest's whole userland, built per run as a gzip'ed newc cpio: static
 * busybox, Debian's dropbear with the shared libraries `ldd` names, a host key
 * and a client key made for this run, the kernel modules the guest needs
 * (with their modules.dep closure) and an /init that brings up the management
 * NIC, starts dropbear and prints a READY marker unique to the run on ttyS0.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { writeCpio, type CpioEntry } from './cpio.js';
import type { Kernel } from './kernels.js';
import { generateEd25519 } from '../harness/ssh.js';

const execFileP = promisify(execFile);

/** What the guest needs of its kernel: a PCI virtio NIC for management and one for the test link. */
export const GUEST_MODULES = ['virtio_pci', 'virtio_net'];

/** Fixed by the harness, read by /init: NICs are told apart by MAC, not by probe order. */
export const MGMT_MAC = '52:54:00:5b:00:01';
export const TX_MAC = '52:54:00:5b:00:02';
/** The management link is QEMU's user-mode (slirp) network, numbered from 198.18.0.0/15 like everything else. */
export const MGMT_NET = '198.18.250.0/24';
export const MGMT_HOST = '198.18.250.2';
export const MGMT_GUEST = '198.18.250.15';

export interface InitramfsOptions {
  kernel: Kernel;
  /** Where the image and this run's keys are written. */
  workDir: string;
  /** Static probe to put at /bin/skbdiff-probe; default kernel-probes/build/skbdiff-probe when it exists; null for none. */
  probe?: string | null;
  /** Module names (as in modules.dep, `-` or `_`); default GUEST_MODULES. Built-in ones are skipped. */
  modules?: string[];
  /** Replace /init (tests of the failure paths). */
  initScript?: (defaultInit: string) => string;
  /** `gzip` (default) or `none` (the kernel takes a plain cpio too; no faster to boot under TCG, measured). */
  compress?: 'gzip' | 'none';
  /**
   * Opt-in: host binaries put at /bin/<basename> (replacing a busybox applet of that name), with the
   * shared libraries `ldd` names, as dropbear's are (e.g. `/usr/bin/tcpdump` for the ssh target's test).
   */
  extraBinaries?: string[];
}

export interface Initramfs {
  path: string;
  bytes: number;
  /** Printed on the console once dropbear listens. */
  readyMarker: string;
  /** `ssh-ed25519 AAAA…` of the guest's host key (pin it). */
  hostPublicKey: string;
  /** OpenSSH private key whose public half is root's authorized_keys. */
  clientPrivateKey: string;
  /** Modules loaded by /init, in load order. */
  modules: string[];
  /** Path of the probe inside the guest, or null when none was packed. */
  probe: string | null;
}

export class InitramfsError extends Error {
  override name = 'InitramfsError';
}

const BUSYBOX = '/bin/busybox';
const DROPBEAR = '/usr/sbin/dropbear';
const DROPBEARKEY = '/usr/bin/dropbearkey';

export function defaultProbePath(): string {
  return fileURLToPath(new URL('../../kernel-probes/build/skbdiff-probe', import.meta.url));
}

export async function buildInitramfs(opts: InitramfsOptions): Promise<Initramfs> {
  for (const [f, pkg] of [[BUSYBOX, 'busybox-static'], [DROPBEAR, 'dropbear-bin'], [DROPBEARKEY, 'dropbear-bin']] as const) {
    if (!fs.existsSync(f)) throw new InitramfsError(`${f} missing: apt-get install ${pkg}`);
  }
  fs.mkdirSync(opts.workDir, { recursive: true });
  const entries = new Entries();
  for (const d of ['bin', 'dev', 'etc', 'lib', 'lib/modules', 'proc', 'sys', 'run', 'tmp', 'var', 'root', 'usr']) entries.dir('/' + d);
  entries.dir('/root', 0o700);
  entries.add({ kind: 'chardev', path: '/dev/console', major: 5, minor: 1 });
  entries.add({ kind: 'chardev', path: '/dev/null', major: 1, minor: 3, mode: 0o666 });
  entries.add({ kind: 'symlink', path: '/usr/bin', target: '../bin' });
  entries.add({ kind: 'symlink', path: '/sbin', target: 'bin' });
  entries.add({ kind: 'symlink', path: '/usr/sbin', target: '../bin' });
  entries.add({ kind: 'symlink', path: '/var/run', target: '../run' });

  // busybox and its applets
  entries.file('/bin/busybox', fs.readFileSync(BUSYBOX), 0o755);
  const extra = opts.extraBinaries ?? [];
  for (const b of extra) if (!fs.existsSync(b)) throw new InitramfsError(`extra binary ${b} missing`);
  const extraNames = new Set(extra.map((b) => path.basename(b)));
  const applets = (await execFileP(BUSYBOX, ['--list'])).stdout.split('\n')
    .filter((a) => a && a !== 'busybox' && /^[\w.[-]+$/.test(a) && !extraNames.has(a));
  for (const a of applets) entries.add({ kind: 'symlink', path: `/bin/${a}`, target: 'busybox' });

  // dropbear and the libraries ldd names (at the paths ldd gives, so the loader finds them with no ld.so.cache)
  entries.file('/bin/dropbear', fs.readFileSync(DROPBEAR), 0o755);
  const dropbearLibs = await sharedLibraries(DROPBEAR);
  for (const lib of dropbearLibs) {
    entries.mkdirs(path.dirname(lib));
    entries.file(lib, fs.readFileSync(fs.realpathSync(lib)), 0o755);
  }

  // opt-in extra binaries, each with its libraries (a static one has none)
  const libsDone = new Set(dropbearLibs);
  for (const b of extra) {
    entries.file(`/bin/${path.basename(b)}`, fs.readFileSync(b), 0o755);
    for (const lib of await sharedLibraries(b, true)) {
      if (libsDone.has(lib)) continue;
      libsDone.add(lib);
      entries.mkdirs(path.dirname(lib));
      entries.file(lib, fs.readFileSync(fs.realpathSync(lib)), 0o755);
    }
  }

  // this run's keys
  const hostKeyFile = path.join(opts.workDir, 'host_ed25519');
  fs.rmSync(hostKeyFile, { force: true });
  await execFileP(DROPBEARKEY, ['-t', 'ed25519', '-f', hostKeyFile]);
  const pub = (await execFileP(DROPBEARKEY, ['-y', '-f', hostKeyFile])).stdout;
  const hostPublicKey = /^(ssh-ed25519 \S+)/m.exec(pub)?.[1];
  if (!hostPublicKey) throw new InitramfsError(`dropbearkey -y gave no ssh-ed25519 key: ${pub}`);
  const client = generateEd25519('skbdiff-run');
  fs.writeFileSync(path.join(opts.workDir, 'client_ed25519'), client.privateKey, { mode: 0o600 });
  entries.dir('/etc/dropbear', 0o700);
  entries.file('/etc/dropbear/host_ed25519', fs.readFileSync(hostKeyFile), 0o600);
  entries.dir('/root/.ssh', 0o700);
  entries.file('/root/.ssh/authorized_keys', Buffer.from(client.publicKey + '\n'), 0o600);
  entries.file('/etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'));
  entries.file('/etc/group', Buffer.from('root:x:0:\n'));
  entries.file('/etc/shells', Buffer.from('/bin/sh\n'));
  entries.file('/etc/nsswitch.conf', Buffer.from('passwd: files\ngroup: files\n'));
  entries.file('/etc/inittab', Buffer.from('::shutdown:/bin/true\n'));

  // modules and their dependencies, load order
  const modules = opts.kernel.modulesDir ? await moduleClosure(opts.kernel.modulesDir, opts.modules ?? GUEST_MODULES) : [];
  for (const m of modules) entries.file(`/lib/modules/${m.name}.ko`, await readModule(m.file));

  // the probe
  const probeSrc = opts.probe === undefined ? (fs.existsSync(defaultProbePath()) ? defaultProbePath() : null) : opts.probe;
  if (probeSrc) entries.file('/bin/skbdiff-probe', fs.readFileSync(probeSrc), 0o755);

  const readyMarker = `SKBDIFF-READY-${crypto.randomBytes(8).toString('hex')}`;
  const init = defaultInit(readyMarker, modules.map((m) => m.name));
  entries.file('/init', Buffer.from(opts.initScript ? opts.initScript(init) : init), 0o755);

  // gzip level 1: the guest unpacks it no slower than level 6 and the host saves ~0.2 s per run.
  const cpio = writeCpio(entries.list);
  const image = opts.compress === 'none' ? cpio : zlib.gzipSync(cpio, { level: 1 });
  const file = path.join(opts.workDir, opts.compress === 'none' ? 'initramfs.cpio' : 'initramfs.cpio.gz');
  fs.writeFileSync(file, image);
  return {
    path: file,
    bytes: image.length,
    readyMarker,
    hostPublicKey,
    clientPrivateKey: client.privateKey,
    modules: modules.map((m) => m.name),
    probe: probeSrc ? '/bin/skbdiff-probe' : null,
  };
}

/** /init: pid 1 of the guest. Any failure prints SKBDIFF-INIT-FAILED and exits, so the kernel panics and QEMU (-no-reboot) stops. */
function defaultInit(readyMarker: string, modules: string[]): string {
  return `#!/bin/sh
export PATH=/bin HOME=/root
fail() { echo "SKBDIFF-INIT-FAILED: $*" >/dev/console; exit 1; }
mount -t proc proc /proc && mount -t sysfs sys /sys && mount -t devtmpfs dev /dev || fail mount
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts || fail devpts
# No IPv6 autoconf chatter on either NIC: the test link carries only what a case sends.
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null
# One FIFO on tx (set before the NICs exist): Debian's default fq_codel schedules flows round robin,
# so the fence (another flow) could overtake a case's queued fragments and break attribution.
echo pfifo >/proc/sys/net/core/default_qdisc || fail "default_qdisc pfifo"
for m in ${modules.join(' ')}; do insmod /lib/modules/$m.ko || fail "insmod $m"; done
for d in /sys/class/net/*; do
  case "$(cat $d/address)" in
    ${MGMT_MAC}) ip link set dev \${d##*/} name mgmt ;;
    ${TX_MAC}) ip link set dev \${d##*/} name tx ;;
  esac
done
# No byte queue limit on tx (virtio-net has BQL from 6.10): under TCG completions are slow, BQL keeps the
# rest of a long fragment train in the qdisc, and the probe's move of tx out of the case netns resets it.
for q in /sys/class/net/tx/queues/tx-*/byte_queue_limits/limit_min; do [ -e "$q" ] && echo 100000000 >"$q"; done
ip link set lo up || fail lo
ip link set mgmt up && ip addr add ${MGMT_GUEST}/24 dev mgmt || fail "management NIC (${MGMT_MAC}) missing"
dropbear -r /etc/dropbear/host_ed25519 -s -E -p 22 -P /run/dropbear.pid 2>/dev/console || fail dropbear
echo ${readyMarker} >/dev/console
exec /bin/init
`;
}

async function sharedLibraries(binary: string, staticOk = false): Promise<string[]> {
  let out: string;
  try {
    out = (await execFileP('ldd', [binary])).stdout;
  } catch (e) {
    // ldd exits 1 with "not a dynamic executable" for a static binary
    if (staticOk && /not a dynamic executable/.test(String((e as { stdout?: string; stderr?: string }).stdout) + String((e as { stderr?: string }).stderr))) return [];
    throw e;
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
    else if (/not found/.test(line)) throw new InitramfsError(`ldd ${binary}: ${line.trim()}`);
  }
  if (!libs.some((l) => /ld-linux/.test(l))) throw new InitramfsError(`ldd ${binary}: no loader in ${JSON.stringify(out)}`);
  return libs;
}

interface ModuleFile { name: string; file: string }

/** Each wanted module after everything modules.dep says it needs; built-ins and repeats dropped. */
export async function moduleClosure(modulesDir: string, wanted: string[]): Promise<ModuleFile[]> {
  const norm = (s: string): string => s.replace(/-/g, '_');
  const nameOf = (rel: string): string => norm(path.basename(rel).replace(/\.ko(\.xz|\.zst|\.gz)?$/, ''));
  const deps = new Map<string, { rel: string; deps: string[] }>();
  for (const line of fs.readFileSync(path.join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const rel = line.slice(0, i);
    deps.set(nameOf(rel), { rel, deps: line.slice(i + 1).trim().split(/\s+/).filter(Boolean).map(nameOf) });
  }
  const builtin = new Set(
    (fs.existsSync(path.join(modulesDir, 'modules.builtin')) ? fs.readFileSync(path.join(modulesDir, 'modules.builtin'), 'utf8') : '')
      .split('\n').filter(Boolean).map(nameOf),
  );
  const order: ModuleFile[] = [];
  const done = new Set<string>();
  const visit = (name: string, chain: string[]): void => {
    if (done.has(name) || builtin.has(name)) return;
    const d = deps.get(name);
    if (!d) throw new InitramfsError(`module ${name}${chain.length ? ` (needed by ${chain.join(' ← ')})` : ''}: neither in modules.dep nor built in (${modulesDir})`);
    done.add(name);
    for (const dep of d.deps) visit(dep, [name, ...chain]);
    order.push({ name, file: path.join(modulesDir, d.rel) });
  };
  for (const w of wanted) visit(norm(w), []);
  return order;
}

async function readModule(file: string): Promise<Buffer> {
  const tool = file.endsWith('.xz') ? 'xz' : file.endsWith('.zst') ? 'zstd' : file.endsWith('.gz') ? 'gzip' : null;
  if (!tool) return fs.readFileSync(file);
  const r = await execFileP(tool, ['-dc', file], { encoding: 'buffer', maxBuffer: 256 << 20 });
  return r.stdout;
}

/** Entries in order, with parent directories made on demand. */
class Entries {
  readonly list: CpioEntry[] = [];
  private paths = new Set<string>();
  add(e: CpioEntry): void {
    this.list.push(e);
    this.paths.add(e.path);
  }
  dir(p: string, mode = 0o755): void {
    if (this.paths.has(p)) {
      const e = this.list.find((x) => x.path === p);
      if (e && e.kind === 'dir') e.mode = mode;
      return;
    }
    this.add({ kind: 'dir', path: p, mode });
  }
  mkdirs(p: string): void {
    if (p === '/' || this.paths.has(p)) return;
    this.mkdirs(path.dirname(p));
    this.dir(p);
  }
  file(p: string, data: Uint8Array, mode = 0o644): void {
    this.mkdirs(path.dirname(p));
    this.add({ kind: 'file', path: p, data, mode });
  }
}
