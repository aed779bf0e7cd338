/**
 * Test fixtures shared by the harness's integration tests.
 */
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Capture } from '../capture.js';
import { builtinSuiteFiles } from '../suites.js';

/** Case lines of the built-in suite by id, written to a fresh `group`.jsonl removed after the test. */
export function caseFile(t: ExecutionContext, ids: string[], group = 'picked'): string {
  const lines = new Map<string, string>();
  for (const f of builtinSuiteFiles()) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /"id": *"([^"]+)"/.exec(line);
      if (m && ids.includes(m[1]!)) lines.set(m[1]!, line);
    }
  }
  for (const id of ids) if (!lines.has(id)) throw new Error(`no case ${id} in the built-in suite`);
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, `${group}.jsonl`);
  writeFileSync(file, ids.map((id) => lines.get(id)!).join('\n') + '\n');
  return file;
}

const inBench = (a: number): boolean => a >>> 17 === 0xc6120000 >>> 17; // 198.18.0.0/15

/** IPv4 source and destination of a LINUX_SLL (113) or Ethernet (1) frame, or null if not IPv4. */
function ipv4Addrs(linktype: number, f: Uint8Array): [number, number] | null {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  const hdr = linktype === 113 ? 16 : linktype === 1 ? 14 : -1;
  if (hdr < 0 || b.length < hdr + 20 || b.readUInt16BE(hdr - 2) !== 0x0800) return null;
  return [b.readUInt32BE(hdr + 12), b.readUInt32BE(hdr + 16)];
}

/**
 * The traffic rule's witness: a capture on every interface of the main network
 * namespace (`any`, no filter). `stop()` first sends a marker datagram on this
 * namespace's loopback and waits for it, so a capture that saw nothing cannot
 * pass as one that saw no leak; it returns the frames whose IPv4 source or
 * destination lies in 198.18.0.0/15.
 */
export function watchMainNamespace(): { stop(): Promise<{ markerSeen: boolean; frames: number; leaked: Array<[number, number]> }> } {
  const marker = Buffer.from(`skbdiff-main-ns-watch-${process.pid}-${Date.now()}-${Math.random()}`);
  const leaked: Array<[number, number]> = [];
  let frames = 0;
  let markerSeen = false;
  const cap = Capture.open({ device: 'any' }, (f) => {
    frames++;
    const a = ipv4Addrs(f.linktype, f.data);
    if (a && (inBench(a[0]) || inBench(a[1]))) leaked.push(a);
    if (Buffer.from(f.data).includes(marker)) markerSeen = true;
  });
  return {
    async stop() {
      try {
        const s = dgram.createSocket('udp4');
        await new Promise<void>((r) => s.send(marker, 9, '127.0.0.1', () => r()));
        s.close();
        const end = Date.now() + 3000;
        while (!markerSeen && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      } finally {
        cap.close();
      }
      return { markerSeen, frames, leaked };
    },
  };
}
