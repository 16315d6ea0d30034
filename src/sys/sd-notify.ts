/**
 * The service-manager notification protocol (what sd_notify(3) speaks): one datagram of
 * newline-separated VAR=value lines to the AF_UNIX datagram socket named by $NOTIFY_SOCKET —
 * a path, or `@name` in the abstract namespace. Node has no unix datagram sockets, so this goes
 * through the libc bindings.
 *
 * Without NOTIFY_SOCKET the notifier does nothing and opens nothing, so the agent behaves exactly
 * as before outside systemd (or under Type=simple). A notification that cannot be sent is
 * reported to the caller, never thrown: the service manager going away must not take the
 * agent's handshakes down with it.
 */
import { Errno } from './errno';
import { AF_UNIX, CLOCK_MONOTONIC, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_DGRAM, SysError, clockUsec, close, connectAddr, send, socket } from './libc';
import { unixAddress } from './unix';

/** systemd reads at most one page-sized datagram per notification; ours are a few dozen bytes. */
const MAX_NOTIFICATION = 4096;

export type NotifyResult = { sent: true } | { sent: false; error: string };

export interface ServiceNotifier {
  /** True when a service manager asked for notifications (NOTIFY_SOCKET was set). */
  readonly enabled: boolean;
  /** Send VAR=value lines. Without a socket: a no-op reporting sent: false, error ''. */
  notify(fields: Readonly<Record<string, string | number>>): NotifyResult;
  close(): void;
}

/** The socket name from the environment, checked: a path or an abstract `@name`. */
export function notifySocketName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const name = env.NOTIFY_SOCKET;
  if (name === undefined || name === '') return undefined;
  if (!name.startsWith('/') && !name.startsWith('@')) {
    // systemd also offers vsock: addresses (for VMs); an agent runs on the host it serves.
    throw new SysError('sd_notify', Errno.EAFNOSUPPORT, `NOTIFY_SOCKET=${JSON.stringify(name)} is neither a path nor @abstract`);
  }
  return name;
}

/** CLOCK_MONOTONIC in microseconds: the clock MONOTONIC_USEC is compared against. */
export function monotonicUsec(): bigint {
  return clockUsec(CLOCK_MONOTONIC);
}

/** Encode fields as the protocol's lines; refuses newlines in values and over-long messages. */
export function encodeNotification(fields: Readonly<Record<string, string | number>>): Buffer {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new SysError('sd_notify', Errno.EINVAL, `bad variable name ${JSON.stringify(k)}`);
    const s = String(v);
    if (s.includes('\n')) throw new SysError('sd_notify', Errno.EINVAL, `${k} contains a newline`);
    lines.push(`${k}=${s}`);
  }
  const msg = Buffer.from(lines.join('\n') + '\n');
  if (msg.length > MAX_NOTIFICATION) throw new SysError('sd_notify', Errno.EMSGSIZE, `${msg.length} bytes`);
  return msg;
}

class SocketNotifier implements ServiceNotifier {
  readonly enabled = true;
  private fd = -1;

  constructor(private readonly name: string) {}

  notify(fields: Readonly<Record<string, string | number>>): NotifyResult {
    try {
      const msg = encodeNotification(fields);
      // One connected socket for the agent's life; a failed send drops it and the next
      // notification connects again (the manager may have re-executed itself meanwhile).
      if (this.fd < 0) {
        const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC);
        try {
          connectAddr(fd, unixAddress(this.name));
        } catch (e) {
          close(fd);
          throw e;
        }
        this.fd = fd;
      }
      // MSG_DONTWAIT: a manager that stopped reading must not block the event loop.
      send(this.fd, msg, MSG_DONTWAIT);
      return { sent: true };
    } catch (e) {
      this.close();
      return { sent: false, error: `${this.name}: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  close(): void {
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      close(fd);
    }
  }
}

const DISABLED: ServiceNotifier = Object.freeze({
  enabled: false,
  notify: (): NotifyResult => ({ sent: false, error: '' }),
  close: () => undefined,
});

/** A notifier for $NOTIFY_SOCKET (or the given name); the disabled one when there is none. */
export function serviceNotifier(name: string | undefined = notifySocketName()): ServiceNotifier {
  return name === undefined ? DISABLED : new SocketNotifier(name);
}
