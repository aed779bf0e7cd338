/**
 * The probe on another machine (a QEMU guest, a remote test host), reached
 * over SSH: the remote command's stdin/stdout carry the protocol exactly as a
 * local child's pipes do (protocol.ts startProbe), so the case logic is one.
 */
import type { SshSession } from '../ssh.js';
import { startProbe, type ProbeProcess, type SpawnProbeOptions } from './protocol.js';

/** Single-quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Starts `argv` (e.g. `['/bin/skbdiff-probe', '--lab', 'dev:tx']`) through
 * `session` and waits for READY. The probe dies with the channel: dropbear and
 * sshd hang up a command whose channel closes, and `kill()` signals it first.
 */
export async function probeOverSsh(session: SshSession, argv: string[], opts: SpawnProbeOptions & { label?: string } = {}): Promise<ProbeProcess> {
  const rp = await session.spawn(`exec ${argv.map(shellQuote).join(' ')}`);
  return startProbe(
    {
      stdin: rp.stdin,
      stdout: rp.stdout,
      stderr: rp.stderr,
      exit: rp.exit,
      kill: () => rp.kill('KILL'),
      label: opts.label ?? `probe over ${session.label}`,
    },
    opts,
  );
}
