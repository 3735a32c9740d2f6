/**
 * Broker credentials in a URL (`--mqtt mqtt://user:pass@host`, a `brokers` entry, the demo's
 * `--mqtt`) never reach a log line or the demo's output, at any level; and a gateway that sends a
 * password without TLS, or does not verify the broker's certificate, says so when it starts.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { Gateway } from '../gateway/daemon.js';
import { startDemo } from '../gateway/demo/run-demo.js';
import { createLogger } from '../gateway/logger.js';
import { resolveUplinkSettings } from '../gateway/uplink/resolve-settings.js';
import { Collector } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir, testConfig, uplinkConnected, weighed } from './helpers/test-config.js';

const URL_SECRET = 'url-s3cret';
const CONFIG_SECRET = 'cfg-s3cret';

/** A log destination that keeps every line and tells who waits for one. */
class LogLines extends Writable {
  readonly lines: string[] = [];
  private readonly events = new EventEmitter();

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      this.lines.push(line);
      this.events.emit('line', line);
    }
    done();
  }

  /** Resolves with the first line (already written or to come) that `match` accepts. */
  waitFor(match: (line: string) => boolean): Promise<string> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const onLine = (line: string): void => {
        if (!match(line)) return;
        this.events.off('line', onLine);
        resolve(line);
      };
      this.events.on('line', onLine);
    });
  }
}

describe('uplink credentials', () => {
  const rig = systemRig<Mosquitto>();

  it('are redacted in every log line, and the start warns of a password sent without TLS', async () => {
    const broker = rig.broker = await Mosquitto.start(); // takes any credentials
    const collector = rig.collector = await Collector.connect(broker.url);
    const withCredentials = `mqtt://vmc:${URL_SECRET}@127.0.0.1:${broker.port}`;
    const config = testConfig([withCredentials], { uplink: { username: 'vmc', password: CONFIG_SECRET } });
    const log = new LogLines();
    const gateway = rig.gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger: createLogger('trace', log), clock: systemClock, dataDir: tempDir(), http: false });
    await uplinkConnected(gateway);
    await weighed(gateway, 'lane-1', 1);
    await collector.waitFor((r) => r.some((m) => m.type === 'vehicle.weighed'), 30_000, 'the event, over the URL with credentials');

    // The connection lost and the retries log the broker (and the list of brokers) again.
    await broker.stop();
    await log.waitFor((line) => line.includes('no broker reachable'));

    const all = log.lines.join('\n');
    expect(all).not.toContain(URL_SECRET);
    expect(all).not.toContain(CONFIG_SECRET);
    const redacted = `mqtt://[redacted]@127.0.0.1:${broker.port}`;
    const parsed = log.lines.map((line) => JSON.parse(line) as { msg: string; code?: string; broker?: string; brokers?: string[]; level: number });
    expect(parsed.find((l) => l.msg === 'uplink connecting')?.broker).toBe(redacted);
    expect(parsed.find((l) => l.msg === 'uplink connected')?.broker).toBe(redacted);
    expect(parsed.find((l) => l.msg === 'uplink connection lost')?.broker).toBe(redacted);
    expect(parsed.find((l) => l.msg.startsWith('no broker reachable'))?.brokers).toEqual([redacted]);
    const warnings = parsed.filter((l) => l.code === 'GW_ERR_UPLINK_INSECURE');
    expect(warnings.map((w) => w.level)).toEqual([40]);
    expect(warnings[0]?.msg).toBe(`a password is sent to ${redacted} without TLS: anyone on the path can read it; use mqtts:// or wss://`);
  });

  it('are redacted in what the demo prints about its --mqtt broker', async () => {
    const broker = rig.broker = await Mosquitto.start();
    const out: string[] = [];
    const log = new LogLines();
    const demo = await startDemo({
      mqttUrl: `mqtt://vmc:${URL_SECRET}@127.0.0.1:${broker.port}`,
      speed: 60,
      dataDir: tempDir(),
      vehiclesPerHourPerLane: 6,
      brokerPort: 0,
      httpPort: 0,
      traffic: 'synthetic',
      logger: createLogger('debug', log),
      out: (line) => out.push(line),
    });
    try {
      await uplinkConnected(demo.gateway);
    } finally {
      await demo.stop();
    }
    expect(out.join('\n')).toContain(`MQTT broker: mqtt://[redacted]@127.0.0.1:${broker.port}`);
    expect(out.join('\n')).not.toContain(URL_SECRET);
    expect(log.lines.join('\n')).not.toContain(URL_SECRET);
    expect(log.lines.some((line) => line.includes('GW_ERR_UPLINK_INSECURE'))).toBe(true);
  });
});
