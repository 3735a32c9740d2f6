/**
 * `border-gateway vmc keygen --out DIR` and `vmc command watchlist|rollout-model …`: the
 * VMC engineer's way to send signed commands to posts from a shell (docs/vmc.md, "Rolling out a
 * watchlist or a model"). Prints the command's version and id, and where it was published; the
 * posts' answers then show on the dashboard and in GET /api/commands.
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
import { VMC_COMMAND_MODEL_FORM, VMC_COMMAND_WATCHLIST_FORM, VMC_KEYGEN_FORM } from '../vmc-cli-spec.js';
import { rolloutFromManifest, sendCommand, watchlistFromText } from './send-command.js';

const DEFAULT_STORE = 'sqlite:vmc.db';
const POST_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

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
  if (sub !== 'watchlist' && sub !== 'rollout-model') throw new GatewayError('GW_ERR_CLI_USAGE', 'vmc command needs a subcommand: watchlist, rollout-model');
  const form = sub === 'watchlist' ? VMC_COMMAND_WATCHLIST_FORM : VMC_COMMAND_MODEL_FORM;
  const values: Record<string, string | undefined> = sub === 'watchlist' ? parseForm(VMC_COMMAND_WATCHLIST_FORM, args.slice(2)).values : parseForm(VMC_COMMAND_MODEL_FORM, args.slice(2)).values;
  const posts = (values.posts ?? '').split(',').filter((p) => p !== '');
  if (posts.length === 0 || posts.some((p) => !POST_ID.test(p))) throw usageError(form.path, '--posts takes A,B,… (post ids: a-z 0-9 -)');
  const version = values.version === undefined ? undefined : Number(values.version);
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) throw usageError(form.path, '--version takes an integer >= 1');
  const key = readCommandKey(values.key as string);
  const content = sub === 'watchlist' ? watchlistFromText(readFileSync(values.file as string, 'utf8')) : rolloutFromManifest(values.manifest as string);
  const url = new URL(values.mqtt as string);
  const username = url.username ? decodeURIComponent(url.username) : process.env.VMC_MQTT_USERNAME;
  const password = url.password ? decodeURIComponent(url.password) : process.env.VMC_MQTT_PASSWORD;
  url.username = '';
  url.password = '';
  const store = await VmcStore.open(values.store ?? process.env.VMC_STORE ?? DEFAULT_STORE, systemClock.now());
  try {
    const { command, topics } = await sendCommand(
      store.commands,
      { url: url.toString(), ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), ...(values['topic-root'] ? { topicRoot: values['topic-root'] } : {}) },
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
