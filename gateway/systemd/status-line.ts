/**
 * The STATUS= line systemd shows under `systemctl status border-gateway`: what an operator at
 * the post's console needs at a glance to tell a working gateway from a stuck one.
 */

export interface StatusFacts {
  lanes: number;
  /** Devices whose driver reports `up`, of `devices` configured. */
  devicesUp: number;
  devices: number;
  /** The uplink's connection state (`connected`, `reconnecting`, …). */
  uplink: string;
  /** Events waiting in the outbox for the broker's acknowledgement, and the oldest one's age. */
  outboxDepth: number;
  oldestAgeMs: number;
  /** The last commit's error code while commits fail, else null. */
  commitError: string | null;
}

/** E.g. `3 lanes, devices 5/6 up; uplink connected; outbox 12 queued, oldest 4 s; commits ok`. */
export function statusLine(facts: StatusFacts): string {
  const outbox = facts.outboxDepth === 0 ? 'outbox empty' : `outbox ${facts.outboxDepth} queued, oldest ${formatAge(facts.oldestAgeMs)}`;
  return [
    `${facts.lanes} ${facts.lanes === 1 ? 'lane' : 'lanes'}, devices ${facts.devicesUp}/${facts.devices} up`,
    `uplink ${facts.uplink}`,
    outbox,
    facts.commitError === null ? 'commits ok' : `commits failing (${facts.commitError})`,
  ].join('; ');
}

function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}
