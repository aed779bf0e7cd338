import test from 'ava';
import { CMSG_ALIGN, CMSG_LEN, CMSG_OK, CMSG_SPACE, cmsgData, for_each_cmsghdr, layoutControl } from './cmsg-layout.js';

const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('CMSG_* macros as on x86_64 glibc', (t) => {
  // values a C program prints with CMSG_LEN/CMSG_SPACE from <sys/socket.h>
  t.deepEqual([0, 1, 2, 4, 8, 12, 20].map(CMSG_LEN), [16, 17, 18, 20, 24, 28, 36]);
  t.deepEqual([0, 1, 2, 4, 8, 12, 20].map(CMSG_SPACE), [16, 24, 24, 24, 24, 32, 40]);
  t.deepEqual([0, 1, 7, 8, 9].map(CMSG_ALIGN), [0, 8, 8, 8, 16]);
});

test('layout and walk agree', (t) => {
  const l = layoutControl([
    { level: 0, type: 2, data: fromHex('03000000') },
    { level: 17, type: 103, data: fromHex('7805') },
  ]);
  t.deepEqual(l.headerAt, [0, 24]);
  const hs = [...for_each_cmsghdr(l.control)];
  t.deepEqual(hs, [
    { offset: 0, cmsg_len: 20, cmsg_level: 0, cmsg_type: 2 },
    { offset: 24, cmsg_len: 18, cmsg_level: 17, cmsg_type: 103 },
  ]);
  t.true(hs.every((h) => CMSG_OK(l.control, h)));
  t.deepEqual([...cmsgData(l.control, hs[1]!)], [0x78, 0x05]);
});

test('for_each_cmsghdr: under 16 bytes there is no first header; short tails are ignored', (t) => {
  t.deepEqual([...for_each_cmsghdr(new Uint8Array(15))], []);
  const one = layoutControl([{ level: 0, type: 2, data: fromHex('03000000') }]).control;
  // 15 trailing junk bytes after one message: not a header
  const junk15 = new Uint8Array(one.length + 15).fill(0xee);
  junk15.set(one);
  t.is([...for_each_cmsghdr(junk15)].length, 1);
  // 16 trailing bytes: parsed as a header (which then fails CMSG_OK: cmsg_len is huge)
  const junk16 = new Uint8Array(one.length + 16).fill(0xee);
  junk16.set(one);
  const hs = [...for_each_cmsghdr(junk16)];
  t.is(hs.length, 2);
  t.false(CMSG_OK(junk16, hs[1]!));
});

test('CMSG_OK: cmsg_len between 16 and the rest of the buffer', (t) => {
  const c = layoutControl([{ level: 0, type: 2, data: fromHex('03000000'), cmsgLen: 24 }]).control;
  t.true(CMSG_OK(c, [...for_each_cmsghdr(c)][0]!)); // 24 = the whole buffer: still inside
  for (const [len, ok] of [[15, false], [16, true], [25, false]] as const) {
    const d = layoutControl([{ level: 0, type: 2, data: fromHex('03000000'), cmsgLen: len }]).control;
    t.is(CMSG_OK(d, [...for_each_cmsghdr(d)][0]!), ok, `cmsg_len ${len}`);
  }
  // cmsg_len 0 does not loop the walk
  const z = layoutControl([{ level: 0, type: 2, data: new Uint8Array(0), cmsgLen: 0 }, { level: 0, type: 2, data: new Uint8Array(0) }]).control;
  t.is([...for_each_cmsghdr(z)].length, 1);
});
