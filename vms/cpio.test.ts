import test from 'ava';
import { execFileSync } from 'node:child_process';
import { writeCpio } from './cpio.js';

test('GNU cpio lists and extracts what writeCpio wrote', (t) => {
  const archive = writeCpio([
    { kind: 'dir', path: '/bin' },
    { kind: 'file', path: '/bin/hello', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
    { kind: 'file', path: '/odd', data: Buffer.from('abcde') },
    { kind: 'symlink', path: '/bin/sh', target: 'busybox' },
    { kind: 'chardev', path: '/console', major: 5, minor: 1 },
  ]);
  t.is(archive.length % 4, 0);
  const listing = execFileSync('cpio', ['-itv', '--quiet'], { input: archive, encoding: 'utf8' }).split('\n').filter(Boolean);
  t.is(listing.length, 5);
  t.regex(listing[0]!, /^drwxr-xr-x .* bin$/);
  t.regex(listing[1]!, /^-rwxr-xr-x .* 18 .* bin\/hello$/);
  t.regex(listing[2]!, /^-rw-r--r-- .* 5 .* odd$/);
  t.regex(listing[3]!, /^lrwxrwxrwx .* bin\/sh -> busybox$/);
  t.regex(listing[4]!, /^crw------- .* 5,\s+1 .* console$/);
  const odd = execFileSync('cpio', ['-i', '--quiet', '--to-stdout', 'odd'], { input: archive, encoding: 'utf8' });
  t.is(odd, 'abcde');
});

test('duplicate paths are refused', (t) => {
  t.throws(() => writeCpio([{ kind: 'dir', path: '/a' }, { kind: 'dir', path: 'a' }]), { message: /duplicate/ });
});
