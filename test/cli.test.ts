/**
 * The command line as an integrator meets it: `config check` and the demo that `npm start` runs,
 * each as a real child process.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listCommands } from '../gateway/cli.js';
import { Collector, type Received } from './helpers/collector.js';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess, REPO_ROOT } from './helpers/gateway-process.js';
import { tempDir } from './helpers/test-config.js';

/** The CLI run from `cwd` (the test helper's runs from the repository), its output as written. */
function runCli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // `--import tsx` is resolved from the working directory: name the repository's loader instead.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsx, join(REPO_ROOT, 'gateway', 'cli.ts'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('border-gateway config check', () => {
  it('says ok for the example posts', async () => {
    for (const file of ['config/examples/demo-post.yaml', 'config/examples/demo-four-lane.yaml', 'config/examples/four-lane-post.yaml']) {
      const run = new GatewayProcess(['config', 'check', file]);
      expect((await run.exited).code).toBe(0);
      expect(run.stdout.join('\n')).toMatch(/: ok \(post [a-z-]+, \d lanes, \d+ devices\)/);
    }
  });

  it('counts a one-lane post in the singular', async () => {
    const file = join(tempDir(), 'one-lane.yaml');
    writeFileSync(file, ['version: 1', 'post: { id: p1 }', 'lanes:', '  - id: lane-1', '    devices:', '      - { id: gate, driver: modbus-tcp, connection: { host: 127.0.0.1, port: 502 } }', 'uplink:', '  brokers: [mqtt://x:1883]', ''].join('\n'));
    const run = new GatewayProcess(['config', 'check', file]);
    expect((await run.exited).code).toBe(0);
    expect(run.stdout).toEqual([`${file}: ok (post p1, 1 lane, 1 device)`]);
  });

  it('lists every problem with file, line and path, and exits 78', async () => {
    const file = join(tempDir(), 'bad.yaml');
    writeFileSync(
      file,
      ['version: 1', 'post: { id: p1 }', 'lanes:', '  - id: lane-1', '    devices:', '      - { id: cam, driver: onvif }', 'uplink:', '  brokers: [mqtt://x:1883]', '  keepaliveSec: "30"', '  tls: { certificate: a.pem }', ''].join('\n'),
    );
    const run = new GatewayProcess(['config', 'check', file]);
    expect((await run.exited).code).toBe(78);
    const text = run.stderrText.join('\n');
    expect(text).toContain('GW_ERR_CONFIG_INVALID');
    expect(text).toContain(`${file}:6:9 lanes[0].devices[0].connection: is required (object)`);
    expect(text).toContain(`${file}:9:17 uplink.keepaliveSec: Invalid input: expected number, received string`);
    expect(text).toContain(`${file}:10:10 uplink.tls.certificate: unknown key "certificate"`);
  });

  it("prints the README's example byte for byte, for the README's post.yaml, and exits 78", async () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    // A plain fence: config/load-config.test.ts holds every ```yaml block of the README valid.
    const example = /this `post\.yaml`\s+```\n([\s\S]*?)```\s+`border-gateway config check post\.yaml` prints[^`]*```\n([\s\S]*?)```/.exec(readme);
    expect(example, "the README's config check example (its post.yaml, then what the command prints)").not.toBeNull();
    const [, input, printed] = example as unknown as [string, string, string];
    const dir = tempDir();
    writeFileSync(join(dir, 'post.yaml'), input);
    // Run where the file is, as the README does, so the file is named as there: `post.yaml`.
    const run = await runCli(['config', 'check', 'post.yaml'], dir);
    expect(run.code).toBe(78);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(printed);
  });

  it("refuses a duration past Node's longest timer, which run would have fired at once (every crossing abandoned on arrival), and exits 78", async () => {
    const file = join(tempDir(), 'timer.yaml');
    // 40,000 minutes is 2.4e9 ms: Node runs such a timer after 1 ms.
    writeFileSync(file, ['version: 1', 'post: { id: p1 }', 'lanes:', '  - id: lane-1', 'uplink:', '  brokers: [mqtt://x:1883]', 'workflow:', '  abandonAfterMin: 40000', ''].join('\n'));
    const run = new GatewayProcess(['config', 'check', file]);
    expect((await run.exited).code).toBe(78);
    expect(run.stderrText.join('\n')).toContain(`${file}:8:20 workflow.abandonAfterMin: Too big: expected number to be <=35791`);
  });

  it('reports a YAML syntax error with its line, and exits 78', async () => {
    const file = join(tempDir(), 'broken.yaml');
    writeFileSync(file, 'version: 1\npost:\n  id: "p1\n');
    const run = new GatewayProcess(['config', 'check', file]);
    expect((await run.exited).code).toBe(78);
    expect(run.stderrText.join('\n')).toMatch(/GW_ERR_CONFIG_SYNTAX[\s\S]*broken\.yaml:\d+:\d+/);
  });

  it('rejects an unknown command, listing the valid ones, with exit 64', async () => {
    const run = new GatewayProcess(['fly']);
    expect((await run.exited).code).toBe(64);
    expect(run.stderrText.join('\n')).toContain(`unknown command "fly"; valid: ${listCommands().map((command) => command.name).join(', ')}`);
    expect(listCommands().map((command) => command.name)).toEqual(expect.arrayContaining(['demo', 'run', 'sim', 'config', 'model', 'trs', 'user', 'client', 'audit', 'vmc', 'help']));
  });
});

describe('border-gateway run with a secret it cannot read', () => {
  it('refuses before it opens anything, as config check --secrets says it, and exits 78', async () => {
    const dir = tempDir();
    const file = join(dir, 'post.yaml');
    const data = join(dir, 'data');
    writeFileSync(
      file,
      [
        'version: 1',
        'post: { id: p1 }',
        'lanes:',
        '  - id: lane-1',
        '    devices:',
        '      - { id: cam, driver: onvif, connection: { url: "http://127.0.0.1:9/onvif/device_service", username: gw, password: { env: BG_TEST_UNSET_CAMERA_PASSWORD } } }',
        `uplink: { brokers: ["mqtt://127.0.0.1:${await freePort()}"] }`,
        'http: { port: 0 }',
        `commands: { publicKeys: [${join(dir, 'vmc.pub.pem')}] }`,
        '',
      ].join('\n'),
    );
    const check = new GatewayProcess(['config', 'check', file, '--secrets']);
    expect((await check.exited).code).toBe(78);
    const run = new GatewayProcess(['run', '--config', file, '--data', data]);
    expect((await run.exited).code).toBe(78);
    const said = run.stderrText.filter((line) => line.trim() !== '');
    expect(said).toEqual(check.stderrText.filter((line) => line.trim() !== ''));
    expect(said.join('\n')).toContain('lanes[0].devices[0].connection.password: environment variable BG_TEST_UNSET_CAMERA_PASSWORD is not set');
    expect(said.join('\n')).toContain(`commands.publicKeys[0]: cannot read ${join(dir, 'vmc.pub.pem')} (ENOENT)`);
    // No outbox was opened, no listener started: the data directory was never made.
    expect(existsSync(data)).toBe(false);
    expect(run.stdout.join('\n')).toBe('');
  });
});

describe('border-gateway run --mqtt URL', () => {
  // A process that took the URL would run on: killed after the test, whatever it did.
  const started: GatewayProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => child.kill('SIGKILL')));
  });

  it('checks the URL as config check checks uplink.brokers: no host, port 0, another scheme or no URL is exit 64 before anything opens', async () => {
    const dir = tempDir();
    const file = join(dir, 'post.yaml');
    writeFileSync(file, ['version: 1', 'post: { id: p1 }', 'lanes: [{ id: lane-1 }]', `uplink: { brokers: ["mqtt://127.0.0.1:${await freePort()}"] }`, 'http: { port: 0 }', ''].join('\n'));
    const cases: [string, string][] = [
      ['mqtt://', 'names no host'],
      ['mqtts://:8883', 'not a valid URL'],
      ['mqtt://broker:0', 'port 0 is no broker'],
      ['mqtt://broker:70000', 'not a valid URL'],
      ['http://broker:1883', 'must be a URL such as mqtt://host:1883'],
      ['', 'must be a URL such as mqtt://host:1883'],
    ];
    for (const [url, problem] of cases) {
      const data = join(dir, 'data');
      const run = new GatewayProcess(['run', '--config', file, '--data', data, '--mqtt', url]);
      started.push(run);
      expect((await run.exited).code, url).toBe(64);
      const said = run.stderrText.join('\n');
      expect(said, url).toContain(`GW_ERR_CLI_USAGE: --mqtt "${url}": `);
      expect(said, url).toContain(problem);
      // Nothing was opened: no data directory, no outbox, no uplink to localhost.
      expect(existsSync(data), url).toBe(false);
    }
    // The same check on demo and the VMC.
    const demo = new GatewayProcess(['demo', '--mqtt', 'mqtt://', '--data', join(dir, 'demo')]);
    started.push(demo);
    expect((await demo.exited).code).toBe(64);
    expect(demo.stderrText.join('\n')).toContain('names no host');
    expect(existsSync(join(dir, 'demo'))).toBe(false);
    const vmc = new GatewayProcess(['vmc', '--mqtt', 'mqtt://', '--store', `sqlite:${join(dir, 'vmc.db')}`]);
    started.push(vmc);
    expect((await vmc.exited).code).toBe(64);
    expect(vmc.stderrText.join('\n')).toContain('names no host');
    expect(existsSync(join(dir, 'vmc.db'))).toBe(false);
  }, 60_000);
});

describe('border-gateway demo (what npm start runs)', () => {
  let demo: GatewayProcess | undefined;
  let collector: Collector | undefined;

  afterEach(async () => {
    await collector?.close();
    await demo?.kill('SIGKILL');
  });

  it('starts its own broker, prints how to watch, and events flow; /healthz and /metrics answer', async () => {
    // --free-ports alone moves the broker and the HTTP server too (not only the simulated devices),
    // so this demo cannot collide with `npm start` or another test; it prints the ports it took.
    demo = new GatewayProcess(['demo', '--speed', '3000', '--rate', '2', '--free-ports', '--data', tempDir()]);
    const watch = await demo.waitForStdout((line) => line.includes('mosquitto_sub'), 30_000, 'the watch line');
    const port = /-p (\d+)/.exec(watch)?.[1];
    expect(port).toBeDefined();
    expect(port).not.toBe('18830');
    expect(demo.stdout.join('\n')).toContain(`MQTT broker: mqtt://127.0.0.1:${port} (embedded)`);
    collector = await Collector.connect(`mqtt://127.0.0.1:${port}`, 'border/#', 4);
    await collector.waitFor((r) => r.some((m) => m.type === 'crossing.completed') && r.some((m) => m.type === 'vehicle.arrived'), 45_000, 'a completed crossing');

    const health = await demo.waitForStdout((line) => line.includes('/healthz'));
    const healthUrl = /(http:\/\/\S+\/healthz)/.exec(health)?.[1] as string;
    expect(new URL(healthUrl).port).not.toBe('18080');
    expect(demo.stdout.join('\n')).toContain(`console:     ${healthUrl.replace('/healthz', '/')}`);
    const report = (await (await fetch(healthUrl)).json()) as { status: string; uplink: { state: string } };
    expect(report).toMatchObject({ status: 'ok', uplink: { state: 'connected' } });
    const metrics = await (await fetch(healthUrl.replace('/healthz', '/metrics'))).text();
    expect(metrics).toMatch(/gateway_events_published_total\{type="vehicle.arrived"\} [1-9]/);
    expect(metrics).toContain('gateway_outbox_depth');
    expect(metrics).toContain('gateway_publish_latency_seconds_bucket');

    // The printed accounts: random passwords (none is a default), the lanes closed without one.
    const accounts = await demo.waitForStdout((line) => line.includes('accounts:'));
    const supervisorPassword = /demo-supervisor \/ (\S+)/.exec(accounts)?.[1] as string;
    expect(supervisorPassword).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const base = healthUrl.replace('/healthz', '');
    expect((await fetch(`${base}/api/lanes`)).status).toBe(401);
    const login = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'demo-supervisor', password: supervisorPassword, bearer: true }) });
    expect(login.status).toBe(201);
    const { token } = (await login.json()) as { token: string };
    const lanes = (await (await fetch(`${base}/api/lanes`, { headers: { authorization: `Bearer ${token}` } })).json()) as { laneId: string }[];
    expect(lanes.map((lane) => lane.laneId)).toEqual(['lane-1', 'lane-2']);

    const stopped = await demo.kill('SIGTERM');
    expect(stopped.code).toBe(0);
  });

  it('resumes its fast traffic clock after a restart, ahead of the crossings it carries over', async () => {
    const dataDir = tempDir();
    const lanesNow = async (process: GatewayProcess): Promise<{ viewAt: number; open: Map<string, number> }> => {
      const health = await process.waitForStdout((line) => line.includes('/healthz'), 30_000, 'the health line');
      const base = (/(http:\/\/\S+)\/healthz/.exec(health)?.[1]) as string;
      const accounts = await process.waitForStdout((line) => line.includes('accounts:'));
      const password = /demo-supervisor \/ (\S+)/.exec(accounts)?.[1] as string;
      const login = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'demo-supervisor', password, bearer: true }) });
      const { token } = (await login.json()) as { token: string };
      const lanes = (await (await fetch(`${base}/api/lanes`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        viewAt: string;
        crossings: { crossingId: string; arrivedAt?: string | null }[];
      }[];
      const open = new Map<string, number>();
      for (const lane of lanes) for (const crossing of lane.crossings) if (crossing.arrivedAt) open.set(crossing.crossingId, Date.parse(crossing.arrivedAt));
      return { viewAt: Math.min(...lanes.map((lane) => Date.parse(lane.viewAt))), open };
    };
    // ×3000 with a truck a minute of traffic time per lane: queues fill within seconds.
    const startedAt = Date.now();
    demo = new GatewayProcess(['demo', '--speed', '3000', '--rate', '60', '--free-ports', '--data', dataDir]);
    collector = await Collector.connect(`mqtt://127.0.0.1:${/-p (\d+)/.exec(await demo.waitForStdout((line) => line.includes('mosquitto_sub'), 30_000, 'the watch line'))?.[1]}`, 'border/#', 4);
    // Six arrivals, and traffic time two hours past the start (how soon the six come depends on
    // the machine and the uplink; the clock's lead over real time is what is tested below).
    const arrivals = (r: Received[]): Received[] => r.filter((m) => m.type === 'vehicle.arrived');
    await collector.waitFor((r) => arrivals(r).length >= 6 && arrivals(r).some((m) => Date.parse(String(m.event.time)) - startedAt > 2 * 3_600_000), 45_000, 'six arrivals, two hours of traffic time in');
    const before = await lanesNow(demo);
    expect(before.open.size).toBeGreaterThan(0);
    // A first start carries nothing over, and says nothing of it.
    expect(demo.stdout.some((line) => line.includes('carried over:'))).toBe(false);
    // Traffic time has run far ahead of the wall clock (hours at ×3000).
    expect(before.viewAt - Date.now()).toBeGreaterThan(60 * 60_000);
    expect((await demo.kill('SIGTERM')).code).toBe(0);
    await collector.close();
    collector = undefined;

    demo = new GatewayProcess(['demo', '--speed', '3000', '--rate', '60', '--free-ports', '--data', dataDir]);
    const banner = await demo.waitForStdout((line) => line.includes('traffic clock'), 30_000, 'the banner');
    expect(banner).toContain('resumed at');
    const after = await lanesNow(demo);
    expect(after.viewAt).toBeGreaterThanOrEqual(before.viewAt);
    const carried = [...before.open].filter(([id]) => after.open.has(id));
    expect(carried.length).toBeGreaterThan(0);
    // The banner says how many, that the simulator sends a truck for each (the test below), and how to start afresh.
    const note = await demo.waitForStdout((line) => line.includes('carried over:'), 30_000, 'the carried-over line');
    expect(Number(/carried over: (\d+) open crossings? of the last run; the simulator sends a truck for each one with a plate/.exec(note)?.[1])).toBeGreaterThanOrEqual(carried.length);
    expect(demo.stdout.join('\n')).toContain(`To start afresh: stop, rm -rf ${dataDir}`);
    // Every carried-over crossing arrived before the clock's present: its wait is not negative.
    for (const [id, arrived] of carried) expect(after.viewAt, id).toBeGreaterThanOrEqual(arrived);
  });

  it("sends a truck for each crossing it carries over, so the registered ones are weighed with their own weights", async () => {
    const dataDir = tempDir();
    const watch = async (process: GatewayProcess): Promise<Collector> =>
      Collector.connect(`mqtt://127.0.0.1:${/-p (\d+)/.exec(await process.waitForStdout((line) => line.includes('mosquitto_sub'), 30_000, 'the watch line'))?.[1]}`, 'border/#', 4);
    // npm start's clock, ten times its trucks: a queue forms at the weighbridges within a minute.
    const args = ['demo', '--speed', '120', '--rate', '60', '--free-ports', '--data', dataDir];
    demo = new GatewayProcess(args);
    collector = await watch(demo);
    // Registered vehicles waiting for the platform when the demo stops: the lanes carry them over.
    const waitingToWeigh = (r: Received[]): string[] => {
      const weighed = new Set(r.filter((m) => m.type === 'vehicle.weighed').map((m) => String(m.event.subject)));
      return r.filter((m) => m.type === 'vehicle.registered' && !weighed.has(String(m.event.subject))).map((m) => String(m.event.subject));
    };
    await collector.waitFor((r) => waitingToWeigh(r).length >= 4, 90_000, 'four registered vehicles waiting to be weighed');
    expect((await demo.kill('SIGTERM')).code).toBe(0);
    const declared = new Map(collector.received.filter((m) => m.type === 'vehicle.registered').map((m) => [String(m.event.subject), Number(m.event.data.declaredWeightKg)]));
    await collector.close();

    demo = new GatewayProcess(args);
    collector = await watch(demo);
    await demo.waitForStdout((line) => line.includes('carried over:'), 30_000, 'the carried-over line');
    // Weighed in this run (not replayed: those were weighed in the last, by its own trucks): each
    // with its declared weight, as the truck sent for it carries, within the simulated
    // indicator's noise (±5 kg). Before, nothing was sent for them: the new trucks' weights went
    // to them, each thousands of kg off, and every later truck was weighed with the next one's.
    const weighedNow = (r: Received[]): Received[] => r.filter((m) => m.type === 'vehicle.weighed' && !m.replayed && declared.has(String(m.event.subject)));
    await collector.waitFor((r) => weighedNow(r).length >= 3, 60_000, 'three carried-over vehicles weighed');
    for (const weighed of weighedNow(collector.received)) {
      const subject = String(weighed.event.subject);
      expect(Math.abs(Number(weighed.event.data.weightKg) - (declared.get(subject) as number)), subject).toBeLessThanOrEqual(5);
    }
  }, 180_000);
});
