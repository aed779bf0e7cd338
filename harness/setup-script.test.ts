/**
 * scripts/setup.sh's clear_stale_pidfile, run by bash as setup.sh defines it:
 * a dockerd/containerd pid file whose pid now belongs to another process (the
 * CI machine starts from a snapshot taken while dockerd ran) is removed, so
 * dockerd does not refuse to start with "pid file found"; one whose pid is
 * still the named program is kept.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const setupSh = fileURLToPath(new URL('../../scripts/setup.sh', import.meta.url));

/** The function's text, cut from setup.sh (so the test runs what set-up runs). */
function functionText(): string {
  const m = /^clear_stale_pidfile\(\) \{[^\n]*\n[\s\S]*?^\}$/m.exec(readFileSync(setupSh, 'utf8'));
  if (!m) throw new Error(`clear_stale_pidfile() not found in ${setupSh}`);
  return m[0];
}

function clear(file: string, program: string): string {
  return execFileSync('bash', ['-c', `${functionText()}\nclear_stale_pidfile "$1" "$2"`, 'x', file, program], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
}

test('clear_stale_pidfile: removes a pid file naming another live process, a dead pid or garbage; keeps the live program', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-pidfile-'));
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const file = join(dir, 'docker.pid');
    writeFileSync(file, `${sleeper.pid}`);
    clear(file, 'dockerd');
    t.false(existsSync(file), 'a live pid that is not dockerd');

    writeFileSync(file, `${sleeper.pid}\n`);
    clear(file, 'sleep');
    t.true(existsSync(file), 'the pid is still the named program');

    writeFileSync(file, 'not a pid');
    clear(file, 'dockerd');
    t.false(existsSync(file), 'no pid in the file');

    t.notThrows(() => clear(join(dir, 'absent.pid'), 'dockerd'), 'no file: nothing to do');

    const exited = new Promise((resolve) => sleeper.once('exit', resolve));
    sleeper.kill('SIGKILL');
    await exited;
    writeFileSync(file, `${sleeper.pid}`);
    clear(file, 'sleep');
    t.false(existsSync(file), 'the pid is dead');
  } finally {
    sleeper.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
