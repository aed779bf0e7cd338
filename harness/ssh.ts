/**
 * SSH to a guest or a remote test machine (ssh2): public-key login and a
 * pinned host key (the one made for the run, or the one the user names for a
 * remote machine; a mismatch is an error, never a prompt). `exec` runs a
 * command to completion; `spawn` gives the stdin/stdout of a long-running
 * remote process (the probe runs that way).
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import { Duplex, type Readable, type Writable } from 'node:stream';
import ssh2 from 'ssh2';

/** Where and how to log in: the connection half of every SSH use (guests, remote machines). */
export interface SshEndpoint {
  /** TCP host and port; or `sock` below. */
  host?: string;
  port?: number;
  /** A transport already connected to the server (e.g. a ProxyCommand-like child); used instead of host/port. */
  sock?: () => Duplex;
  username?: string;
  /** OpenSSH private key text. */
  privateKey: string;
  /** The server's host key as `ssh-ed25519 AAAA…` (OpenSSH public key line, comment optional). */
  hostPublicKey: string;
  /** Handshake + auth budget (default 10 s). */
  connectTimeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  /** Exit status, or null when the remote process died of a signal. */
  code: number | null;
  signal: string | null;
}

export interface RemoteProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Settles when the remote process exits (or the channel closes). */
  exit: Promise<{ code: number | null; signal: string | null }>;
  /** Ask the server to signal the process, then close the channel. */
  kill(signal?: string): void;
}

/** The SSH path failed (connect, auth, host key, timeout): a harness fault. */
export class SshError extends Error {
  override name = 'SshError';
}

export class SshSession {
  private closed = false;

  private constructor(
    private readonly client: ssh2.Client,
    readonly label: string,
  ) {
    client.on('error', () => {}); // later errors surface through the channel calls
  }

  static connect(target: SshEndpoint): Promise<SshSession> {
    const label = target.sock ? 'ssh (proxy)' : `ssh ${target.username ?? 'root'}@${target.host}:${target.port ?? 22}`;
    const expected = hostKeyBlob(target.hostPublicKey);
    return new Promise((resolve, reject) => {
      const client = new ssh2.Client();
      let settled = false;
      let offered: Buffer | null = null;
      const fail = (msg: string): void => {
        if (settled) return;
        settled = true;
        client.end();
        reject(new SshError(`${label}: ${msg}`));
      };
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        resolve(new SshSession(client, label));
      });
      client.on('error', (err: Error) => {
        if (offered && !offered.equals(expected)) {
          fail(`host key mismatch: expected ${describeKey(expected)}, server offered ${describeKey(offered)}`);
        } else fail(err.message);
      });
      client.once('close', () => fail('connection closed before login'));
      let sock: Duplex | undefined;
      try {
        sock = target.sock?.();
      } catch (e) {
        fail(`transport: ${(e as Error).message}`);
        return;
      }
      client.connect({
        ...(sock ? { sock } : { host: target.host, port: target.port ?? 22 }),
        username: target.username ?? 'root',
        privateKey: target.privateKey,
        readyTimeout: target.connectTimeoutMs ?? 10_000,
        algorithms: { serverHostKey: [expected.subarray(4, 4 + expected.readUInt32BE(0)).toString('latin1') as ssh2.ServerHostKeyAlgorithm] },
        hostVerifier: (key: Buffer) => {
          offered = Buffer.from(key);
          return offered.equals(expected);
        },
      });
    });
  }

  /** Run `command` to completion. On timeout the channel is closed and an SshError carries what was read. */
  exec(command: string, opts: { stdin?: string | Uint8Array; timeoutMs?: number } = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => {
        if (err) return reject(new SshError(`${this.label}: exec ${JSON.stringify(command)}: ${err.message}`));
        const out: Buffer[] = [];
        const errb: Buffer[] = [];
        let code: number | null = null;
        let signal: string | null = null;
        const timer = setTimeout(() => {
          try { ch.signal('KILL'); } catch { /* server may not support it */ }
          ch.close();
          reject(new SshError(`${this.label}: exec ${JSON.stringify(command)} timed out after ${timeoutMs} ms; stdout ${JSON.stringify(Buffer.concat(out).toString('utf8').slice(-500))}, stderr ${JSON.stringify(Buffer.concat(errb).toString('utf8').slice(-500))}`));
        }, timeoutMs);
        ch.on('data', (d: Buffer) => out.push(d));
        ch.stderr.on('data', (d: Buffer) => errb.push(d));
        ch.on('exit', (c: number | null, sig?: string) => {
          code = c ?? null;
          signal = sig ?? null;
        });
        ch.on('close', () => {
          clearTimeout(timer);
          const stdoutBytes = Buffer.concat(out);
          resolve({ stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(errb).toString('utf8'), stdoutBytes, code, signal });
        });
        if (opts.stdin !== undefined) ch.end(opts.stdin);
        else ch.end();
      });
    });
  }

  /** Start a long-running remote process and hand back its streams. */
  spawn(command: string): Promise<RemoteProcess> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, ch) => {
        if (err) return reject(new SshError(`${this.label}: exec ${JSON.stringify(command)}: ${err.message}`));
        let code: number | null = null;
        let signal: string | null = null;
        ch.on('exit', (c: number | null, sig?: string) => {
          code = c ?? null;
          signal = sig ?? null;
        });
        const exit = new Promise<{ code: number | null; signal: string | null }>((res) => ch.on('close', () => res({ code, signal })));
        resolve({
          stdin: ch,
          stdout: ch,
          stderr: ch.stderr,
          exit,
          kill: (sig = 'KILL') => {
            try { ch.signal(sig); } catch { /* ignore */ }
            ch.close();
          },
        });
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }
}

/** Retry connecting until `deadlineMs` (epoch ms): for a server still starting. Host-key mismatches are not retried. */
export async function connectWithRetry(target: SshEndpoint, deadlineMs: number, intervalMs = 100): Promise<SshSession> {
  for (;;) {
    try {
      return await SshSession.connect(target);
    } catch (e) {
      if (/host key mismatch|authentication|privateKey/i.test((e as Error).message) || Date.now() + intervalMs >= deadlineMs) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/**
 * A transport through a child process's stdin/stdout (like OpenSSH's
 * ProxyCommand), e.g. `nsenter --net=… busybox nc 127.0.0.1 22` to reach a
 * port inside a network namespace. The child is killed when the stream closes.
 */
export function commandTransport(argv: string[]): Duplex {
  const child: ChildProcess = spawnChild(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
  const d = Duplex.from({ readable: child.stdout!, writable: child.stdin! });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  d.on('close', kill);
  d.on('error', kill);
  child.on('error', (e) => d.destroy(e));
  return d;
}

/** The wire blob of an OpenSSH public key line (`type base64 [comment]`), checked for consistency. */
export function hostKeyBlob(line: string): Buffer {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64) throw new SshError(`host key ${JSON.stringify(line)}: expected "TYPE BASE64"`);
  const blob = Buffer.from(b64, 'base64');
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (n < 0 || blob.toString('latin1', 4, 4 + n) !== type) throw new SshError(`host key ${JSON.stringify(line)}: blob does not start with its type ${type}`);
  return blob;
}

function describeKey(blob: Buffer): string {
  const n = blob.readUInt32BE(0);
  return `${blob.toString('latin1', 4, 4 + n)} ${blob.toString('base64')}`;
}

/**
 * A fresh ed25519 key pair: the private key in OpenSSH's own format
 * (PROTOCOL.key, unencrypted), the public one as an authorized_keys line.
 * (ssh2's generateKeyPairSync drops a leading zero byte of the public key about
 * one time in 150, giving a key its own parser rejects; node:crypto + this
 * encoder does not.)
 */
export function generateEd25519(comment = ''): { privateKey: string; publicKey: string } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const pk = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const str = (b: Buffer | string): Buffer => {
    const v = typeof b === 'string' ? Buffer.from(b) : b;
    const n = Buffer.alloc(4);
    n.writeUInt32BE(v.length);
    return Buffer.concat([n, v]);
  };
  const u32 = (x: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(x); return b; };
  const pubBlob = Buffer.concat([str('ssh-ed25519'), str(pk)]);
  const check = crypto.randomBytes(4);
  let priv = Buffer.concat([check, check, str('ssh-ed25519'), str(pk), str(Buffer.concat([seed, pk])), str(comment)]);
  const padLen = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: padLen }, (_, i) => i + 1))]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), u32(1), str(pubBlob), str(priv)]);
  const b64 = body.toString('base64').replace(/.{1,70}/g, '$&\n');
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${pubBlob.toString('base64')}${comment ? ' ' + comment : ''}`,
  };
}
