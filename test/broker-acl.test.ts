/**
 * The broker's ACL, as docs/mosquitto-acl.conf.example gives it, keeps each post in its own
 * topic root: TLS client certificates whose CN is the post id and the MQTT user name
 * (`use_identity_as_username`), and `pattern readwrite border/v1/%u/#`. The broker here runs on
 * exactly the text of that file (its paths and port replaced), so the documentation is what is
 * tested.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../core/package-info.js';
import type { Gateway } from '../gateway/daemon.js';
import type { RefusedPublish } from '../gateway/uplink/mqtt-uplink.js';
import { issueClientCertificate, makeTestPki, type TestPki } from './helpers/certificates.js';
import { Collector } from './helpers/collector.js';
import { freePort } from './helpers/free-port.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { emitBurst, startTestGateway, tempDir, testConfig, uplinkConnected } from './helpers/test-config.js';

const EXAMPLE = join(PACKAGE_ROOT, 'docs', 'mosquitto-acl.conf.example');
const LANES = ['lane-1', 'lane-2'];
const NOT_AUTHORIZED = 0x87;

/** The example's two parts, its placeholders (real-looking paths, port 8883) replaced with the test's. */
function brokerFromDocs(pki: TestPki, tlsPort: number): string[] {
  const aclFile = join(pki.dir, 'border-posts.acl');
  let text = readFileSync(EXAMPLE, 'utf8');
  for (const [placeholder, value] of [
    ['listener 8883', `listener ${tlsPort} 127.0.0.1`],
    ['/etc/mosquitto/ca/border-posts-ca.pem', pki.ca],
    ['/etc/mosquitto/certs/vmc-broker.pem', pki.serverCert],
    ['/etc/mosquitto/certs/vmc-broker.key', pki.serverKey],
    ['/etc/mosquitto/border-posts.acl', aclFile],
  ] as const) {
    expect(text, `docs example names ${placeholder}`).toContain(placeholder);
    text = text.replaceAll(placeholder, value);
  }
  const [mosquittoConf, acl] = text.split(/^# -+ part 2: .*$/m) as [string, string];
  expect(acl).toContain('pattern readwrite border/v1/%u/#');
  // The broker drops to its own user: it must read the ACL file.
  writeFileSync(aclFile, acl, { mode: 0o644 });
  chmodSync(aclFile, 0o644);
  return mosquittoConf.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

function tlsOptions(pki: TestPki, client: { cert: string; key: string }) {
  return { ca: readFileSync(pki.ca), cert: readFileSync(client.cert), key: readFileSync(client.key), rejectUnauthorized: true };
}

function gatewayConfig(url: string, pki: TestPki, client: { cert: string; key: string }, uplink: Record<string, unknown>) {
  return testConfig([url], { uplink: { ...uplink, tls: { ca: pki.ca, cert: client.cert, key: { file: client.key } } } });
}

describe('broker ACL: a gateway publishes under its own post id only', () => {
  const rig = systemRig<Mosquitto>();
  const others: Gateway[] = [];
  afterEach(async () => {
    await Promise.all(others.splice(0).map((gateway) => gateway.stop()));
  });

  it('delivers post-a under border/v1/post-a, refuses it under post-b with 0x87, and the gateway parks and alarms the refusals', async () => {
    const dir = tempDir('pki-');
    chmodSync(dir, 0o755);
    const pki = makeTestPki(dir);
    const postA = issueClientCertificate(pki, 'post-a');
    const postB = issueClientCertificate(pki, 'post-b');
    const vmc = issueClientCertificate(pki, 'vmc');
    const tlsPort = await freePort();
    const config = brokerFromDocs(pki, tlsPort);
    rig.broker = await Mosquitto.start({ extraConfig: config });
    const url = `mqtts://127.0.0.1:${tlsPort}`;
    const collector = rig.collector = await Collector.connect(url, 'border/#', 5, tlsOptions(pki, vmc));

    // Each post's gateway, with its own certificate, under its own root: delivered.
    const gatewayA = rig.gateway = await startTestGateway(gatewayConfig(url, pki, postA, { clientId: 'gw-post-a', topicRoot: 'border/v1/post-a' }));
    const gatewayB = await startTestGateway(gatewayConfig(url, pki, postB, { clientId: 'gw-post-b', topicRoot: 'border/v1/post-b' }));
    others.push(gatewayB);
    await Promise.all([uplinkConnected(gatewayA), uplinkConnected(gatewayB)]);
    await emitBurst(gatewayA, LANES, 10);
    await emitBurst(gatewayB, LANES, 5);
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 15, 30_000, '15 events of post-a and post-b');
    const byPost = (post: string) => new Set(collector.received.filter((m) => m.topic.startsWith(`border/v1/${post}/`)).map((m) => m.id)).size;
    expect([byPost('post-a'), byPost('post-b')]).toEqual([10, 5]);
    await collector.waitForStatus((status) => status.includes('"online"'));

    // A client holding post-a's certificate publishes under post-b: MQTT 5 PUBACK 0x87.
    const intruder = await mqtt.connectAsync(url, { ...tlsOptions(pki, postA), protocolVersion: 5, reconnectPeriod: 0, clientId: 'intruder' });
    const forged = JSON.stringify({ id: 'forged-1', source: '/border/post-b/lane-1', type: 'vehicle.weighed', seq: 1, data: {} });
    const refusal = await intruder.publishAsync('border/v1/post-b/lane-1/vehicle.weighed', forged, { qos: 1 }).then(
      () => null,
      (error: unknown) => error as { code?: number },
    );
    expect(refusal?.code).toBe(NOT_AUTHORIZED);
    // The broker handles one client's packets in order: once this one is through, the forged one would have been too.
    const fence = JSON.stringify({ id: 'fence-1', source: '/border/post-a/lane-1', type: 'fence', seq: 0, data: {} });
    await intruder.publishAsync('border/v1/post-a/lane-1/fence', fence, { qos: 1 });
    await collector.waitFor((r) => r.some((m) => m.id === 'fence-1'), 30_000, 'the fence message');
    await intruder.endAsync();
    expect(collector.received.some((m) => m.id === 'forged-1')).toBe(false);
    expect(byPost('post-b')).toBe(5);

    // A gateway with post-a's certificate configured with post-b's root: every publish refused,
    // parked in its outbox with an alarm (the alarm, under the same root, is refused as well and
    // only logged), nothing reaches the VMC.
    const misconfigured = await startTestGateway(gatewayConfig(url, pki, postA, { clientId: 'gw-misconfigured', topicRoot: 'border/v1/post-b', refusedRetryMs: 600_000 }));
    others.push(misconfigured);
    const refusals: RefusedPublish[] = [];
    const allRefused = new Promise<void>((resolve) =>
      misconfigured.uplink.on('refused', (r) => {
        refusals.push(r);
        if (refusals.length === 6) resolve();
      }),
    );
    await uplinkConnected(misconfigured);
    await emitBurst(misconfigured, LANES, 3, 100);
    await allRefused; // 3 events and their 3 alarms
    expect(refusals.map((r) => r.reasonCode)).toEqual(Array(6).fill(NOT_AUTHORIZED));
    expect(refusals.filter((r) => r.type === 'vehicle.weighed')).toHaveLength(3);
    expect(refusals.filter((r) => r.type === 'alarm.raised')).toHaveLength(3);
    expect(misconfigured.uplink.parkedByCause()).toEqual({ refused: 6, 'packet-too-large': 0, poison: 0 });
    expect(misconfigured.outbox.depth).toBe(6);
    const alarms = misconfigured.outbox.readFrom(0, 10).filter((row) => row.type === 'alarm.raised').map((row) => JSON.parse(row.payload) as { data: { alarm: string; details: { reasonCode: number } } });
    expect(alarms.map((a) => [a.data.alarm, a.data.details.reasonCode])).toEqual(Array(3).fill(['GW_ERR_UPLINK_PUBLISH_REFUSED', NOT_AUTHORIZED]));

    // Fence again through post-a's own gateway: nothing of the misconfigured one arrived.
    await emitBurst(gatewayA, LANES, 1, 50);
    await collector.waitFor((r) => new Set(r.filter((m) => m.topic.startsWith('border/v1/post-a/')).map((m) => m.id)).size >= 12, 30_000, 'the fence event');
    expect(byPost('post-b')).toBe(5);
  });
});
