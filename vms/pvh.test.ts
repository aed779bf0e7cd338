import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { bootImage, bzImagePayload, hasPvhNote, PVH_CACHE_KEEP } from './pvh.js';
import { resolveKernel } from './kernels.js';

function tmpDir(t: import('ava').ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skbdiff-pvh-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A minimal ELF64 LE with one PT_NOTE segment holding one note. */
function elfWithNote(name: string, type: number): Buffer {
  const nameBuf = Buffer.from(name + '\0');
  const namePad = (nameBuf.length + 3) & ~3;
  const note = Buffer.alloc(12 + namePad + 8);
  note.writeUInt32LE(nameBuf.length, 0);
  note.writeUInt32LE(8, 4);
  note.writeUInt32LE(type, 8);
  nameBuf.copy(note, 12);
  const elf = Buffer.alloc(64 + 56 + note.length);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // ELFCLASS64
  elf[5] = 1; // little endian
  elf.writeBigUInt64LE(64n, 0x20); // e_phoff
  elf.writeUInt16LE(56, 0x36); // e_phentsize
  elf.writeUInt16LE(1, 0x38); // e_phnum
  elf.writeUInt32LE(4, 64); // PT_NOTE
  elf.writeBigUInt64LE(120n, 64 + 8); // p_offset
  elf.writeBigUInt64LE(BigInt(note.length), 64 + 32); // p_filesz
  note.copy(elf, 120);
  return elf;
}

/** A bzImage shell (boot protocol 2.15, 1 setup sector) whose payload is `compressed` + the size `_with_size` appends. */
function bzImage(compressed: Buffer, size: number): Buffer {
  const pm = 2 * 512;
  const buf = Buffer.alloc(pm + 16 + compressed.length + 4);
  buf[0x1f1] = 1;
  buf.write('HdrS', 0x202, 'latin1');
  buf.writeUInt16LE(0x20f, 0x206);
  buf.writeUInt32LE(16, 0x248); // payload_offset
  buf.writeUInt32LE(compressed.length + 4, 0x24c); // payload_length
  compressed.copy(buf, pm + 16);
  buf.writeUInt32LE(size, pm + 16 + compressed.length);
  return buf;
}

test('hasPvhNote: a "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY (18) is the PVH entry; other notes and non-ELF are not', (t) => {
  t.true(hasPvhNote(elfWithNote('Xen', 18)));
  t.regex(hasPvhNote(elfWithNote('Xen', 17)) as string, /CONFIG_PVH off/);
  t.regex(hasPvhNote(elfWithNote('GNU', 18)) as string, /CONFIG_PVH off/);
  t.regex(hasPvhNote(Buffer.alloc(100)) as string, /not a 64-bit little-endian ELF/);
});

test('bzImagePayload: payload_offset from the protected-mode start, the size from the last 4 bytes; old or foreign images refused', (t) => {
  const p = bzImagePayload(bzImage(Buffer.from('abcdef'), 1234));
  t.deepEqual(typeof p === 'string' ? p : { data: p.data.toString(), size: p.size }, { data: 'abcdef', size: 1234 });
  t.regex(bzImagePayload(Buffer.alloc(4096)) as string, /not a bzImage/);
  const old = bzImage(Buffer.from('x'), 1);
  old.writeUInt16LE(0x207, 0x206);
  t.regex(bzImagePayload(old) as string, /boot protocol 2\.07 has no payload fields/);
  const cut = bzImage(Buffer.from('abcdef'), 6).subarray(0, 1030);
  t.regex(bzImagePayload(cut) as string, /outside the file/);
});

test('bootImage: a gzip payload with a PVH note is decompressed once and cached; without the note, or with a wrong size, the bzImage stays', (t) => {
  const dir = tmpDir(t);
  const elf = elfWithNote('Xen', 18);
  const good = path.join(dir, 'good.bzImage');
  fs.writeFileSync(good, bzImage(gzipSync(elf), elf.length));
  const a = bootImage(good, path.join(dir, 'cache'));
  t.is(a.entry, 'pvh');
  t.deepEqual(fs.readFileSync(a.path), elf);
  t.regex(a.why, /gzip/);
  const b = bootImage(good, path.join(dir, 'cache'));
  t.is(b.path, a.path);
  t.regex(b.why, /cached/);

  const noNote = path.join(dir, 'nonote.bzImage');
  const plain = elfWithNote('GNU', 3);
  fs.writeFileSync(noNote, bzImage(gzipSync(plain), plain.length));
  t.like(bootImage(noNote, path.join(dir, 'cache')), { entry: 'bzimage', path: noNote, why: 'no PVH entry note in the vmlinux (CONFIG_PVH off)' });

  const badSize = path.join(dir, 'badsize.bzImage');
  fs.writeFileSync(badSize, bzImage(gzipSync(elf), elf.length + 1));
  t.regex(bootImage(badSize, path.join(dir, 'cache')).why, /decompressed \d+ bytes, the bzImage says \d+/);

  const unknown = path.join(dir, 'unknown.bzImage');
  fs.writeFileSync(unknown, bzImage(Buffer.from('QQQQQQQQ'), 8));
  t.regex(bootImage(unknown, path.join(dir, 'cache')).why, /unknown method \(starts 51515151\)/);
  t.like(bootImage(path.join(dir, 'missing'), dir), { entry: 'bzimage' });
});

test('bootImage on Debian\'s 6.1 kernel (lz4): the vmlinux has the PVH note, and its version string is the bzImage\'s release', async (t) => {
  const kernel = await resolveKernel('debian:6.1');
  const dir = tmpDir(t);
  const img = bootImage(kernel.vmlinuz, dir);
  t.like(img, { entry: 'pvh', why: 'vmlinux from the bzImage (lz4)' });
  t.true(hasPvhNote(fs.readFileSync(img.path)));
  const banner = execFileSync('grep', ['-a', '-o', '-m1', 'Linux version [^ ]*', img.path], { encoding: 'utf8' });
  t.is(banner.trim(), `Linux version ${kernel.release}`);
});

test('bootImage: the cache keeps the PVH_CACHE_KEEP most recently used vmlinux files', (t) => {
  const dir = tmpDir(t);
  const cache = path.join(dir, 'cache');
  const images: string[] = [];
  for (let i = 0; i < PVH_CACHE_KEEP; i++) {
    const elf = Buffer.concat([elfWithNote('Xen', 18), Buffer.from([i])]);
    const f = path.join(dir, `k${i}.bzImage`);
    fs.writeFileSync(f, bzImage(gzipSync(elf), elf.length));
    images.push(f);
    const img = bootImage(f, cache);
    t.is(img.entry, 'pvh');
    // distinct, increasing use times
    fs.utimesSync(img.path, new Date(1e12 + i * 1000), new Date(1e12 + i * 1000));
  }
  // The first image is the least recently used: re-using it keeps it; adding one more drops the second.
  const first = bootImage(images[0]!, cache);
  t.regex(first.why, /cached/);
  const extra = Buffer.concat([elfWithNote('Xen', 18), Buffer.from([99])]);
  fs.writeFileSync(path.join(dir, 'extra.bzImage'), bzImage(gzipSync(extra), extra.length));
  bootImage(path.join(dir, 'extra.bzImage'), cache);
  const left = fs.readdirSync(path.join(cache, 'pvh'));
  t.is(left.length, PVH_CACHE_KEEP);
  t.true(left.includes(path.basename(first.path)));
  t.false(left.includes(path.basename(bootImage(images[1]!, path.join(dir, 'other')).path)));
});
