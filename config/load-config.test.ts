import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ID_RULE, MAX_ID_LENGTH } from '../core/identifiers.js';
import { ConfigError, formatProblem, loadConfigFile, MAX_CONFIG_BYTES, parseConfigText } from './load-config.js';
import { MAX_TIMER_MS } from './schema.js';
import { postConfigJsonSchema, POST_CONFIG_SCHEMA_FILE } from './json-schema.js';

const VALID = `version: 1
post:
  id: p1
lanes:
  - id: lane-1
    devices:
      - id: cam-1
        driver: onvif
        connection: { url: "http://127.0.0.1:8081/onvif/device_service", username: admin, password: { env: CAM_PW } }
uplink:
  brokers: [mqtt://127.0.0.1:1883]
`;

function problemsOf(text: string): ConfigError {
  try {
    parseConfigText(text, 'post.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

describe('configuration loader', () => {
  it('accepts a valid post and fills the defaults', () => {
    const config = parseConfigText(VALID);
    expect(config.uplink.topicRoot).toBe('border/v1/{postId}');
    expect(config.uplink.inflightWindow).toBe(256);
    expect(config.outbox.maxBytes).toBe(512 * 1024 * 1024);
    expect(config.lanes[0]?.directions).toContain('domestic-transit');
  });

  it('rejects an unknown key with its path and line', () => {
    const error = problemsOf(VALID.replace('  brokers:', '  brokerz: [mqtt://x]\n  brokers:'));
    expect(error.code).toBe('GW_ERR_CONFIG_INVALID');
    expect(error.problems).toContainEqual(expect.objectContaining({ path: 'uplink.brokerz', line: 11, message: 'unknown key "brokerz"' }));
  });

  it('rejects a wrong type with its path and line', () => {
    const error = problemsOf(VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', '  brokers: [mqtt://127.0.0.1:1883]\n  inflightWindow: lots'));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ path: 'uplink.inflightWindow', line: 12 });
    expect(error.problems[0]?.message).toContain('expected number');
  });

  it('rejects a keepalive MQTT cannot carry (over 65,535 s), which the uplink could not even send', () => {
    const error = problemsOf(VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', '  brokers: [mqtt://127.0.0.1:1883]\n  keepaliveSec: 70000'));
    expect(error.problems[0]).toMatchObject({ path: 'uplink.keepaliveSec', line: 12 });
    expect(parseConfigText(VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', '  brokers: [mqtt://127.0.0.1:1883]\n  keepaliveSec: 65535')).uplink.keepaliveSec).toBe(65_535);
  });

  it('rejects a device without a connection, naming the device', () => {
    const text = VALID.replace(/ {8}connection: .*\n/, '');
    const error = problemsOf(text);
    expect(error.problems).toEqual([expect.objectContaining({ path: 'lanes[0].devices[0].connection', line: 7, message: 'is required (object)' })]);
  });

  it('lists the valid drivers for an unknown one', () => {
    const error = problemsOf(VALID.replace('driver: onvif', 'driver: onvif2'));
    expect(error.problems[0]?.message).toMatch(/unknown or missing driver; valid: onvif, anpr-http-push, modbus-tcp/);
    expect(error.problems[0]?.line).toBe(8);
  });

  it('reports a YAML syntax error with its line', () => {
    const error = problemsOf('version: 1\npost:\n  id: [p1\n');
    expect(error.code).toBe('GW_ERR_CONFIG_SYNTAX');
    expect(error.problems[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it('reports every problem at once', () => {
    const text = VALID.replace('id: p1', 'id: P 1').replace('version: 1', 'version: 2').replace('  brokers:', '  colour: red\n  brokers:');
    const paths = problemsOf(text).problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['version', 'post.id', 'uplink.colour']));
  });

  it('lists the problems in the order of the file, whatever order the schema finds them in', () => {
    // zod reports uplink.tls's unknown key before keepaliveSec, written above it, and before the
    // tls key's own bad value: the list reads top to bottom beside the file.
    const text = VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', '  brokers: [mqtt://127.0.0.1:1883]\n  keepaliveSec: "30"\n  tls: { certificate: a.pem, ca: 1 }');
    const error = problemsOf(text);
    const places = error.problems.map((p) => [p.line, p.column]);
    expect(places).toEqual([...places].sort(([lineA, columnA], [lineB, columnB]) => (lineA === lineB ? (columnA as number) - (columnB as number) : (lineA as number) - (lineB as number))));
    expect(error.problems.map((p) => p.path)).toEqual(['uplink.keepaliveSec', 'uplink.tls.certificate', 'uplink.tls.ca']);
    expect(error.message.split('\n').slice(1)).toEqual(error.problems.map((p) => formatProblem('post.yaml', p)));
  });

  it('rejects duplicate lane and device ids', () => {
    const text = VALID.replace('lanes:\n', 'lanes:\n  - id: lane-1\n');
    expect(problemsOf(text).problems).toContainEqual(expect.objectContaining({ path: 'lanes[1].id', message: 'duplicate lane id "lane-1"' }));
  });

  it('rejects two push devices on one path, which run could not route (it stopped with a stack trace)', () => {
    const lane = `  - id: lane-2
    devices:
      - { id: push-1, driver: anpr-http-push, connection: { path: /anpr/gate } }
      - { id: xray-1, driver: xray-http, connection: { path: /anpr/gate } }
uplink:`;
    const error = problemsOf(VALID.replace('uplink:', lane));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ path: 'lanes[1].devices[1].connection.path', line: 13 });
    expect(error.problems[0]?.message).toContain('already the push path of device "push-1"');
    expect(() => parseConfigText(VALID.replace('uplink:', lane.replace('path: /anpr/gate } }\n      - { id: xray-1', 'path: /anpr/one } }\n      - { id: xray-1')))).not.toThrow();
  });

  it('rejects a broker URL with no host or an impossible port (mqtt:// alone connected to localhost:1883)', () => {
    const brokers = (list: string): string => VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', `  brokers: ${list}`);
    const error = problemsOf(brokers('["mqtt://", "mqtts://vmc.example:99999", "tcp://:1883", "mqtt://vmc.example:0"]'));
    expect(error.problems.map((problem) => problem.path)).toEqual(['uplink.brokers[0]', 'uplink.brokers[1]', 'uplink.brokers[2]', 'uplink.brokers[3]']);
    expect(error.problems[0]?.message).toContain('names no host');
    expect(error.problems[1]?.message).toContain('not a valid URL');
    expect(error.problems[0]?.line).toBe(11);
    expect(parseConfigText(brokers('["mqtts://vmc.example:8883", "wss://vmc.example/mqtt", "mqtt://[::1]:1883"]')).uplink.brokers).toHaveLength(3);
  });

  it('rejects a topic root no PUBLISH may carry (a wildcard made the broker drop every event)', () => {
    const root = (value: string): string => VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', `  brokers: [mqtt://127.0.0.1:1883]\n  topicRoot: "${value}"`);
    for (const bad of ['border/#/{postId}', 'border/+/{postId}', '$SYS/{postId}', '']) {
      const error = problemsOf(root(bad));
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatchObject({ path: 'uplink.topicRoot', line: 12 });
    }
    expect(parseConfigText(root('customs/az/{postId}')).uplink.topicRoot).toBe('customs/az/{postId}');
    // A topic name is at most 65,535 bytes: a root near it made every PUBLISH unencodable.
    expect(problemsOf(root(`customs/${'x'.repeat(600)}/{postId}`)).problems[0]).toMatchObject({ path: 'uplink.topicRoot', line: 12 });
    expect(parseConfigText(root(`${'x'.repeat(500)}/{postId}`)).uplink.topicRoot).toHaveLength(509);
  });

  it('rejects a device listener on the operators\' port once a device pushes (run stopped on EADDRINUSE)', () => {
    const push = VALID.replace('uplink:', '      - { id: push-1, driver: anpr-http-push, connection: { path: /anpr/gate } }\nuplink:');
    const error = problemsOf(`${push}http: { port: 8081 }\n`);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ path: 'devicePush.port' });
    expect(error.problems[0]?.message).toContain('also http.port');
    expect(problemsOf(`${push}http: { host: 0.0.0.0, port: 9000 }\ndevicePush: { host: 10.0.0.2, port: 9000 }\n`).problems[0]?.path).toBe('devicePush.port');
    // Without a push device the listener never starts; on other addresses, or free ports, no clash.
    expect(() => parseConfigText(`${VALID}http: { port: 8081 }\n`)).not.toThrow();
    expect(() => parseConfigText(`${push}http: { host: 10.0.0.1, port: 9000 }\ndevicePush: { host: 10.0.0.2, port: 9000 }\n`)).not.toThrow();
    expect(() => parseConfigText(`${push}http: { port: 0 }\ndevicePush: { port: 0 }\n`)).not.toThrow();
  });

  it('rejects an ONVIF URL the driver cannot use: another scheme, or credentials it would ignore', () => {
    for (const url of ['ftp://10.0.0.5/onvif/device_service', '10.0.0.5/onvif/device_service', 'http://admin:pw@10.0.0.5/onvif/device_service']) {
      const error = problemsOf(VALID.replace('http://127.0.0.1:8081/onvif/device_service', url));
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatchObject({ path: 'lanes[0].devices[0].connection.url', line: 9 });
    }
    expect(() => parseConfigText(VALID.replace('http://127.0.0.1:8081/', 'https://cam.post.local/'))).not.toThrow();
  });

  it('rejects a barrier whose coils or inputs share an address, and two devices on one port, folder or coil', () => {
    const lane = (devices: string[]): string => `  - id: lane-2\n    devices:\n${devices.map((d) => `      - ${d}`).join('\n')}\nuplink:`;
    const barrier = (id: string, registers: string, host = '10.0.0.5') => `{ id: ${id}, driver: modbus-tcp, connection: { host: ${host}, port: 502 }${registers} }`;
    const problems = (devices: string[]): [string, string][] => {
      const text = VALID.replace('uplink:', lane(devices));
      try {
        parseConfigText(text, 'post.yaml');
        return [];
      } catch {
        return problemsOf(text).problems.map((p) => [p.path, p.message]);
      }
    };
    // The loop on the closed limit's input would read "clear" under a vehicle; one coil for both moves.
    expect(problems([barrier('b1', ', registers: { openCoil: 0, closeCoil: 0, openLimitInput: 0, closedLimitInput: 1, loopInput: 1, photocellInput: 3 }')])).toEqual([
      ['lanes[1].devices[0].registers.closeCoil', 'coil 0 is already the open coil: the close coil must be another'],
      ['lanes[1].devices[0].registers.loopInput', 'input 1 is already the closedLimitInput: each input reads one signal'],
    ]);
    expect(problems([barrier('b1', ''), barrier('b2', '')])).toEqual([
      ['lanes[1].devices[1].registers.openCoil', 'coil 0 of 10.0.0.5:502 unit 1 is already barrier "b1"\'s: two barriers would move one arm'],
      ['lanes[1].devices[1].registers.closeCoil', 'coil 1 of 10.0.0.5:502 unit 1 is already barrier "b1"\'s: two barriers would move one arm'],
    ]);
    // One I/O module for two barriers, on coils of their own, is fine; so is another module.
    expect(problems([barrier('b1', ''), barrier('b2', ', registers: { openCoil: 4, closeCoil: 5, openLimitInput: 4, closedLimitInput: 5, loopInput: 6, photocellInput: 7 }')])).toEqual([]);
    expect(problems([barrier('b1', ''), barrier('b2', '', '10.0.0.6')])).toEqual([]);
    expect(problems(['{ id: scale-1, driver: sma, connection: { path: /dev/ttyS1 } }', '{ id: b1, driver: modbus-rtu, connection: { path: /dev/ttyS1 } }'])).toEqual([
      ['lanes[1].devices[1].connection.path', 'serial port /dev/ttyS1 is already device "scale-1"\'s: one device per serial port (several Modbus units on one RS-485 bus are not supported)'],
    ]);
    expect(problems(['{ id: x1, driver: xray-folder, connection: { folder: /srv/xray } }', '{ id: x2, driver: xray-folder, connection: { folder: /srv/xray } }'])).toEqual([
      ['lanes[1].devices[1].connection.folder', '"/srv/xray" is already the drop folder of device "x1": give each scanner a folder of its own'],
    ]);
  });

  it('rejects an empty outbox path and an empty MQTT client id, which run would have tripped on', () => {
    const error = problemsOf(`${VALID}outbox:\n  path: ""\n`.replace('uplink:\n', 'uplink:\n  clientId: ""\n'));
    expect(error.problems.map((p) => p.path).sort()).toEqual(['outbox.path', 'uplink.clientId']);
    // Nor a path only a directory can have: run opened the directory as the database (EISDIR).
    for (const path of ['data/', '/var/lib/border-gateway/', '.', '..', 'data/.', 'data/..']) {
      expect(problemsOf(`${VALID}outbox:\n  path: "${path}"\n`).problems.map((p) => [p.path, p.message]), path).toEqual([['outbox.path', 'must name a file, not a directory (it ends in /, . or ..)']]);
    }
    for (const path of ['outbox.db', '.outbox.db', 'data/..outbox.db', '/var/lib/border-gateway/outbox.db']) expect(parseConfigText(`${VALID}outbox:\n  path: "${path}"\n`).outbox.path, path).toBe(path);
  });

  it('rejects a serial rate no port can run at and an outbox batch that would stall the loop for a backlog\'s commit', () => {
    const scale = (baudRate: number) => VALID.replace('uplink:', `  - id: lane-2\n    devices:\n      - { id: scale-1, driver: sma, connection: { path: /dev/ttyS1, baudRate: ${baudRate} } }\nuplink:`);
    for (const baudRate of [0, 49, 4_000_001, 1e12]) expect(problemsOf(scale(baudRate)).problems.map((p) => p.path), String(baudRate)).toEqual(['lanes[1].devices[0].connection.baudRate']);
    for (const baudRate of [300, 115_200, 4_000_000]) expect(parseConfigText(scale(baudRate)).lanes[1]?.devices[0], String(baudRate)).toMatchObject({ connection: { baudRate } });
    const batch = (maxBatch: number) => `${VALID}outbox:\n  maxBatch: ${maxBatch}\n`;
    expect(problemsOf(batch(10_001)).problems.map((p) => p.path)).toEqual(['outbox.maxBatch']);
    expect(parseConfigText(batch(10_000)).outbox.maxBatch).toBe(10_000);
  });

  it('rejects a watchlist entry that is no plate (one that normalises to nothing would match nothing)', () => {
    const error = problemsOf(`${VALID}workflow:\n  watchlist: [AB-123-CD, "--", "\\u200B", "\u4EACA12345"]\n`);
    expect(error.problems.map((p) => [p.path, p.message])).toEqual([
      ['workflow.watchlist[1]', 'not a plate: plate has no letter or digit'],
      ['workflow.watchlist[2]', 'not a plate: plate has no letter or digit'],
      ['workflow.watchlist[3]', 'not a plate: plate contains U+4EAC, not a Latin letter or digit'],
    ]);
  });

  it("refuses a weighbridge setting of another protocol or mode, naming the key, its path and whose it is (they were ignored)", () => {
    const withDevice = (device: string): string => VALID.replace(/ {6}- id: cam-1\n[\s\S]*?password: \{ env: CAM_PW \} \}\n/, `      - ${device}\n`);
    const wb = (settings: string): string => withDevice(`{ id: wb-1, connection: { host: 127.0.0.1, port: 4001 }, ${settings} }`);
    const problems = (settings: string) => problemsOf(wb(settings)).problems.map((p) => [p.path, p.message, p.line]);
    expect(problems('driver: sma, checksum: true')).toEqual([['lanes[0].devices[0].checksum', 'unknown key "checksum": a setting of driver toledo, not of sma', 7]]);
    expect(problems('driver: toledo, smaMode: poll, unit: t')).toEqual([
      ['lanes[0].devices[0].smaMode', 'unknown key "smaMode": a setting of driver sma, not of toledo', 7],
      ['lanes[0].devices[0].unit', 'unknown key "unit": a setting of driver pattern, not of toledo', 7],
    ]);
    expect(problems('driver: pattern, pattern: "(?<weight>[0-9]+)", pollMs: 100')).toEqual([['lanes[0].devices[0].pollMs', 'unknown key "pollMs": a setting of driver sma, not of pattern', 7]]);
    expect(problems('driver: sma, pollMs: 100')).toEqual([['lanes[0].devices[0].pollMs', 'applies only with smaMode: poll (set it, or remove pollMs)', 7]]);
    expect(problems('driver: toledo, vehicleGapMs: 2000')).toEqual([['lanes[0].devices[0].vehicleGapMs', 'applies only with axleMode: true (set it, or remove vehicleGapMs)', 7]]);
    expect(problems('driver: pattern')).toEqual([['lanes[0].devices[0].pattern', 'is required (string)', 7]]);
    expect(problemsOf(withDevice('{ id: cam-1, driver: anpr-http-push, connection: { path: /anpr }, rescanMs: 500 }')).problems.map((p) => p.message)).toEqual(['unknown key "rescanMs": a setting of driver xray-folder, not of anpr-http-push']);
    // A key no driver takes is still just unknown.
    expect(problems('driver: sma, colour: red')).toEqual([['lanes[0].devices[0].colour', 'unknown key "colour"', 7]]);
    // Each protocol's own settings, and the modes' settings with their mode, pass.
    const device = (settings: string) => parseConfigText(wb(settings)).lanes[0]?.devices[0];
    expect(device('driver: sma, smaMode: poll, pollMs: 100, axleMode: true, vehicleGapMs: 2000')).toMatchObject({ driver: 'sma', smaMode: 'poll', pollMs: 100, axleMode: true, vehicleGapMs: 2000 });
    expect(device('driver: toledo, checksum: true')).toMatchObject({ driver: 'toledo', checksum: true });
    expect(device('driver: pattern, pattern: "(?<weight>[0-9]+)", unit: t')).toMatchObject({ driver: 'pattern', unit: 't' });
  });

  it('takes post, lane and device ids of up to 63 characters, the bound the contract publishes, and refuses one longer', () => {
    const at = 'a'.repeat(MAX_ID_LENGTH);
    const past = 'b'.repeat(MAX_ID_LENGTH + 1);
    const config = parseConfigText(VALID.replace('id: p1', `id: ${at}`).replace('id: lane-1', `id: ${at}`).replace('id: cam-1', `id: ${at}`));
    expect([config.post.id, config.lanes[0]?.id, config.lanes[0]?.devices[0]?.id]).toEqual([at, at, at]);
    const error = problemsOf(VALID.replace('id: p1', `id: ${past}`).replace('id: lane-1', `id: ${past}`).replace('id: cam-1', `id: ${past}`));
    expect(error.problems.map((p) => [p.path, p.message])).toEqual([
      ['post.id', `must be ${ID_RULE}`],
      ['lanes[0].id', `must be ${ID_RULE}`],
      ['lanes[0].devices[0].id', `must be ${ID_RULE}`],
    ]);
  });

  it('refuses a lane id the topic tree keeps: post (post-wide events) and commands (its events came back as VMC commands)', () => {
    for (const id of ['post', 'commands']) {
      expect(problemsOf(VALID.replace('id: lane-1', `id: ${id}`)).problems.map((p) => [p.path, p.line, p.message]), id).toEqual([
        ['lanes[0].id', 5, "is kept by the topic tree (post, commands: post-wide events, the VMC's commands): give the lane another id"],
      ]);
    }
    // As a post or device id, or within a lane id, they are only words.
    expect(parseConfigText(VALID.replace('id: p1', 'id: post').replace('id: lane-1', 'id: post-commands').replace('id: cam-1', 'id: commands')).lanes[0]?.id).toBe('post-commands');
  });

  it("refuses every duration past Node's longest timer (2^31-1 ms), which would fire at once, and takes one at it", () => {
    const post = (devices: string, extra = '') => `${VALID.replace(/ {6}- id: cam-1\n[\s\S]*?password: \{ env: CAM_PW \} \}\n/, devices)}${extra}`;
    const onvif = (settings: string) => `      - { id: cam-1, driver: onvif, connection: { url: "http://127.0.0.1:8081/onvif", username: a, password: b }, ${settings} }\n`;
    const barrier = (settings: string) => `      - { id: bar-1, driver: modbus-tcp, connection: { host: 127.0.0.1, port: 502 }, ${settings} }\n`;
    const sma = (settings: string) => `      - { id: wb-1, driver: sma, connection: { host: 127.0.0.1, port: 4001 }, ${settings} }\n`;
    const folder = (settings: string) => `      - { id: xr-1, driver: xray-folder, connection: { folder: /srv/xray }, ${settings} }\n`;
    const cases: [path: string, text: (value: number) => string, at: number, alsoTold?: string[]][] = [
      ['lanes[0].devices[0].requestTimeoutMs', (v) => post(onvif(`requestTimeoutMs: ${v}`)), MAX_TIMER_MS],
      ['lanes[0].devices[0].subscriptionSec', (v) => post(onvif(`subscriptionSec: ${v}`)), Math.floor(MAX_TIMER_MS / 1000)],
      ...(['pollMs', 'pulseMs', 'confirmTimeoutMs', 'requestTimeoutMs'] as const).map((key): [string, (value: number) => string, number] => [`lanes[0].devices[0].${key}`, (v) => post(barrier(`${key}: ${v}`)), MAX_TIMER_MS]),
      ['lanes[0].devices[0].stableMs', (v) => post(sma(`stableMs: ${v}`)), MAX_TIMER_MS],
      ['lanes[0].devices[0].silenceMs', (v) => post(sma(`silenceMs: ${v}`)), MAX_TIMER_MS],
      ['lanes[0].devices[0].pollMs', (v) => post(sma(`smaMode: poll, pollMs: ${v}`)), MAX_TIMER_MS],
      ['lanes[0].devices[0].vehicleGapMs', (v) => post(sma(`axleMode: true, vehicleGapMs: ${v}`)), MAX_TIMER_MS],
      ['lanes[0].devices[0].rescanMs', (v) => post(folder(`rescanMs: ${v}`)), MAX_TIMER_MS],
      ['uplink.publishTimeoutMs', (v) => VALID.replace('  brokers:', `  publishTimeoutMs: ${v}\n  brokers:`), MAX_TIMER_MS],
      ['uplink.refusedRetryMs', (v) => VALID.replace('  brokers:', `  refusedRetryMs: ${v}\n  brokers:`), MAX_TIMER_MS],
      ['uplink.reconnect.maxMs', (v) => VALID.replace('  brokers:', `  reconnect: { initialMs: 1, maxMs: ${v} }\n  brokers:`), MAX_TIMER_MS],
      // (Past the bound initialMs is also past maxMs, which is told too.)
      ['uplink.reconnect.initialMs', (v) => VALID.replace('  brokers:', `  reconnect: { initialMs: ${v}, maxMs: ${MAX_TIMER_MS} }\n  brokers:`), MAX_TIMER_MS, ['uplink.reconnect.maxMs']],
      ['workflow.abandonAfterMin', (v) => `${VALID}workflow: { abandonAfterMin: ${v} }\n`, Math.floor(MAX_TIMER_MS / 60_000)],
    ];
    for (const [path, text, at, alsoTold = []] of cases) {
      expect(() => parseConfigText(text(at)), `${path} at ${at}`).not.toThrow();
      expect(problemsOf(text(at + 1)).problems.map((p) => p.path).sort(), `${path} at ${at + 1}`).toEqual([path, ...alsoTold].sort());
    }
  });

  it('refuses a barrier address Modbus cannot carry, and inputs one read cannot span (the barrier never came up)', () => {
    const barrier = (registers: string) => VALID.replace(/ {6}- id: cam-1\n[\s\S]*?password: \{ env: CAM_PW \} \}\n/, `      - { id: bar-1, driver: modbus-tcp, connection: { host: 127.0.0.1, port: 502 }, registers: { ${registers} } }\n`);
    expect(problemsOf(barrier('openCoil: 65536, closeCoil: 1, openLimitInput: 0, closedLimitInput: 1, loopInput: 2, photocellInput: 3')).problems.map((p) => p.path)).toEqual(['lanes[0].devices[0].registers.openCoil']);
    expect(problemsOf(barrier('openCoil: 0, closeCoil: 1, openLimitInput: 0, closedLimitInput: 1, loopInput: 2, photocellInput: 2000')).problems.map((p) => [p.path, p.message])).toEqual([
      ['lanes[0].devices[0].registers.photocellInput', 'the four inputs span 2001 addresses: they are read in one request, which Modbus bounds at 2000'],
    ]);
    const config = parseConfigText(barrier('openCoil: 65535, closeCoil: 0, openLimitInput: 63000, closedLimitInput: 63001, loopInput: 64998, photocellInput: 64999'));
    expect(config.lanes[0]?.devices[0]).toMatchObject({ registers: { openCoil: 65_535, photocellInput: 64_999 } });
  });

  it('refuses an empty TLS, model or key path, which was skipped as if not given, and a client certificate without its key or a key without its certificate', () => {
    const tls = (settings: string) => VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', `  brokers: [mqtts://127.0.0.1:8883]\n  tls: { ${settings} }`);
    const problems = (text: string) => problemsOf(text).problems.map((p) => [p.path, p.message]);
    expect(problems(tls('ca: "", cert: "", key: ""'))).toEqual([
      ['uplink.tls.ca', 'Too small: expected string to have >=1 characters'],
      ['uplink.tls.cert', 'Too small: expected string to have >=1 characters'],
      ['uplink.tls.key', 'Too small: expected string to have >=1 characters'],
    ]);
    expect(problems(tls('ca: /etc/bg/ca.pem, cert: /etc/bg/gw.pem'))).toEqual([['uplink.tls.key', 'is required with cert: the client certificate is sent only with its key']]);
    expect(problems(tls('key: { file: /etc/bg/gw.key }'))).toEqual([['uplink.tls.cert', 'is required with key: the client key is used only with its certificate']]);
    expect(parseConfigText(tls('ca: /etc/bg/ca.pem, cert: /etc/bg/gw.pem, key: { file: /etc/bg/gw.key }')).uplink.tls).toMatchObject({ ca: '/etc/bg/ca.pem', cert: '/etc/bg/gw.pem' });
    expect(parseConfigText(tls('ca: /etc/bg/ca.pem')).uplink.tls).toMatchObject({ ca: '/etc/bg/ca.pem' });
    // Only plain brokers: the TLS settings would be ignored, and the link believed encrypted.
    const plainOnly = (brokers: string) => VALID.replace('  brokers: [mqtt://127.0.0.1:1883]', `  brokers: ${brokers}\n  tls: { ca: /etc/bg/ca.pem }`);
    expect(problems(plainOnly('[mqtt://127.0.0.1:1883, "ws://vmc.example/mqtt"]'))).toEqual([
      ['uplink.tls', 'is used only with an mqtts://, ssl:// or wss:// broker, and every broker here is plain: name the brokers with a TLS scheme'],
    ]);
    expect(parseConfigText(plainOnly('[mqtt://127.0.0.1:1883, "wss://vmc.example/mqtt"]')).uplink.tls).toMatchObject({ ca: '/etc/bg/ca.pem' });
    expect(problems(`${VALID}models: { risk: "", xrayScreening: "", publicKeys: [""] }\ncommands: { publicKeys: [""] }\n`).map(([path]) => path)).toEqual([
      'models.risk',
      'models.xrayScreening',
      'models.publicKeys[0]',
      'commands.publicKeys[0]',
    ]);
    expect(parseConfigText(`${VALID}models: { risk: null, xrayScreening: null }\n`).models).toMatchObject({ risk: null, xrayScreening: null });
  });

  it('validates every example post', () => {
    const dir = join(import.meta.dirname, 'examples');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) expect(() => loadConfigFile(join(dir, file))).not.toThrow();
  });

  it("validates the README's example configuration", () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] as string).filter((text) => text.startsWith('version: 1'));
    expect(examples.length).toBeGreaterThanOrEqual(1);
    for (const text of examples) expect(() => parseConfigText(text, 'README.md')).not.toThrow();
  });

  it('names an unreadable file', () => {
    expect(() => loadConfigFile('/nonexistent/post.yaml')).toThrow(/GW_ERR_CONFIG_READ|nonexistent/);
  });

  it('reads no more than its bound of a file that never ends or is far too large', () => {
    expect(() => loadConfigFile('/dev/zero')).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG_READ', message: expect.stringContaining(`larger than ${MAX_CONFIG_BYTES} bytes`) as unknown }));
    const large = join(mkdtempSync(join(tmpdir(), 'config-')), 'post.yaml');
    writeFileSync(large, `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect(() => loadConfigFile(large)).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG_READ' }));
    // At the bound, read whole (and found to be no configuration).
    writeFileSync(large, `#${'x'.repeat(MAX_CONFIG_BYTES - 2)}\n`);
    expect(() => loadConfigFile(large)).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG_INVALID' }));
  });

  it('refuses a file of aliases that expand without end as a syntax error, not a crash', () => {
    const levels = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 9; level += 1) levels.push(`a${level}: &a${level} [${Array.from({ length: 10 }, () => `*a${level - 1}`).join(', ')}]`);
    expect(() => parseConfigText(levels.join('\n'), 'bomb.yaml')).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG_SYNTAX', message: expect.stringContaining('bomb.yaml: 1 problem(s)') as unknown }));
  });

  it('keeps the committed JSON Schema in step with the zod schema', () => {
    expect(readFileSync(POST_CONFIG_SCHEMA_FILE, 'utf8')).toBe(postConfigJsonSchema());
  });
});
