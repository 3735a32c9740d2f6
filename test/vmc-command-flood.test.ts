/**
 * A flood on a post's command topic, through a real Mosquitto: junk of every kind (not JSON, a
 * signed command tampered with, one signed by a stranger's key, one for another post, an old
 * signed command replayed, and copies of a valid command) must cost the outbox a bounded number
 * of events — a few refusals answered one by one, then one `GW_ERR_COMMAND_FLOOD` alarm saying how
 * many were only counted — and valid commands sent in the middle and at the end of the flood are
 * applied, each answered once.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { commandTopic, signCommand, type CommandEnvelope } from '../contract/vmc-command.js';
import { createLogger } from '../gateway/logger.js';
import { startPostRuntime, type PostRuntime } from '../gateway/post-runtime.js';
import { REFUSALS_AT_ONCE, REFUSAL_SUMMARY_MS } from '../gateway/vmc-commands/command-handler.js';
import { ManualClock } from './helpers/manual-clock.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { DeviceFeedStandIn } from './helpers/post-harness.js';
import { systemRig } from './helpers/rig.js';
import { startTestGateway, tempDir, testConfig, uplinkConnected } from './helpers/test-config.js';
import { waitUntil } from './helpers/wait-until.js';

const vmcKeys = generateKeyPairSync('ed25519');
const strangerKeys = generateKeyPairSync('ed25519');
const POST = 'test-post';
const ROOT = `border/v1/${POST}`;
const FLOOD = 3000;

interface Stored {
  type: string;
  data: Record<string, unknown>;
}

function watchlist(version: number, plates: string[], options: { postIds?: string[]; key?: KeyObject } = {}): CommandEnvelope {
  return signCommand(
    { kind: 'watchlist.update', commandId: randomUUID(), postIds: options.postIds ?? [POST], version, issuedAt: '2026-11-27T08:00:00.000Z', payload: { plates } },
    options.key ?? vmcKeys.privateKey,
  );
}

describe('a flood on the command topic', () => {
  const rig = systemRig<Mosquitto>();
  let runtime: PostRuntime | undefined;
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
  });

  it('costs the outbox a bounded number of events, and valid commands in and after it are applied', async () => {
    const dir = tempDir('command-flood-');
    const broker = (rig.broker = await Mosquitto.start());
    writeFileSync(join(dir, 'vmc.pub.pem'), vmcKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    const config = testConfig([broker.url]);
    config.commands = { publicKeys: [join(dir, 'vmc.pub.pem')], maxBytes: 64 * 1024 };
    const gateway = (rig.gateway = await startTestGateway(config, dir));
    // Refusals are budgeted on this clock: it stands still, so the flood's count does not depend on the machine's speed.
    const clock = new ManualClock(Date.UTC(2026, 10, 27, 9));
    runtime = await startPostRuntime({ config, gateway, devices: new DeviceFeedStandIn(), clock, logger: createLogger('silent') });
    await uplinkConnected(gateway);
    const all = (): Stored[] => gateway.outbox.readFrom(0, 100_000).map((row) => JSON.parse(row.payload) as Stored);
    const answerTo = (commandId: string): Stored[] => all().filter((event) => event.type.startsWith('command.') && event.data.commandId === commandId);

    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    try {
      const topic = commandTopic(ROOT, 'watchlist.update');
      // Version 1, applied: the post is subscribed, and the flood can replay it.
      const first = watchlist(1, ['AB123CD']);
      await publisher.publishAsync(topic, JSON.stringify(first), { qos: 1 });
      await waitUntil('the first command applied', () => Promise.resolve(answerTo(first.commandId).length === 1), { timeoutMs: 30_000 });

      const tampered = { ...watchlist(9, ['XY987ZW']), payload: { plates: [] } };
      const junk: string[] = [
        'not json',
        '{"kind":"watchlist.update",',
        JSON.stringify(tampered),
        JSON.stringify(watchlist(9, ['XY987ZW'], { key: strangerKeys.privateKey })),
        JSON.stringify(watchlist(9, ['XY987ZW'], { postIds: ['other-post'] })),
        JSON.stringify(first),
        '[]',
      ];
      const middle = watchlist(2, ['CD456EF']);
      const last = watchlist(3, ['GH789IJ']);
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < FLOOD; i += 1) {
        const message = i === FLOOD / 2 ? JSON.stringify(middle) : (junk[i % junk.length] as string);
        const leaf = i % 3 === 0 ? 'model' : i % 3 === 1 ? 'watchlist' : 'junk';
        sends.push(publisher.publishAsync(`${ROOT}/commands/${leaf}`, message, { qos: 1 }));
      }
      sends.push(publisher.publishAsync(topic, JSON.stringify(last), { qos: 1 }));
      await Promise.all(sends);
      await waitUntil('the command after the flood applied', () => Promise.resolve(answerTo(last.commandId).length === 1), { timeoutMs: 60_000 });
      await runtime.commands.idle();
    } finally {
      await publisher.endAsync();
    }

    const events = all();
    expect(events.filter((event) => event.type === 'command.applied').map((event) => event.data.version)).toEqual([1, 2, 3]);
    const refused = events.filter((event) => event.type === 'command.refused');
    // The clock stands still: the budget's first answers, and no more.
    expect(refused).toHaveLength(REFUSALS_AT_ONCE);
    const floodAlarms = (): Stored[] => all().filter((event) => event.type === 'alarm.raised' && event.data.alarm === 'GW_ERR_COMMAND_FLOOD');
    expect(floodAlarms()).toHaveLength(0);

    // The summary, once its interval has passed: how many were counted and not answered.
    clock.advance(REFUSAL_SUMMARY_MS);
    await waitUntil('the flood summary stored', () => Promise.resolve(floodAlarms().length > 0), { timeoutMs: 10_000 });
    const alarms = floodAlarms();
    expect(alarms).toHaveLength(1);
    const summary = alarms[0]!.data as { details: { dropped: number; byCode: Record<string, number> } };
    // Every junk message is either answered or counted.
    expect(refused.length + summary.details.dropped).toBe(FLOOD - 1);
    // A copy of version 1 is a replay while 1 is the floor, and older than it once the middle
    // command (version 2) is applied: which of the two the copies after it get depends on when the
    // middle one's turn came, so the test asks for the one or the other, and for nothing else.
    const codes = Object.keys(summary.details.byCode).sort();
    const replays: string[] = codes.filter((code) => code === 'GW_ERR_COMMAND_REPLAY' || code === 'GW_ERR_COMMAND_OLDER');
    expect(replays.length).toBeGreaterThan(0);
    expect(codes.filter((code) => !replays.includes(code))).toEqual(['GW_ERR_COMMAND_KEY_UNKNOWN', 'GW_ERR_COMMAND_MALFORMED', 'GW_ERR_COMMAND_SIGNATURE', 'GW_ERR_COMMAND_WRONG_POST']);
    expect(all().filter((event) => event.type === 'command.refused')).toHaveLength(REFUSALS_AT_ONCE);
  }, 120_000);
});
