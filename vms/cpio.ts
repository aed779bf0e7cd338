/**
 * A newc ("070701") cpio writer, the format the kernel unpacks as initramfs
 * (init/initramfs.c, Documentation/driver-api/early-userspace/buffer-format.rst).
 * Entries are built in memory so owners, modes and device nodes need no root
 * and no files on disk.
 */

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Uint8Array; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** The archive: entries in order (parents before children), then the TRAILER!!! record. */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let offset = 0;
  let ino = 1;
  const push = (b: Buffer): void => {
    chunks.push(b);
    offset += b.length;
  };
  const pad = (): void => {
    const n = (4 - (offset % 4)) % 4;
    if (n) push(Buffer.alloc(n));
  };
  const record = (name: string, mode: number, data: Uint8Array, nlink: number, rdev: [number, number]): void => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const fields = [ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    push(Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'latin1'));
    push(nameBytes);
    pad();
    if (data.length) push(Buffer.from(data.buffer, data.byteOffset, data.length));
    pad();
  };
  const seen = new Set<string>();
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (!name || seen.has(name)) throw new Error(`cpio: empty or duplicate path ${JSON.stringify(e.path)}`);
    seen.add(name);
    switch (e.kind) {
      case 'dir': record(name, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(), 2, [0, 0]); break;
      case 'file': record(name, S_IFREG | (e.mode ?? 0o644), e.data, 1, [0, 0]); break;
      case 'symlink': record(name, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'), 1, [0, 0]); break;
      case 'chardev': record(name, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(), 1, [e.major, e.minor]); break;
    }
  }
  record('TRAILER!!!', 0, new Uint8Array(), 1, [0, 0]);
  return Buffer.concat(chunks);
}
