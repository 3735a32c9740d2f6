/**
 * The 4-lane post of the day tests: lanes 1–2 inbound, 3–4 outbound, each with entry and exit
 * cameras and a weighbridge whose transports are stood in for (post-harness.ts), a watchlist.
 */
import { parseConfigText } from '../../config/load-config.js';
import type { PostConfig } from '../../config/schema.js';

export const FOUR_LANES = ['lane-1', 'lane-2', 'lane-3', 'lane-4'];

export function fourLaneConfig(): PostConfig {
  return parseConfigText(`
version: 1
post: { id: day-post }
lanes:
${FOUR_LANES.map(
  (id, i) => `  - id: ${id}
    directions: ${i < 2 ? '[import, transit-entry]' : '[export, transit-exit, domestic-transit]'}
    devices:
      - { id: ${id}-entry, driver: onvif, role: entry, connection: { url: "http://127.0.0.1:1/onvif", username: a, password: b } }
      - { id: ${id}-exit, driver: onvif, role: exit, connection: { url: "http://127.0.0.1:1/onvif", username: a, password: b } }
      - { id: ${id}-scale, driver: sma, connection: { host: 127.0.0.1, port: 1 } }`,
).join('\n')}
uplink: { brokers: ["mqtt://127.0.0.1:1"] }
outbox: { path: outbox.db, maxBytes: 268435456 }
workflow: { watchlist: [AB-123-CD, XY-808-ZZ, KT-515-OB] }
`);
}
