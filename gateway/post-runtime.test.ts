import { once } from 'node:events';
/**
 * Model reloads at the post level: every swap is a `model.swapped` event on the post pseudo-lane
 * naming both versions and who asked, and an older model refused without a rollback request is a
 * GW_ERR_MODEL_ROLLBACK alarm. The bundled risk model's file is re-signed under a test key with
 * two versions, so nothing is trained here.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterEach, describe, expect, it } from 'vitest';
import { signManifest, type ModelManifest, type UnsignedManifest } from '../edge-models/manifest.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { DeviceFeedStandIn } from '../test/helpers/post-harness.js';
import { startTestGateway, tempDir, testConfig } from '../test/helpers/test-config.js';
import type { Gateway } from './daemon.js';
import { retentionClassOf } from '../contract/catalogue.js';
import { EVENT_SCHEMA_DIR } from '../contract/json-schemas.js';
import { createLogger } from './logger.js';
import { BUNDLED_MODELS, startPostRuntime, type PostRuntime } from './post-runtime.js';

const unsigned = ({ signature: _signature, ...body }: ModelManifest): UnsignedManifest => body;

const ADMIN = { id: 'admin-7', role: 'admin' };

interface Stored {
  type: string;
  source: string;
  data: Record<string, unknown>;
}

describe('model reloads', () => {
  let gateway: Gateway | undefined;
  let runtime: PostRuntime | undefined;
  afterEach(async () => {
    await runtime?.stop();
    await gateway?.stop();
  });

  /** A post whose risk manifest can be rewritten with any version, signed by a test key. */
  const keys = generateKeyPairSync('ed25519');

  /** Starts the post on `dir` (a fresh one by default; the same one again is a restart). */
  async function startPost(dir = tempDir('reload-'), startVersion = '2026.11.26'): Promise<{ dir: string; writeRisk: (version: string) => void; events: () => Promise<Stored[]> }> {
    const { publicKey, privateKey } = keys;
    const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(join(dir, 'test.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const bundled = unsigned(JSON.parse(readFileSync(BUNDLED_MODELS.risk, 'utf8')) as ModelManifest);
    const manifestPath = join(dir, 'risk.manifest.json');
    const writeRisk = (version: string): void => {
      const file = join(dirname(BUNDLED_MODELS.risk), bundled.file);
      writeFileSync(manifestPath, JSON.stringify(signManifest({ ...bundled, version, file }, privateKeyPem)));
    };
    writeRisk(startVersion);
    const config = testConfig(['mqtt://127.0.0.1:1']);
    config.models = { publicKeys: [join(dir, 'test.pub.pem')], risk: manifestPath, xrayScreening: null };
    gateway = await startTestGateway(config, dir);
    const started = gateway;
    runtime = await startPostRuntime({ config, gateway: started, devices: new DeviceFeedStandIn(), clock: new ManualClock(Date.UTC(2026, 10, 27)), logger: createLogger('silent') });
    const events = async (): Promise<Stored[]> => {
      // Alarms are stored without being awaited by who raised them: let their commit run first,
      // and its fsync return (the outbox reads no further than what is on disk).
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (started.outbox.durableSeq < started.outbox.lastSeq) await once(started.outbox, 'committed');
      return started.outbox.readFrom(0, 1000).map((row) => JSON.parse(row.payload) as Stored);
    };
    return { dir, writeRisk, events };
  }

  const swaps = (events: Stored[]) => events.filter((e) => e.type === 'model.swapped').map((e) => e.data);
  const alarms = (events: Stored[], code: string) => events.filter((e) => e.type === 'alarm.raised' && e.data.alarm === code).map((e) => e.data);

  it('emits model.swapped for every swap, with both versions and who asked, on the post lane', async () => {
    const post = await startPost();
    const started = await post.events();
    expect(swaps(started)).toEqual([
      { model: 'risk', fromVersion: null, toVersion: '2026.11.26', rollback: false, requestedBy: { id: 'gateway', role: 'system' }, manifestSha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown },
    ]);
    const event = started.find((e) => e.type === 'model.swapped');
    expect(event?.source).toBe('/border/test-post/post');
    // As published: valid against docs/schemas, checked by a validator other than the zod catalogue.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(join(EVENT_SCHEMA_DIR, 'model.swapped.json'), 'utf8')) as object);
    expect(validate(event), ajv.errorsText(validate.errors)).toBe(true);
    expect(retentionClassOf('model.swapped')).toBe('operational');

    post.writeRisk('2026.11.27');
    expect(await runtime!.reloadModels({ requestedBy: ADMIN })).toMatchObject({
      risk: { version: '2026.11.27', swapped: true, fromVersion: '2026.11.26', rollback: false },
      xrayScreening: { version: null },
    });
    const [, newer] = swaps(await post.events());
    expect(newer).toMatchObject({ model: 'risk', fromVersion: '2026.11.26', toVersion: '2026.11.27', rollback: false, requestedBy: ADMIN });

    // The same version again (a second SIGHUP): no swap, no event.
    expect(await runtime!.reloadModels({ requestedBy: { id: 'sighup', role: 'system' } })).toMatchObject({ risk: { version: '2026.11.27', swapped: false } });
    expect(swaps(await post.events())).toHaveLength(2);
  });

  it('refuses an older model without a rollback request, with an alarm naming both versions and who asked; swaps it on one', async () => {
    const post = await startPost();
    post.writeRisk('2026.11.27');
    await runtime!.reloadModels({ requestedBy: ADMIN });

    post.writeRisk('2026.11.26');
    const refused = await runtime!.reloadModels({ requestedBy: { id: 'sighup', role: 'system' } });
    expect(refused).toMatchObject({ risk: { version: '2026.11.27', error: { code: 'GW_ERR_MODEL_ROLLBACK' } } });
    expect(runtime!.riskSlot.version).toBe('2026.11.27');
    const events = await post.events();
    expect(swaps(events)).toHaveLength(2);
    const [alarm] = alarms(events, 'GW_ERR_MODEL_ROLLBACK');
    expect(alarm).toMatchObject({
      severity: 'critical',
      message: 'risk model 2026.11.26 refused: older than the running 2026.11.27; reload asked by sighup (system) without a rollback',
      details: { model: 'risk', runningVersion: '2026.11.27', refusedVersion: '2026.11.26', requestedBy: { id: 'sighup', role: 'system' } },
    });

    // An admin asks for it (POST /api/models/reload {"rollback": true} reaches this call).
    const actor = { ...ADMIN, deviceId: null };
    const answer = await runtime!.reloadModels({ requestedBy: actor, rollback: true });
    expect(answer).toMatchObject({ risk: { version: '2026.11.26', swapped: true, fromVersion: '2026.11.27', rollback: true } });
    expect(runtime!.riskSlot.version).toBe('2026.11.26');
    // requestedBy is only who and in which role, whatever else the caller's identity carries.
    expect(swaps(await post.events()).at(-1)).toEqual(expect.objectContaining({ fromVersion: '2026.11.27', toVersion: '2026.11.26', rollback: true, requestedBy: ADMIN }));
  });

  it('remembers the newest version across a restart: an older model put in place meanwhile is refused at start', async () => {
    const first = await startPost();
    first.writeRisk('2026.11.27');
    await runtime!.reloadModels({ requestedBy: ADMIN });
    await runtime!.stop();
    await gateway!.stop();
    runtime = undefined;
    gateway = undefined;

    // While the gateway was down, someone put the older (validly signed) manifest back.
    const second = await startPost(first.dir, '2026.11.26');
    expect(runtime!.riskSlot.version).toBeNull(); // the rules decide until an admin acts
    const [alarm] = alarms(await second.events(), 'GW_ERR_MODEL_ROLLBACK');
    expect(alarm).toMatchObject({
      severity: 'critical',
      message: 'risk model 2026.11.26 refused: older than 2026.11.27, which this post ran before; reload asked by gateway (system) without a rollback',
    });
    const answer = await runtime!.reloadModels({ requestedBy: ADMIN, rollback: true });
    expect(answer).toMatchObject({ risk: { version: '2026.11.26', swapped: true, fromVersion: null, rollback: true } });
  });
});
