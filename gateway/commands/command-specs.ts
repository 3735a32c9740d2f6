/**
 * The gateway's commands as the command line knows them: each form's options, operands and help,
 * declared once. The dispatcher (../cli.ts) reads these to print `--help` and to check a command
 * line before it loads the command's code; the command parses its arguments with the same form.
 * Nothing here may import a command's implementation: `run --help` must stay light.
 */
import { defineForm, type CommandSpec, type OptionSpec } from '../../core/command-line.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const logLevel = (fallback: string) => ({ type: 'string', value: 'LEVEL', help: `pino log level: ${LOG_LEVELS.join(', ')} (default ${fallback})` }) as const satisfies OptionSpec;

export const DEMO_FORM = defineForm({
  path: 'demo',
  summary:
    'The whole post on this machine: an embedded MQTT broker (unless --mqtt), the demo post\'s simulated devices and trucks, and the gateway reading them (drivers, lane workflow, models, outbox, uplink, console). `npm start` runs it.',
  options: {
    mqtt: { type: 'string', value: 'URL', help: 'forward to this broker instead of starting the embedded one' },
    speed: { type: 'string', value: 'N', help: 'traffic clock, times real time: queues and waits (default 120, a day in 12 min); devices keep real time' },
    rate: { type: 'string', value: 'N', help: 'trucks per lane per traffic-clock hour (default 6)' },
    duration: { type: 'string', value: 'SEC', help: 'stop after SEC real seconds (default: run until Ctrl-C)' },
    data: { type: 'string', value: 'DIR', help: 'data directory: outbox, accounts, X-ray drop folders (default data/demo; with --config, data/demo-ID by its post id)' },
    config: { type: 'string', value: 'FILE', help: 'another demo post (default config/examples/demo-post.yaml)' },
    'broker-port': { type: 'string', value: 'N', help: "the embedded broker's port (default 18830; a free one when taken)" },
    'http-port': { type: 'string', value: 'N', help: "the gateway's HTTP port: console, API, /healthz (default the config's, 18080; 0: a free one)" },
    'free-ports': { type: 'boolean', help: 'every simulated device, the HTTP server and the embedded broker on free ports (for demos and tests side by side); the URLs used are printed' },
    traffic: { type: 'string', value: 'post|synthetic', help: 'post: simulated devices and trucks (default); synthetic: made-up crossing events, no devices (load for the uplink)' },
    'control-port': { type: 'string', value: 'N', help: "also start the simulator's fault endpoint on 127.0.0.1:N (0: a free port) and print its curl line" },
    'log-level': logLevel('warn'),
  },
});

export const RUN_FORM = defineForm({
  path: 'run',
  summary:
    "The production gateway: a driver for every configured device, the lane workflow with the risk and screening models, the outbox, the MQTT uplink and the local HTTP server (console, lane API, /healthz, /metrics). SIGHUP reloads the models; SIGINT/SIGTERM stop gracefully.",
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: "the post's configuration (YAML; check it with `config check FILE`)" },
    data: { type: 'string', value: 'DIR', help: 'data directory: outbox database, accounts, audit log (default ./data)' },
    mqtt: { type: 'string', value: 'URL', help: "broker URL, instead of the configuration's uplink.brokers" },
    'log-level': logLevel("the configuration's logLevel"),
  },
});

export const SIM_FORM = defineForm({
  path: 'sim',
  summary:
    "Only the post's simulated hardware, on the endpoints its configuration names (ONVIF cameras, Modbus TCP barriers, weighbridge indicators, X-ray drop folders), with trucks that register at the gateway's lane API, for a gateway run elsewhere; plus a fault-injection endpoint.",
  options: {
    config: { type: 'string', value: 'FILE', required: true, help: "the post's configuration: which devices, on which ports" },
    credentials: { type: 'string', value: 'FILE', help: 'JSON {"registrationToken": "NAME.SECRET", "supervisor": {"name", "password"}} the simulated desk and inspectors log in with (default: nobody registers)' },
    interval: { type: 'string', value: 'SEC', help: 'mean traffic-clock seconds between trucks per lane (default 600)' },
    speed: { type: 'string', value: 'N', help: "the trucks' queues and waits run N times real time (default 1); devices keep real time" },
    'control-port': { type: 'string', value: 'N', help: 'the fault endpoint on 127.0.0.1:N (default 18090; 0: a free port)' },
    'no-traffic': { type: 'boolean', help: 'devices only, no trucks' },
    'snapshot-bytes': { type: 'string', value: 'N', help: "bytes of each camera snapshot, each one different, as a real camera's (100-500 KB) (default a 1x1 JPEG of 159 bytes, always the same)" },
  },
});

export const CONFIG_CHECK_FORM = defineForm({
  path: 'config check',
  operands: ['FILE'],
  summary: "Validates a post's configuration: every problem as FILE:LINE:COL path: message and exit 78, or a one-line summary and exit 0.",
  options: {
    secrets: {
      type: 'boolean',
      help: "also read every secret ({env: NAME}, {file: PATH}) and TLS file it names, as run does at start (GW_ERR_CONFIG_SECRET, exit 78); on the post, run it as the service's user with its environment, as install.sh does (default: the file only)",
    },
  },
});

export const CONFIG_SCHEMA_FORM = defineForm({
  path: 'config schema',
  summary: 'Prints the JSON Schema of the configuration (also config/post-config.schema.json).',
  options: {},
});

export const TRS_REPORT_FORM = defineForm({
  path: 'trs report',
  summary:
    'Time Release Study indicators from crossing.completed events: counts by direction, channel shares, X-ray share, registration and crossing times, and the interval table. Exactly one of --input, --outbox, --mqtt.',
  options: {
    input: { type: 'string', value: 'FILE', help: 'JSON lines, or `mosquitto_sub -v` output' },
    outbox: { type: 'string', value: 'DB', help: "a gateway's outbox database (only the events not yet delivered)" },
    mqtt: { type: 'string', value: 'URL', help: 'subscribe to a broker for --duration seconds' },
    topic: { type: 'string', value: 'FILTER', help: "with --mqtt: the topic filter (default 'border/#')" },
    duration: { type: 'string', value: 'SEC', help: 'with --mqtt: how long to listen (default 10)' },
    'protocol-version': { type: 'string', value: '5|4', help: 'with --mqtt: MQTT 5 (default: the broker sends no message larger than the largest event), or 3.1.1 for a broker without MQTT 5 (no such bound)' },
    format: { type: 'string', value: 'table|csv|json', help: 'output format (default table)' },
    interval: { type: 'string', value: 'MIN', help: 'width of the interval table\'s rows in minutes (default 10)' },
  },
});

export const MODEL_KEYGEN_FORM = defineForm({
  path: 'model keygen',
  summary: 'Makes an ed25519 key pair for signing model manifests: model-signing.key.pem (0600, keep it off the post) and model-signing.pub.pem (for models.publicKeys).',
  options: {
    out: { type: 'string', value: 'DIR', required: true, help: 'folder to write the two PEM files into' },
  },
});

export const MODEL_TRAIN_FORM = defineForm({
  path: 'model train',
  summary: 'Trains the risk and X-ray screening models on simulator-labelled data (or, with --from, the risk model on crossings the VMC exported), writes their ONNX files and signed manifests, and prints their held-out quality.',
  options: {
    key: { type: 'string', value: 'PEM', required: true, help: 'the private signing key (from model keygen)' },
    out: { type: 'string', value: 'DIR', required: true, help: 'folder for the models and their manifests' },
    version: { type: 'string', value: 'V', help: 'model version, dot-separated numbers newer than the running one (default today, e.g. 2026.11.26)' },
    seed: { type: 'string', value: 'N', help: 'random seed; the same seed gives the same models (default 42)' },
    rows: { type: 'string', value: 'N', help: 'training rows, at least 1000 (default 20000; a quarter more are held out)' },
    from: { type: 'string', value: 'FILE', help: 'train the risk model alone from labelled crossings (`vmc export-training` rows) instead of simulated data; not with --seed or --rows' },
  },
});

export const MODEL_VERIFY_FORM = defineForm({
  path: 'model verify',
  operands: ['MANIFEST'],
  summary: "Checks a manifest as a gateway does before loading: schema, signature by a trusted key, and the model file's sha256.",
  options: {
    'public-key': { type: 'string', value: 'PEM', multiple: true, help: 'a trusted public key (default the bundled models\' key)' },
  },
});

export const MODEL_SIGN_FORM = defineForm({
  path: 'model sign',
  operands: ['MANIFEST'],
  summary:
    "Signs a manifest written elsewhere (a model trained centrally or by another tool) with a private key the posts trust: fills in the model file's sha256 (or refuses a manifest whose sha256 does not match its file) and writes the signed manifest.",
  options: {
    key: { type: 'string', value: 'PEM', required: true, help: 'the private signing key (from model keygen)' },
    out: { type: 'string', value: 'FILE', help: 'write the signed manifest here (default: replace MANIFEST)' },
  },
});

/** Where the account commands find the gateway's database: as `run` does. */
const WHERE = {
  config: { type: 'string', value: 'FILE', required: true, help: "the post's configuration (it names the database)" },
  data: { type: 'string', value: 'DIR', help: "the gateway's data directory (default ./data)" },
} as const satisfies Record<string, OptionSpec>;

const NAME = ['NAME'] as const;

const PASSWORD_NOTE = 'A password is read from a prompt without echo, or from standard input when it is not a terminal (printf \'%s\\n\' "$PW" | border-gateway user add ...); never from the command line.';

export const USER_FORMS = [
  defineForm({ path: 'user add', operands: NAME, summary: 'Adds a person who logs in to the console and the lane API; the password comes from a prompt or stdin.', options: { role: { type: 'string', value: 'operator|supervisor|admin', required: true, help: 'what the person may do (SECURITY.md#roles)' }, ...WHERE }, notes: [PASSWORD_NOTE] }),
  defineForm({ path: 'user passwd', operands: NAME, summary: "Sets a person's password (prompt or stdin); their sessions end at their next request.", options: { ...WHERE }, notes: [PASSWORD_NOTE] }),
  defineForm({ path: 'user disable', operands: NAME, summary: 'Disables an account; its sessions end at their next request.', options: { ...WHERE } }),
  defineForm({ path: 'user enable', operands: NAME, summary: 'Enables a disabled account again.', options: { ...WHERE } }),
  defineForm({ path: 'user list', summary: 'Lists the accounts: name, role, enabled, last change.', options: { ...WHERE } }),
] as const;

export const CLIENT_FORMS = [
  defineForm({
    path: 'client add',
    operands: NAME,
    summary: 'Adds a machine client (the registration system, a push camera, an X-ray scanner) and prints its secret once.',
    options: {
      role: { type: 'string', value: 'registration|device', required: true, help: 'registration: the lane API; device: one device\'s push endpoint' },
      device: { type: 'string', value: 'ID', help: 'with --role device: the device id it may push for' },
      allow: { type: 'string', value: 'ADDR|CIDR', multiple: true, help: 'addresses it may call from (default anywhere)' },
      ...WHERE,
    },
  }),
  defineForm({ path: 'client rotate', operands: NAME, summary: "Gives a client a new secret, printed once; the old one stops working.", options: { ...WHERE } }),
  defineForm({ path: 'client disable', operands: NAME, summary: 'Disables a client.', options: { ...WHERE } }),
  defineForm({ path: 'client enable', operands: NAME, summary: 'Enables a disabled client again.', options: { ...WHERE } }),
  defineForm({ path: 'client list', summary: 'Lists the clients: name, role, device, enabled, allowed addresses.', options: { ...WHERE } }),
] as const;

export const AUDIT_FORMS = [
  defineForm({ path: 'audit verify', summary: "Checks the audit log's hash chain; exit 1 (GW_ERR_AUDIT_BROKEN) naming each broken entry.", options: { ...WHERE } }),
  defineForm({
    path: 'audit list',
    summary: 'Prints the newest audit entries, oldest first.',
    options: {
      search: { type: 'string', value: 'TEXT', help: 'only entries whose actor, action, crossing or values contain TEXT' },
      limit: { type: 'string', value: 'N', help: 'at most N entries (default 50)' },
      ...WHERE,
    },
  }),
] as const;

const ACCOUNT_NOTE = 'The gateway may be running: it reads accounts on every request, so a change acts at once. Every change is an audit entry by cli:<unix user>.';

export const DEMO: CommandSpec = { name: 'demo', summary: 'the whole post on this machine: simulated devices and trucks, gateway, embedded broker, console', forms: [DEMO_FORM] };
export const RUN: CommandSpec = { name: 'run', summary: 'the production gateway: run --config FILE', forms: [RUN_FORM] };
export const SIM: CommandSpec = { name: 'sim', summary: "only the post's simulated hardware and trucks, for a gateway elsewhere: sim --config FILE", forms: [SIM_FORM] };
export const CONFIG: CommandSpec = { name: 'config', summary: "validate a post's configuration, or print its JSON Schema", forms: [CONFIG_CHECK_FORM, CONFIG_SCHEMA_FORM] };
export const MODEL: CommandSpec = { name: 'model', summary: 'make signing keys, train, sign and verify edge models', forms: [MODEL_KEYGEN_FORM, MODEL_TRAIN_FORM, MODEL_SIGN_FORM, MODEL_VERIFY_FORM] };
export const TRS: CommandSpec = { name: 'trs', summary: 'TRS report from events (a file, an outbox or a broker)', forms: [TRS_REPORT_FORM] };
export const USER: CommandSpec = {
  name: 'user',
  summary: 'accounts of people (console, lane API)',
  forms: USER_FORMS,
  notes: [ACCOUNT_NOTE],
};
export const CLIENT: CommandSpec = { name: 'client', summary: 'credentials of machines (registration system, push devices)', forms: CLIENT_FORMS, notes: [ACCOUNT_NOTE] };
export const AUDIT: CommandSpec = { name: 'audit', summary: 'verify or list the hash-chained audit log', forms: AUDIT_FORMS };
export const HELP: CommandSpec = {
  name: 'help',
  summary: 'this list, or a command\'s help: help COMMAND',
  forms: [defineForm({ path: 'help', operands: ['[COMMAND]'], summary: "Prints the commands, or one command's forms and options.", options: {} })],
};
