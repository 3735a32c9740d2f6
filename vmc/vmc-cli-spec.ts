/**
 * The forms of `border-gateway vmc …`, declared once: the gateway's dispatcher prints their help
 * and checks a command line with them before loading the VMC; vmc-cli.ts parses with the same
 * forms. Light on purpose: nothing here imports the VMC's code.
 */
import { defineForm, type CommandSpec, type OptionSpec } from '../core/command-line.js';

const STORE = {
  store: { type: 'string', value: 'sqlite:PATH|postgres://…', help: 'the VMC store (default $VMC_STORE, else sqlite:vmc.db)' },
} as const satisfies Record<string, OptionSpec>;

export const VMC_RUN_FORM = defineForm({
  path: 'vmc',
  summary:
    'The reference central consumer: an MQTT 5 shared subscription to every post, each event validated and stored once, seq gaps per gateway, the TRS API and the dashboards. Broker credentials from the URL or $VMC_MQTT_USERNAME/$VMC_MQTT_PASSWORD.',
  options: {
    mqtt: { type: 'string', value: 'URL', required: true, help: 'the broker (mqtt://, mqtts://, ws://, wss://)' },
    ...STORE,
    http: { type: 'string', value: 'HOST:PORT', help: 'API and dashboards (default 127.0.0.1:8090)' },
    group: { type: 'string', value: 'NAME', help: 'shared-subscription group; instances in one group split the load (default vmc)' },
    name: { type: 'string', value: 'NAME', help: 'this instance\'s name, stable and unique in its group: its MQTT client id is vmc-GROUP-NAME' },
    topic: { type: 'string', value: 'FILTER', help: 'the topic filter under the share (default border/v1/+/#)' },
    connections: { type: 'string', value: 'N', help: 'subscriber connections, 1-16 (default 1)' },
    'max-message-bytes': { type: 'string', value: 'N', help: 'largest message accepted, 1024-16777216 (default 256 KiB)' },
    'gap-grace': { type: 'string', value: 'SEC', help: 'seconds a seq gap may stay open (events may arrive out of order) before it is reported (default 10)' },
    'log-level': { type: 'string', value: 'LEVEL', help: 'pino log level: fatal, error, warn, info, debug, trace, silent (default info)' },
    'command-key': { type: 'string', value: 'PEM', help: "the VMC's command-signing key (vmc keygen): admins may then send watchlists and models from the dashboard" },
    'evidence-days': { type: 'string', value: 'N', help: 'days a verified piece of evidence is kept after it arrived, 0-36500; 0 keeps every piece (default 400)' },
  },
});

export const VMC_USER_ADD_FORM = defineForm({
  path: 'vmc user add',
  operands: ['NAME'],
  summary: 'Adds a dashboard account; the password comes from a prompt or stdin.',
  options: { role: { type: 'string', value: 'analyst|admin', required: true, help: 'what the account may do' }, ...STORE },
  notes: ['A password is read from a prompt without echo, or from standard input when it is not a terminal.'],
});

export const VMC_USER_LIST_FORM = defineForm({
  path: 'vmc user list',
  summary: 'Lists the dashboard accounts.',
  options: { ...STORE },
});

export const VMC_LOAD_HISTORY_FORM = defineForm({
  path: 'vmc load-history',
  summary: 'Fills the store with simulated crossings of past days, for the year-over-year dashboards.',
  options: {
    posts: { type: 'string', value: 'A,B,…', required: true, help: 'post ids (a-z 0-9 -)' },
    from: { type: 'string', value: 'YYYY-MM-DD', help: 'first day (default 1 January two years ago)' },
    days: { type: 'string', value: 'N', help: 'days to fill, 1-3660 (default 730)' },
    'per-day': { type: 'string', value: 'N', help: 'crossings per post and day, 1-5000 (default 120)' },
    seed: { type: 'string', value: 'N', help: 'random seed (default 11)' },
    ...STORE,
  },
});

export const VMC_EXPORT_TRAINING_FORM = defineForm({
  path: 'vmc export-training',
  summary: 'Writes every completed, assessed crossing as a training row for `model train --from`: the features its decision used, and its X-ray and inspection outcomes (null where none).',
  options: {
    out: { type: 'string', value: 'FILE', required: true, help: 'the JSON lines file to write' },
    from: { type: 'string', value: 'DATE', help: 'first completion time: YYYY-MM-DD (UTC) or RFC 3339 with offset' },
    to: { type: 'string', value: 'DATE', help: 'completion time before which to stop (exclusive)' },
    posts: { type: 'string', value: 'A,B,…', help: 'only these posts (default all)' },
    ...STORE,
  },
});

// Signed commands to the posts (vmc/commands/command-cli.ts).
const COMMAND_SEND = {
  posts: { type: 'string', value: 'A,B,…', required: true, help: 'the posts it is for (a-z 0-9 -)' },
  key: { type: 'string', value: 'PEM', required: true, help: "the VMC's command-signing private key (vmc keygen)" },
  mqtt: { type: 'string', value: 'URL', required: true, help: 'the broker; credentials in the URL or $VMC_MQTT_USERNAME/$VMC_MQTT_PASSWORD' },
  version: { type: 'string', value: 'N', help: 'the command version (default: one above the highest the store knows for this kind; at most 1000 above it)' },
  'topic-root': { type: 'string', value: 'TEMPLATE', help: "the posts' uplink.topicRoot (default border/v1/{postId})" },
  store: { type: 'string', value: 'sqlite:PATH|postgres://…', help: 'the VMC store (default $VMC_STORE, else sqlite:vmc.db)' },
} as const satisfies Record<string, OptionSpec>;

export const VMC_KEYGEN_FORM = defineForm({
  path: 'vmc keygen',
  summary: "Makes the VMC's ed25519 command-signing key pair: the private key stays at the VMC, the public key goes into each post's commands.publicKeys.",
  options: { out: { type: 'string', value: 'DIR', required: true, help: 'where to write vmc-command.key.pem (0600) and vmc-command.pub.pem' } },
});

export const VMC_COMMAND_WATCHLIST_FORM = defineForm({
  path: 'vmc command watchlist',
  summary: 'Sends a whole watchlist (one plate a line, # comments) to posts, signed; each post answers command.applied or command.refused.',
  options: {
    file: { type: 'string', value: 'PLATES.txt', help: 'the plates, one a line (required unless --clear)' },
    clear: { type: 'boolean', help: "send a list without plates, which clears the posts' watchlists (an empty --file alone is refused)" },
    ...COMMAND_SEND,
  },
});

export const VMC_COMMAND_MODEL_FORM = defineForm({
  path: 'vmc command rollout-model',
  summary: 'Rolls a signed model (its manifest and the ONNX file beside it) out to posts; each loads it only if its model keys verify it and it is newer.',
  options: { manifest: { type: 'string', value: 'M.json', required: true, help: 'the signed model manifest (model train / model sign)' }, ...COMMAND_SEND },
});

/** A request names one post and takes the next version of its kind: the sending options alone. */
const COMMAND_CONNECTION = { key: COMMAND_SEND.key, mqtt: COMMAND_SEND.mqtt, 'topic-root': COMMAND_SEND['topic-root'], store: COMMAND_SEND.store } as const satisfies Record<string, OptionSpec>;

export const VMC_COMMAND_EVIDENCE_FORM = defineForm({
  path: 'vmc command request-evidence',
  summary:
    "Asks one post for pieces of evidence in full (e.g. the X-ray image a thumbnail's `of` names), signed; the post sends what it holds as evidence.chunk events and answers command.applied or command.refused. Earlier requests to the post not yet answered are carried along; what the store holds already is not asked for.",
  options: {
    post: { type: 'string', value: 'POST', required: true, help: 'the post that holds it (a-z 0-9 -)' },
    digest: { type: 'string', multiple: true, value: 'sha256:HEX', required: true, help: 'a piece to send, by digest (up to 100)' },
    ...COMMAND_CONNECTION,
  },
});

export const VMC_COMMAND_FORMS = [VMC_KEYGEN_FORM, VMC_COMMAND_WATCHLIST_FORM, VMC_COMMAND_MODEL_FORM, VMC_COMMAND_EVIDENCE_FORM];

export const VMC: CommandSpec = {
  name: 'vmc',
  summary: 'the central consumer (vmc --mqtt URL), its accounts, history and training export',
  forms: [VMC_RUN_FORM, VMC_USER_ADD_FORM, VMC_USER_LIST_FORM, VMC_LOAD_HISTORY_FORM, VMC_EXPORT_TRAINING_FORM, ...VMC_COMMAND_FORMS],
};
