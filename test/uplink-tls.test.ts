/**
 * TLS with client certificates: the broker requires a certificate signed by the post's CA and
 * takes the certificate's CN as the user; the gateway connects with the files named in its
 * configuration (the key by `{file: ...}`), and is refused without them.
 */
import { describe, expect, it } from 'vitest';
import { makeTestPki } from './helpers/certificates.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { emitBurst, startTestGateway, tempDir, testConfig, uplinkConnected } from './helpers/test-config.js';
import { freePort } from './helpers/free-port.js';
import { systemRig } from './helpers/rig.js';
import { Collector } from './helpers/collector.js';
import { chmodSync } from 'node:fs';

describe('uplink over TLS with a client certificate', () => {
  const rig = systemRig<Mosquitto>();

  it('connects with the certificate and is refused without one', async () => {
    const dir = tempDir('pki-');
    chmodSync(dir, 0o755);
    const pki = makeTestPki(dir);
    const tlsPort = await freePort();
    const broker = rig.broker = await Mosquitto.start({
      extraConfig: [
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${pki.ca}`,
        `certfile ${pki.serverCert}`,
        `keyfile ${pki.serverKey}`,
        'require_certificate true',
        'use_identity_as_username true',
      ],
    });
    const collector = rig.collector = await Collector.connect(broker.url);
    const tlsUrl = `mqtts://127.0.0.1:${tlsPort}`;

    const refusedGateway = await startTestGateway(testConfig([tlsUrl], { uplink: { tls: { ca: pki.ca } } }));
    const refused = new Promise<void>((resolve) => refusedGateway.uplink.on('state', (state) => state === 'backoff' && resolve()));
    await refused;
    expect(refusedGateway.uplink.state).not.toBe('connected');
    await refusedGateway.stop();

    const gateway = rig.gateway = await startTestGateway(testConfig([tlsUrl], { uplink: { tls: { ca: pki.ca, cert: pki.clientCert, key: { file: pki.clientKey } } } }));
    await uplinkConnected(gateway);
    await emitBurst(gateway, ['lane-1', 'lane-2'], 20);
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 20, 30_000, '20 events over TLS');
    expect(collector.received.every((m) => m.topic.startsWith('border/v1/test-post/'))).toBe(true);
  });
});
