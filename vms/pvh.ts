/**
 * PVH boot: QEMU loads an ELF vmlinux that carries the PVH entry note
 * (XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH=y) and enters the kernel directly,
 * skipping the bzImage's real-mode setup and its in-guest decompressor.
 * Under TCG that decompressor is what a boot waits for: about 0.5 s for
 * Debian's zstd-compressed 6.12 and 6.18 kernels. The kernel itself is the
 * same code; only the entry path differs (arch/x86/platform/pvh/head.S).
 *
 * The vmlinux is the bzImage's own payload (Documentation/arch/x86/boot.rst:
 * `payload_offset`/`payload_length`, protocol 2.08+), decompressed on the
 * host once and cached by the bzImage's hash. Anything unexpected (an old or
 * foreign image, an unknown compressor, no PVH note) leaves the bzImage as it
 * is, with the reason.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface BootImage {
  /** What QEMU's -kernel gets. */
  path: string;
  entry: 'pvh' | 'bzimage';
  /** How the image was chosen: the compressor for PVH, the reason otherwise. */
  why: string;
}

/** arch/x86/boot/compressed/Makefile's compressors, by the magic their output starts with. */
const COMPRESSORS: { name: string; magic: number[]; cmd?: string[] }[] = [
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], cmd: ['zstd', '-dcq'] },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], cmd: ['lz4', '-dcq'] },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], cmd: ['xz', '-dcq'] },
  { name: 'gzip', magic: [0x1f, 0x8b] },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], cmd: ['bzip2', '-dcq'] },
  { name: 'lzma', magic: [0x5d, 0x00, 0x00], cmd: ['xz', '--format=lzma', '-dcq'] },
];

/** The image to boot `bzImage` from: a cached PVH vmlinux when one can be had, else the bzImage. */
export function bootImage(bzImage: string, cacheDir: string): BootImage {
  const keep = (why: string): BootImage => ({ path: bzImage, entry: 'bzimage', why });
  let buf: Buffer;
  try {
    buf = fs.readFileSync(bzImage);
  } catch (e) {
    return keep((e as Error).message);
  }
  const cached = path.join(cacheDir, 'pvh', `${createHash('sha256').update(buf).digest('hex').slice(0, 24)}.vmlinux`);
  const payload = bzImagePayload(buf);
  if (typeof payload === 'string') return keep(payload);
  const how = COMPRESSORS.find((c) => c.magic.every((b, i) => payload.data[i] === b));
  if (!how) return keep(`payload compressed with an unknown method (starts ${payload.data.subarray(0, 4).toString('hex')})`);
  if (fs.existsSync(cached)) {
    touch(cached);
    return { path: cached, entry: 'pvh', why: `vmlinux from the bzImage (${how.name}), cached` };
  }

  let vmlinux: Buffer;
  if (how.cmd) {
    const r = spawnSync(how.cmd[0]!, how.cmd.slice(1), { input: payload.data, maxBuffer: 1 << 30 });
    if (r.error || r.status !== 0) return keep(`${how.cmd.join(' ')} failed: ${r.error?.message ?? r.stderr.toString().trim()}`);
    vmlinux = r.stdout;
  } else {
    try {
      vmlinux = gunzipSync(payload.data);
    } catch (e) {
      return keep(`gunzip failed: ${(e as Error).message}`);
    }
  }
  if (vmlinux.length !== payload.size) return keep(`decompressed ${vmlinux.length} bytes, the bzImage says ${payload.size}`);
  const note = hasPvhNote(vmlinux);
  if (note !== true) return keep(note);
  try {
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, vmlinux);
    fs.renameSync(tmp, cached);
    prune(path.dirname(cached));
  } catch (e) {
    return keep(`cannot cache the vmlinux: ${(e as Error).message}`);
  }
  return { path: cached, entry: 'pvh', why: `vmlinux from the bzImage (${how.name})` };
}

/** How many unpacked kernels the cache keeps (about 60 MB each), the most recently booted. */
export const PVH_CACHE_KEEP = 8;

function touch(file: string): void {
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    // a read-only cache still serves
  }
}

/** Drops all but the PVH_CACHE_KEEP most recently used vmlinux files (a user's builds come and go). */
function prune(dir: string): void {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.vmlinux'))
    .map((f) => ({ f: path.join(dir, f), t: fs.statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(PVH_CACHE_KEEP)) fs.rmSync(f, { force: true });
}

/**
 * The compressed kernel inside a bzImage and its uncompressed size: the
 * payload starts `payload_offset` (u32 at 0x248) into the protected-mode part,
 * which follows (setup_sects + 1) sectors; its last 4 bytes are the size
 * (the Makefile's `_with_size`).
 */
export function bzImagePayload(buf: Buffer): { data: Buffer; size: number } | string {
  if (buf.length < 0x250 || buf.toString('latin1', 0x202, 0x206) !== 'HdrS') return 'not a bzImage (no "HdrS")';
  const version = buf.readUInt16LE(0x206);
  if (version < 0x208) return `boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, '0')} has no payload fields`;
  const pm = ((buf[0x1f1] || 4) + 1) * 512;
  const off = pm + buf.readUInt32LE(0x248);
  const len = buf.readUInt32LE(0x24c);
  if (len < 8 || off + len > buf.length) return `payload ${off}+${len} outside the file (${buf.length} bytes)`;
  return { data: buf.subarray(off, off + len - 4), size: buf.readUInt32LE(off + len - 4) };
}

/** true when the ELF has a "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY (18) in a PT_NOTE segment; else why not. */
export function hasPvhNote(elf: Buffer): true | string {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return 'the payload is not a 64-bit little-endian ELF';
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    let p = Number(elf.readBigUInt64LE(ph + 8));
    const end = p + Number(elf.readBigUInt64LE(ph + 32));
    while (p + 12 <= end && end <= elf.length) {
      const namesz = elf.readUInt32LE(p);
      const descsz = elf.readUInt32LE(p + 4);
      const type = elf.readUInt32LE(p + 8);
      const name = elf.toString('latin1', p + 12, p + 12 + namesz).replace(/\0+$/, '');
      if (name === 'Xen' && type === 18) return true;
      p += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return 'no PVH entry note in the vmlinux (CONFIG_PVH off)';
}
