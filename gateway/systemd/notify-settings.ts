/**
 * What systemd asks of this process, read from the environment it starts a service with
 * (sd_notify(3), sd_watchdog_enabled(3)): where to send notifications and how often to ping.
 */

export interface NotifySettings {
  /** `NOTIFY_SOCKET`: a socket path, or `@name` for the abstract namespace. */
  socket: string;
  /** Half of `WATCHDOG_USEC` in ms: how often to ping; null when there is no watchdog for us. */
  pingIntervalMs: number | null;
  /** Why there are no pings although `WATCHDOG_USEC` is set (logged once at start), else null. */
  watchdogNote: string | null;
}

/**
 * The settings `env` carries for the process `pid`, or null when it was not started with a
 * notification socket (not under systemd's `Type=notify`: nothing to send).
 */
export function notifySettingsFromEnv(env: NodeJS.ProcessEnv, pid: number): NotifySettings | null {
  const socket = env.NOTIFY_SOCKET;
  // Only paths and abstract names are sockets this process can reach (systemd ≥ 254 also
  // passes vsock: addresses, for VMs; not for a service on the machine itself).
  if (!socket || !(socket.startsWith('/') || socket.startsWith('@'))) return null;
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || usec === '') return { socket, pingIntervalMs: null, watchdogNote: null };
  const watchdogUsec = /^\d+$/.test(usec) ? Number(usec) : Number.NaN;
  if (!(watchdogUsec > 0) || !Number.isSafeInteger(watchdogUsec)) {
    return { socket, pingIntervalMs: null, watchdogNote: `WATCHDOG_USEC=${usec} is not a positive number of microseconds` };
  }
  const watchdogPid = env.WATCHDOG_PID;
  if (watchdogPid !== undefined && watchdogPid !== '') {
    // As sd_watchdog_enabled(3): the watchdog belongs to the process it names. Another process
    // (a wrapper that started this one) pings for itself; an unreadable value is not trusted.
    if (!/^\d+$/.test(watchdogPid)) return { socket, pingIntervalMs: null, watchdogNote: `WATCHDOG_PID=${watchdogPid} is not a process id` };
    if (Number(watchdogPid) !== pid) return { socket, pingIntervalMs: null, watchdogNote: `the watchdog belongs to process ${watchdogPid}, not to this one (${pid})` };
  }
  // Half the timeout, as sd_watchdog_enabled(3) recommends: one late or lost ping is survived.
  return { socket, pingIntervalMs: Math.max(1, Math.floor(watchdogUsec / 2000)), watchdogNote: null };
}
