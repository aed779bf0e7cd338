import test from 'ava';
import type { RunResults } from './results.js';
import { caseGroup, groupCounts, kernelDirName, matrixCell, renderMatrixTable } from './cli.js';

function results(verdicts: Array<[string, 'pass' | 'differ' | 'error']>): RunResults {
  const cases = verdicts.map(([file, verdict], i) => ({ file, verdict, id: `c${i}` }));
  const n = (v: string) => cases.filter((c) => c.verdict === v).length;
  return { cases, counts: { cases: cases.length, pass: n('pass'), differ: n('differ'), error: n('error') } } as unknown as RunResults;
}

test('groups are case file names; cells are passed/total with d and e counts', (t) => {
  t.is(caseGroup('harness/suites/cmsg.jsonl'), 'cmsg');
  t.is(caseGroup('/tmp/x/one.json'), 'one');
  t.is(kernelDirName('debian:6.1'), 'debian-6.1');
  t.is(kernelDirName('/home/me/linux/arch/x86/boot/bzImage'), 'home-me-linux-arch-x86-boot-bzImage');
  const r = results([['a/cmsg.jsonl', 'pass'], ['a/cmsg.jsonl', 'differ'], ['a/gso.jsonl', 'error'], ['a/gso.jsonl', 'pass']]);
  t.deepEqual(groupCounts(r).get('cmsg'), { pass: 1, differ: 1, error: 0, total: 2 });
  t.is(matrixCell(groupCounts(r).get('gso')), '1/2 1e');
  t.is(matrixCell(undefined), '-');
});

test('the table: rows by group, a column per kernel, a total row, aligned', (t) => {
  const host = results([['s/cmsg.jsonl', 'pass'], ['s/gso.jsonl', 'pass']]);
  const old = results([['s/cmsg.jsonl', 'differ'], ['s/gso.jsonl', 'error']]);
  t.is(
    renderMatrixTable([{ name: 'host', results: host }, { name: 'debian:5.10', results: old }]),
    'group  host  debian:5.10\n' + 'cmsg    1/1       0/1 1d\n' + 'gso     1/1       0/1 1e\n' + 'total   2/2    0/2 1d 1e\n',
  );
});
