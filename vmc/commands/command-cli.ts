/**
 * `border-gateway vmc keygen --out DIR` and `vmc command watchlist|rollout-model|request-evidence …`:
 * the VMC engineer's way to send signed commands to posts from a shell (docs/vmc.md, "Rolling out
 * a watchlist or a model" and "Evidence"). Prints the command's version and id, and where it was
 * published; the posts' answers then show on the dashboard and in GET /api/commands (evidence
 * requests: GET /api/evidence/requests).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../core/clock.js';
import { parseForm, usageError } from '../../core/command-line.js';
import { EXIT_CODES, GatewayError } from '../../core/errors.js';
import { writePrivateFile } from '../../core/private-files.js';
import { commandKeyId } from '../../contract/vmc-command.js';
import { VmcStore } from '../store/vmc-store.js';
import { VMC_COMMAND_EVIDENCE_FORM, VMC_COMMAND_MODEL_FORM, VMC_COMMAND_WATCHLIST_FORM, VMC_KEYGEN_FORM } from '../vmc-cli-spec.js';
import { requestEvidence } from '../evidence/request-evidence.js';
import { MAX_EVIDENCE_REQUEST_DIGESTS } from '../../contract/vmc-command.js';
import { rolloutFromManifest, sendCommand, watchlistFromText, type Broker } from './send-command.js';
import { ID_PATTERN as POST_ID } from '../../core/identifiers.js';

const DEFAULT_STORE = 'sqlite:vmc.db';

/** Reads an ed25519 private key (PEM); a usage error naming the file otherwise. */
export function readCommandKey(path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new GatewayError('GW_ERR_CLI_USAGE', `the command key ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new GatewayError('GW_ERR_CLI_USAGE', `the command key ${path} is ${String(key.asymmetricKeyType)}, not ed25519`);
  return key;
}

export async function commandCli(args: string[], out: (line: string) => void): Promise<number> {
  if (args[0] === 'keygen') {
    const { values } = parseForm(VMC_KEYGEN_FORM, args.slice(1));
    if (!values.out) throw usageError(VMC_KEYGEN_FORM.path, 'vmc keygen needs --out DIR');
    mkdirSync(values.out, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const privatePath = join(values.out, 'vmc-command.key.pem');
    writePrivateFile(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const publicPath = join(values.out, 'vmc-command.pub.pem');
    writeFileSync(publicPath, publicKey.export({ type: 'spki', format: 'pem' }));
    out(`key ${commandKeyId(publicKey)}: private ${privatePath} (keep it at the VMC), public ${publicPath} (each post's commands.publicKeys)`);
    return EXIT_CODES.ok;
  }
  const sub = args[1];
  if (sub === 'request-evidence') return requestEvidenceCli(args.slice(2), out);
  if (sub !== 'watchlist' && sub !== 'rollout-model') throw new GatewayError('GW_ERR_CLI_USAGE', 'vmc command needs a subcommand: watchlist, rollout-model, request-evidence');
  const form = sub === 'watchlist' ? VMC_COMMAND_WATCHLIST_FORM : VMC_COMMAND_MODEL_FORM;
  const watchlist = sub === 'watchlist' ? parseForm(VMC_COMMAND_WATCHLIST_FORM, args.slice(2)).values : null;
  const { clear, ...named } = watchlist ?? { clear: false };
  const values: Record<string, string | undefined> = watchlist ? named : parseForm(VMC_COMMAND_MODEL_FORM, args.slice(2)).values;
  const posts = (values.posts ?? '').split(',').filter((p) => p !== '');
  if (posts.length === 0 || posts.some((p) => !POST_ID.test(p))) throw usageError(form.path, '--posts takes A,B,… (post ids: a-z 0-9 -)');
  const version = values.version === undefined ? undefined : Number(values.version);
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) throw usageError(form.path, '--version takes an integer >= 1');
  const key = readCommandKey(values.key as string);
  if (watchlist && values.file === undefined && !clear) throw usageError(form.path, 'vmc command watchlist needs --file PLATES.txt (or --clear)');
  const content = watchlist ? await watchlistFromText(values.file === undefined ? '' : readFileSync(values.file, 'utf8'), clear === true) : rolloutFromManifest(values.manifest as string);
  const store = await VmcStore.open(values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE, systemClock.now());
  try {
    const { command, topics } = await sendCommand(
      store.commands,
      brokerOf(values.mqtt as string, values['topic-root']),
      key,
      { kind: sub === 'watchlist' ? 'watchlist.update' : 'model.rollout', payload: content.payload, summary: content.summary, postIds: posts, ...(version !== undefined ? { version } : {}), issuedBy: `cli:${commandKeyId(createPublicKey(key))}` },
      systemClock,
    );
    out(`${command.kind} version ${command.version} (${content.summary}), command ${command.commandId}, sent to ${topics.join(', ')}`);
    return EXIT_CODES.ok;
  } finally {
    await store.close();
  }
}

/** The broker of --mqtt: credentials from the URL (or $VMC_MQTT_USERNAME/$VMC_MQTT_PASSWORD) passed apart, so the URL printed holds none. */
function brokerOf(mqttUrl: string, topicRoot: string | undefined): Broker {
  const url = new URL(mqttUrl);
  const username = url.username ? decodeURIComponent(url.username) : process.env.VMC_MQTT_USERNAME;
  const password = url.password ? decodeURIComponent(url.password) : process.env.VMC_MQTT_PASSWORD;
  url.username = '';
  url.password = '';
  return { url: url.toString(), ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), ...(topicRoot ? { topicRoot } : {}) };
}

/** `vmc command request-evidence --post P --digest sha256:… …`: one post, up to 100 digests. */
async function requestEvidenceCli(args: string[], out: (line: string) => void): Promise<number> {
  const form = VMC_COMMAND_EVIDENCE_FORM;
  const { values } = parseForm(form, args);
  // parseForm has refused a missing --post, --digest, --key or --mqtt already.
  const post = values.post as string;
  const digests = values.digest as string[];
  if (!POST_ID.test(post)) throw usageError(form.path, '--post takes a post id (a-z 0-9 -)');
  if (digests.some((d) => !/^sha256:[0-9a-f]{64}$/.test(d))) throw usageError(form.path, '--digest takes sha256:<64 lowercase hex digits>');
  if (digests.length > MAX_EVIDENCE_REQUEST_DIGESTS) throw usageError(form.path, `at most ${MAX_EVIDENCE_REQUEST_DIGESTS} --digest in one request`);
  const key = readCommandKey(values.key as string);
  const store = await VmcStore.open(values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE, systemClock.now());
  try {
    const result = await requestEvidence(store, brokerOf(values.mqtt as string, values['topic-root']), key, { postId: post, digests, issuedBy: `cli:${commandKeyId(createPublicKey(key))}` }, systemClock);
    if (result.held.length > 0) out(`already held at the VMC, not asked for: ${result.held.join(', ')}`);
    if (!result.command) return EXIT_CODES.ok;
    const carried = result.carried.length > 0 ? `, ${result.carried.length} unanswered earlier carried along` : '';
    out(`evidence.request version ${result.command.version} (${result.requested.length} piece(s)${carried}), command ${result.command.commandId}, sent to ${result.topics.join(', ')}`);
    return EXIT_CODES.ok;
  } finally {
    await store.close();
  }
}
