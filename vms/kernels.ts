/**
 * Kernels by name: `debian:6.1` (the cloud-amd64 kernel of a Debian suite), a
 * full Debian package name (`linux-image-6.1.0-44-cloud-amd64[=version]`) to pin
 * a point release, or a user's own bzImage. Debian packages are fetched with
 * `apt-get download` through a private apt configuration under
 * vms/cache/apt (own sources.list, lists, cache); the system's /etc/apt and
 * /var/lib/apt are never written. Signatures are checked against
 * /usr/share/keyrings/debian-archive-keyring.gpg (it holds the bullseye,
 * bookworm and trixie archive keys from debian-archive-keyring 2023.3+deb12u2 on).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);

export interface Kernel {
  /** `uname -r` of this kernel (from the bzImage header). */
  release: string;
  /** The bzImage to hand to `qemu -kernel`. */
  vmlinuz: string;
  /** `lib/modules/<release>` (with modules.dep), or null for a build with no modules given. */
  modulesDir: string | null;
  /** Where it came from: `debian:bookworm linux-image-6.1.0-50-cloud-amd64=6.1.176-1`, or the path. */
  source: string;
}

/** A kernel the harness cannot get or use: the message names the culprit. */
export class KernelError extends Error {
  override name = 'KernelError';
}

/** `debian:X.Y` → the suite whose `linux-image-cloud-amd64` carries X.Y. */
export const DEBIAN_SUITES: Readonly<Record<string, string>> = {
  '5.10': 'bullseye',
  '6.1': 'bookworm',
  '6.12': 'trixie',
  '6.18': 'trixie-backports',
};

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const MIRROR = 'http://deb.debian.org/debian';
const APT_SUITES = ['bullseye', 'bookworm', 'trixie', 'trixie-backports'];

export interface FetchOptions {
  /** Defaults to $SKBDIFF_VM_CACHE or <repo>/vms/cache. */
  cacheDir?: string;
  /** How old the private apt lists and a spec's resolution may be before `apt-get update` (default 24 h). */
  maxAgeMs?: number;
  /** Force `apt-get update` and re-resolution now. */
  refresh?: boolean;
  log?: (line: string) => void;
}

export function defaultCacheDir(): string {
  const env = process.env['SKBDIFF_VM_CACHE'];
  if (env) return path.resolve(env);
  // dist/vms/kernels.js → <repo>/vms/cache
  return fileURLToPath(new URL('../../vms/cache/', import.meta.url));
}

/**
 * Resolve a kernel spec. `spec` is `debian:X.Y`, a `linux-image-…` package name
 * (optionally `=version`), or `{ bzImage, modules? }` for a user's own build.
 */
export async function resolveKernel(
  spec: string | { bzImage: string; modules?: string },
  opts: FetchOptions = {},
): Promise<Kernel> {
  if (typeof spec !== 'string') return ownKernel(spec.bzImage, spec.modules);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const log = opts.log ?? (() => {});
  const maxAgeMs = opts.maxAgeMs ?? 24 * 3600_000;
  const kernelsDir = path.join(cacheDir, 'kernels');
  fs.mkdirSync(kernelsDir, { recursive: true });

  // A spec resolved recently and already extracted: no apt at all.
  const specsFile = path.join(kernelsDir, 'specs.json');
  if (!opts.refresh) {
    const hit = readJson<Record<string, { release: string; at: number }>>(specsFile)?.[spec];
    if (hit && Date.now() - hit.at < maxAgeMs) {
      const k = readExtracted(kernelsDir, hit.release);
      if (k) return k;
    }
  }

  return withLock(path.join(cacheDir, 'apt.lock'), async () => {
    const apt = new PrivateApt(path.join(cacheDir, 'apt'), log);
    await apt.ensureLists(opts.refresh ? 0 : maxAgeMs);
    const pkg = await resolvePackage(apt, spec);
    const kernel = readExtracted(kernelsDir, pkg.abi) ?? (await fetchAndExtract(apt, kernelsDir, pkg, log));
    const specs = readJson<Record<string, { release: string; at: number }>>(specsFile) ?? {};
    specs[spec] = { release: kernel.release, at: Date.now() };
    writeFileAtomic(specsFile, JSON.stringify(specs, null, 2) + '\n');
    return kernel;
  });
}

/** A concrete kernel image package and the version to fetch. */
interface KernelPackage {
  name: string;
  version: string;
  /** The ABI part of the name (`6.1.0-50-cloud-amd64`): also the release and the cache dir name. */
  abi: string;
  suite: string;
}

async function resolvePackage(apt: PrivateApt, spec: string): Promise<KernelPackage> {
  const m = /^debian:(\d+\.\d+)$/.exec(spec);
  if (m) {
    const series = m[1]!;
    const suite = DEBIAN_SUITES[series];
    if (!suite) {
      throw new KernelError(`kernel spec ${spec}: unknown series; known: ${Object.keys(DEBIAN_SUITES).map((s) => 'debian:' + s).join(', ')}, or a linux-image-… package name`);
    }
    // The suite's meta-package names the concrete versioned image package …
    const meta = parseStanzas(await apt.cache(['show', `linux-image-cloud-amd64/${suite}`]))[0];
    const dep = /\blinux-image-(\S+-cloud-amd64) \(= ([^)]+)\)/.exec(meta?.['Depends'] ?? '');
    if (dep && abiSeries(dep[1]!) === series) {
      return { name: `linux-image-${dep[1]}`, version: dep[2]!, abi: dep[1]!, suite };
    }
    // … unless the suite moved on (backports follow upstream): newest X.Y image in that suite.
    const names = (await apt.cache(['pkgnames', `linux-image-${series}`])).split('\n')
      .filter((n) => /^linux-image-\S+-cloud-amd64$/.test(n) && abiSeries(n.slice('linux-image-'.length)) === series);
    const candidates: KernelPackage[] = [];
    for (const line of (names.length ? await apt.cache(['madison', ...names]) : '').split('\n')) {
      const f = line.split('|').map((s) => s.trim());
      if (f.length >= 3 && f[2]!.includes(` ${suite}/`)) {
        candidates.push({ name: f[0]!, version: f[1]!, abi: f[0]!.slice('linux-image-'.length), suite });
      }
    }
    candidates.sort((a, b) => compareDebVersions(a.version, b.version));
    const best = candidates.at(-1);
    if (!best) throw new KernelError(`kernel spec ${spec}: no linux-image-${series}*-cloud-amd64 in ${suite}/main`);
    return best;
  }
  const p = /^(linux-image-(\S+?))(?:=(\S+))?$/.exec(spec);
  if (!p) throw new KernelError(`kernel spec ${JSON.stringify(spec)}: expected debian:X.Y, linux-image-…[=version], or --kernel PATH`);
  const name = p[1]!;
  const stanzas = parseStanzas(await apt.cache(['show', p[3] ? `${name}=${p[3]}` : name]).catch((e: Error) => {
    throw new KernelError(`kernel spec ${spec}: not in the private apt lists (${APT_SUITES.join(', ')}): ${e.message}`);
  }));
  // apt-cache show lists every version; without `=version` take the highest.
  stanzas.sort((a, b) => compareDebVersions(a['Version'] ?? '', b['Version'] ?? ''));
  const st = stanzas.at(-1);
  if (!st?.['Version']) throw new KernelError(`kernel spec ${spec}: apt-cache show gave no version`);
  return { name, version: st['Version'], abi: p[2]!, suite: '(pinned)' };
}

/** `6.1.0-50-cloud-amd64` → `6.1`; `6.18.15+deb13-cloud-amd64` → `6.18`. */
function abiSeries(abi: string): string {
  return /^(\d+\.\d+)/.exec(abi)?.[1] ?? '';
}

async function fetchAndExtract(apt: PrivateApt, kernelsDir: string, pkg: KernelPackage, log: (s: string) => void): Promise<Kernel> {
  // Kernels from 7.x on split the image into linux-binary-*, linux-modules-* and linux-base-* (modules.builtin): fetch those too.
  const st = parseStanzas(await apt.cache(['show', `${pkg.name}=${pkg.version}`]))[0] ?? {};
  const parts = [`${pkg.name}=${pkg.version}`];
  const gone: string[] = [];
  for (const d of (st['Depends'] ?? '').split(',')) {
    const dm = /^\s*(linux-(?:binary|modules|base)-\d\S*) \(= ([^)]+)\)/.exec(d);
    if (!dm) continue;
    // The archive can drop a part while still listing the image (seen: linux-base-6.18.15+deb13-cloud-amd64,
    // whose image ships vmlinuz and modules itself). Fetch what is there; locateKernel says what is missing.
    const listed = (await apt.cache(['madison', dm[1]!])).split('\n').some((l) => l.split('|')[1]?.trim() === dm[2]);
    if (listed) parts.push(`${dm[1]}=${dm[2]}`);
    else gone.push(`${dm[1]}=${dm[2]}`);
  }
  if (gone.length) log(`${pkg.name}=${pkg.version} depends on ${gone.join(' ')}, no longer in the archive: using the rest`);
  const debDir = path.join(apt.root, 'debs');
  fs.mkdirSync(debDir, { recursive: true });
  const t0 = Date.now();
  await apt.get(['download', ...parts], debDir);
  const debs = parts.map((p) => {
    const [n, v] = p.split('=') as [string, string];
    const f = fs.readdirSync(debDir).find((x) => x.startsWith(`${n}_`) && x.endsWith('_amd64.deb') && decodeURIComponent(x).includes(`_${v}_`));
    if (!f) throw new KernelError(`apt-get download ${p}: no .deb in ${debDir}`);
    return path.join(debDir, f);
  });
  const bytes = debs.reduce((s, f) => s + fs.statSync(f).size, 0);
  log(`fetched ${parts.join(' ')}: ${(bytes / 1e6).toFixed(1)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const tmp = fs.mkdtempSync(path.join(kernelsDir, `.${pkg.abi}.`));
  try {
    for (const deb of debs) await run('dpkg-deb', ['-x', deb, tmp]);
    // Debian ships no modules.dep (postinst runs depmod): make it, for the initramfs's dependency walk.
    for (const base of [tmp, path.join(tmp, 'usr')]) {
      if (fs.existsSync(path.join(base, 'lib', 'modules', pkg.abi, 'kernel'))) await run('depmod', ['-b', base, pkg.abi]);
    }
    const source = `debian:${pkg.suite} ${parts.join(' ')}`;
    let k: Kernel;
    try {
      k = locateKernel(tmp, pkg.abi, source);
    } catch (e) {
      throw gone.length ? new KernelError(`${(e as Error).message} (not fetched, no longer in the archive: ${gone.join(' ')})`) : e;
    }
    fs.writeFileSync(path.join(tmp, 'kernel.json'), JSON.stringify({ release: k.release, source, debs: debs.map((d) => path.basename(d)), bytes }, null, 2) + '\n');
    const final = path.join(kernelsDir, pkg.abi);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
    for (const deb of debs) fs.rmSync(deb); // the extracted tree is the cache
    return readExtracted(kernelsDir, pkg.abi)!;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function locateKernel(root: string, abi: string, source: string): Kernel {
  // /boot/vmlinuz-<abi> up to 6.x; linux-binary-* (7.x) ships usr/lib/modules/<abi>/vmlinuz.
  const vmlinuz = [path.join(root, 'boot', `vmlinuz-${abi}`), path.join(root, 'usr', 'lib', 'modules', abi, 'vmlinuz')].find((f) => fs.existsSync(f));
  if (!vmlinuz) throw new KernelError(`${source}: neither boot/vmlinuz-${abi} nor usr/lib/modules/${abi}/vmlinuz in the package`);
  const release = readBzImageRelease(vmlinuz);
  if (release !== abi) throw new KernelError(`${source}: bzImage says release ${release}, package says ${abi}`);
  const modulesDir = [path.join(root, 'lib', 'modules', abi), path.join(root, 'usr', 'lib', 'modules', abi)].find((d) => fs.existsSync(path.join(d, 'modules.dep')));
  if (!modulesDir) throw new KernelError(`${source}: no lib/modules/${abi}/modules.dep (depmod) in the package tree`);
  return { release, vmlinuz, modulesDir, source };
}

function readExtracted(kernelsDir: string, abi: string): Kernel | null {
  const dir = path.join(kernelsDir, abi);
  const meta = readJson<{ source: string }>(path.join(dir, 'kernel.json'));
  if (!meta) return null;
  try {
    return locateKernel(dir, abi, meta.source);
  } catch {
    return null;
  }
}

/** A user's own build: release from the bzImage header, modules optional. */
export function ownKernel(bzImage: string, modules?: string): Kernel {
  const vmlinuz = path.resolve(bzImage);
  const release = readBzImageRelease(vmlinuz);
  let modulesDir: string | null = null;
  if (modules) {
    modulesDir = path.resolve(modules);
    // Accept either lib/modules/<release> itself or a dir holding it (an INSTALL_MOD_PATH).
    for (const d of [modulesDir, path.join(modulesDir, 'lib', 'modules', release), path.join(modulesDir, release)]) {
      if (fs.existsSync(path.join(d, 'modules.dep'))) { modulesDir = d; break; }
    }
    if (!fs.existsSync(path.join(modulesDir, 'modules.dep'))) {
      throw new KernelError(`--modules ${modules}: no modules.dep for ${release} there (run depmod, or give lib/modules/${release})`);
    }
  }
  return { release, vmlinuz, modulesDir, source: vmlinuz };
}

/**
 * The release string of an x86 bzImage: boot protocol header "HdrS" at 0x202,
 * `kernel_version` (u16 at 0x20e) points at a NUL-terminated string at +0x200
 * (Documentation/arch/x86/boot.rst).
 */
export function readBzImageRelease(file: string): string {
  let buf: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      buf = Buffer.alloc(0x8000);
      fs.readSync(fd, buf, 0, buf.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new KernelError(`kernel ${file}: ${(e as Error).message}`);
  }
  if (buf.toString('latin1', 0x202, 0x206) !== 'HdrS') {
    throw new KernelError(`kernel ${file}: not an x86 bzImage (no "HdrS" at 0x202; bytes there: ${buf.subarray(0x200, 0x208).toString('hex')})`);
  }
  const off = buf.readUInt16LE(0x20e) + 0x200;
  const end = buf.indexOf(0, off);
  const s = buf.toString('latin1', off, end > off ? end : off + 64);
  const release = s.split(' ')[0] ?? '';
  if (!/^\d+\.\d+/.test(release)) throw new KernelError(`kernel ${file}: unreadable version string ${JSON.stringify(s)}`);
  return release;
}

/** apt-get/apt-cache with every path pointing into `root`; the system's apt dirs are read by no one and written by no one. */
export class PrivateApt {
  constructor(readonly root: string, private log: (s: string) => void = () => {}) {
    for (const d of ['etc/sources.list.d', 'etc/preferences.d', 'etc/apt.conf.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial']) {
      fs.mkdirSync(path.join(root, d), { recursive: true });
    }
    const sources = APT_SUITES.map((s) => `deb [arch=amd64 signed-by=${DEBIAN_KEYRING}] ${MIRROR} ${s} main`).join('\n') + '\n';
    const sl = path.join(root, 'etc/sources.list');
    if (!fs.existsSync(sl) || fs.readFileSync(sl, 'utf8') !== sources) fs.writeFileSync(sl, sources);
    const status = path.join(root, 'state/status');
    if (!fs.existsSync(status)) fs.writeFileSync(status, '');
  }

  private options(): string[] {
    const r = this.root;
    const o: Record<string, string> = {
      'Dir::Etc::SourceList': `${r}/etc/sources.list`,
      'Dir::Etc::SourceParts': `${r}/etc/sources.list.d`,
      'Dir::Etc::Preferences': `${r}/etc/preferences`,
      'Dir::Etc::PreferencesParts': `${r}/etc/preferences.d`,
      'Dir::Etc::Trusted': `${r}/etc/trusted.gpg`,
      'Dir::Etc::TrustedParts': `${r}/etc/trusted.gpg.d`,
      'Dir::State': `${r}/state`,
      'Dir::State::Lists': `${r}/state/lists`,
      'Dir::State::status': `${r}/state/status`,
      'Dir::Cache': `${r}/cache`,
      'Dir::Cache::archives': `${r}/cache/archives`,
      'Dir::Log': `${r}/log`,
      'APT::Get::List-Cleanup': '0',
      'APT::Architecture': 'amd64',
      'APT::Architectures': 'amd64',
      'Acquire::Languages': 'none',
      'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled': 'false',
      // Our own dirs: apt's locks there are ours too, but skip the dpkg lock (we install nothing).
      'Debug::NoLocking': '1',
    };
    return Object.entries(o).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  }

  async cache(args: string[]): Promise<string> {
    return (await run('apt-cache', [...this.options(), ...args], undefined, APT_ENV)).stdout;
  }

  async get(args: string[], cwd?: string): Promise<string> {
    return (await run('apt-get', [...this.options(), '-q', ...args], cwd, APT_ENV)).stdout;
  }

  /** `apt-get update` unless every suite's list is younger than `maxAgeMs`. */
  async ensureLists(maxAgeMs: number): Promise<void> {
    const stamp = path.join(this.root, 'state', 'updated');
    const fresh = fs.existsSync(stamp) && Date.now() - fs.statSync(stamp).mtimeMs < maxAgeMs;
    if (fresh) return;
    const t0 = Date.now();
    try {
      await this.get(['update']);
    } catch (e) {
      const msg = (e as Error).message;
      if (/NO_PUBKEY|not signed|EXPKEYSIG|KEYEXPIRED|Signed-By|OpenPGP signature/i.test(msg)) {
        throw new KernelError(`apt-get update of ${MIRROR} (${APT_SUITES.join(', ')}) failed signature checks against ${DEBIAN_KEYRING}; `
          + `that keyring may be too old for a suite (trixie needs debian-archive-keyring >= 2023.3+deb12u1, which has debian-archive-trixie-*.gpg): ${msg}`);
      }
      throw new KernelError(`apt-get update (private config under ${this.root}) failed: ${msg}`);
    }
    // apt-get update exits 0 when a suite's Release could not be fetched; a missing list is an error here.
    const lists = fs.readdirSync(path.join(this.root, 'state', 'lists'));
    const missing = APT_SUITES.filter((s) => !lists.some((f) => f.includes(`_dists_${s}_main_binary-amd64_Packages`)));
    if (missing.length) throw new KernelError(`apt-get update: no Packages list for ${missing.join(', ')} from ${MIRROR}`);
    fs.writeFileSync(stamp, new Date().toISOString() + '\n');
    this.log(`apt-get update (private): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

const APT_ENV = { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };

async function run(cmd: string, args: string[], cwd?: string, env?: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(cmd, args, { cwd, env, maxBuffer: 256 << 20, encoding: 'utf8' });
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string; code?: number | string };
    const tail = `${err.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n');
    throw new KernelError(`${cmd} ${args.filter((a, i) => a !== '-o' && args[i - 1] !== '-o').join(' ')} exited ${err.code}: ${tail || err.message}`);
  }
}

/** RFC822-style stanzas of apt-cache show. */
function parseStanzas(text: string): Record<string, string>[] {
  return text.split(/\n\s*\n/).filter((s) => s.trim()).map((s) => {
    const rec: Record<string, string> = {};
    let key = '';
    for (const line of s.split('\n')) {
      if (/^\s/.test(line) && key) rec[key] += '\n' + line;
      else {
        const i = line.indexOf(':');
        if (i > 0) { key = line.slice(0, i); rec[key] = line.slice(i + 1).trim(); }
      }
    }
    return rec;
  });
}

/** Debian version order (deb-version(7)): epoch, then upstream and revision by the `~`/digits/letters rule. */
export function compareDebVersions(a: string, b: string): number {
  const split = (v: string): [number, string, string] => {
    const ci = v.indexOf(':');
    const epoch = ci >= 0 ? Number(v.slice(0, ci)) : 0;
    const rest = ci >= 0 ? v.slice(ci + 1) : v;
    const di = rest.lastIndexOf('-');
    return [epoch, di >= 0 ? rest.slice(0, di) : rest, di >= 0 ? rest.slice(di + 1) : ''];
  };
  const order = (c: string): number => (c === '~' ? -1 : c === '' ? 0 : /[A-Za-z]/.test(c) ? c.charCodeAt(0) : c.charCodeAt(0) + 256);
  const part = (x: string, y: string): number => {
    let i = 0, j = 0;
    while (i < x.length || j < y.length) {
      while ((i < x.length && !/\d/.test(x[i]!)) || (j < y.length && !/\d/.test(y[j]!))) {
        const cx = i < x.length && !/\d/.test(x[i]!) ? x[i]! : '';
        const cy = j < y.length && !/\d/.test(y[j]!) ? y[j]! : '';
        const d = order(cx) - order(cy);
        if (d) return d;
        if (cx) i++;
        if (cy) j++;
      }
      let nx = '', ny = '';
      while (i < x.length && /\d/.test(x[i]!)) nx += x[i++];
      while (j < y.length && /\d/.test(y[j]!)) ny += y[j++];
      const d = Number(nx || 0) - Number(ny || 0);
      if (d) return d;
    }
    return 0;
  };
  const [ea, ua, ra] = split(a);
  const [eb, ub, rb] = split(b);
  return ea - eb || part(ua, ub) || part(ra, rb);
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * A directory lock (mkdir is atomic) so parallel test workers don't run apt at
 * once. The holder is named by boot id, pid and the pid's start time, so a
 * lock left by a process that died, or by a machine this one was restored
 * from (a CI snapshot, where the pid may now be someone else's), is taken
 * over at once instead of being waited on.
 */
export async function withLock<T>(lockDir: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      writeFileAtomic(path.join(lockDir, 'holder'), holderId(process.pid) ?? String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readText(path.join(lockDir, 'holder')).trim();
      if (lockAbandoned(lockDir, holder)) { fs.rmSync(lockDir, { recursive: true, force: true }); continue; }
      if (Date.now() - t0 > timeoutMs) throw new KernelError(`lock ${lockDir} held by ${holder || 'an unnamed holder'} for more than ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

/** "<boot id> <pid> <start time in clock ticks>" of a live process, or null. */
export function holderId(pid: number): string | null {
  const boot = readText('/proc/sys/kernel/random/boot_id').trim();
  // /proc/PID/stat: the start time is field 22, counted after the ")" that ends comm.
  const stat = readText(`/proc/${pid}/stat`);
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return boot && start ? `${boot} ${pid} ${start}` : null;
}

/** The holder named in the lock is gone (or the lock was left half-made long enough ago). */
function lockAbandoned(lockDir: string, holder: string): boolean {
  if (holder === '') {
    // mkdir done, holder not yet written: a live locker writes it within ms.
    try { return Date.now() - fs.statSync(lockDir).mtimeMs > 10_000; } catch { return false; }
  }
  const fields = holder.split(' ');
  const pid = Number(fields.length === 3 ? fields[1] : holder);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (fields.length === 3) return holderId(pid) !== holder;
  // A bare pid (no /proc to name the holder better): gone when the pid is.
  try { process.kill(pid, 0); return false; } catch (e) { return (e as NodeJS.ErrnoException).code !== 'EPERM'; }
}

function readText(f: string): string {
  try { return fs.readFileSync(f, 'utf8'); } catch { return ''; }
}

