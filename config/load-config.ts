/**
 * Loads a post's YAML, validates it against the one schema and reports every problem at once,
 * each with its path in the file and its line, so an integrator fixes the file in one pass.
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isMap, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { core } from 'zod';
import { readFileBounded } from '../core/bounded-file.js';
import { GatewayError } from '../core/errors.js';
import { otherDriversTaking, postConfigSchema, type PostConfig } from './schema.js';

/** One problem in a configuration file. */
export interface ConfigProblem {
  /** Dotted path in the document, e.g. `lanes[0].devices[1].connection`. */
  path: string;
  /** 1-based line and column in the file, when the problem can be placed. */
  line: number | null;
  column: number | null;
  message: string;
}

export class ConfigError extends GatewayError {
  readonly problems: ConfigProblem[];
  readonly file: string;

  /** `problems` in any order: they are kept and listed in the file's order (inFileOrder). */
  constructor(code: 'GW_ERR_CONFIG_INVALID' | 'GW_ERR_CONFIG_SYNTAX' | 'GW_ERR_CONFIG_READ', file: string, problems: readonly ConfigProblem[], cause?: unknown) {
    const ordered = inFileOrder(problems);
    super(code, `${file}: ${ordered.length} problem(s)\n${ordered.map((p) => formatProblem(file, p)).join('\n')}`, { cause });
    this.file = file;
    this.problems = ordered;
  }
}

/**
 * By line, then column; those that cannot be placed last. zod reports in the order of its schema
 * (and its cross-checks after the keys), so `tls` could come before `keepaliveSec` written above
 * it: an integrator reads the list top to bottom beside the file. Stable: one place keeps zod's order.
 */
function inFileOrder(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const place = (p: ConfigProblem): [number, number] => [p.line ?? Number.POSITIVE_INFINITY, p.column ?? 0];
  return [...problems].sort((a, b) => {
    const [lineA, columnA] = place(a);
    const [lineB, columnB] = place(b);
    return lineA === lineB ? columnA - columnB : lineA - lineB;
  });
}

export function formatProblem(file: string, problem: ConfigProblem): string {
  const where = problem.line === null ? file : `${file}:${problem.line}:${problem.column ?? 1}`;
  return `${where} ${problem.path || '(root)'}: ${problem.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    return text === '' ? String(key) : `${text}.${String(key)}`;
  }, '');
}

/**
 * Largest configuration file read: a 64-lane post's is ~60 KB. Read no further than one byte past
 * it, whatever the file is (`/dev/zero` given by mistake, a pipe that never ends).
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads and validates a configuration file; throws ConfigError listing every problem. */
export function loadConfigFile(file: string): PostConfig {
  let text: string;
  try {
    text = readFileBounded(file, MAX_CONFIG_BYTES, "a post's configuration").toString('utf8');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError('GW_ERR_CONFIG_READ', file, [{ path: '', line: null, column: null, message }], error);
  }
  return withModelPathsFrom(parseConfigText(text, file), dirname(resolve(file)));
}

/** Model paths in a file are relative to that file, so a post's folder can be moved whole. */
function withModelPathsFrom(config: PostConfig, folder: string): PostConfig {
  const absolute = (path: string): string => (isAbsolute(path) ? path : join(folder, path));
  const { models, commands } = config;
  return {
    ...config,
    commands: { ...commands, publicKeys: commands.publicKeys.map(absolute) },
    models: {
      ...(models.engine ? { engine: models.engine } : {}),
      ...(models.publicKeys ? { publicKeys: models.publicKeys.map(absolute) } : {}),
      ...(typeof models.risk === 'string' ? { risk: absolute(models.risk) } : models.risk === null ? { risk: null } : {}),
      ...(typeof models.xrayScreening === 'string' ? { xrayScreening: absolute(models.xrayScreening) } : models.xrayScreening === null ? { xrayScreening: null } : {}),
    },
  };
}

/** Validates configuration text; `file` only names it in messages. */
export function parseConfigText(text: string, file = '<config>'): PostConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => {
      const position = lineCounter.linePos(error.pos[0]);
      return { path: '', line: position.line, column: position.col, message: error.message.split('\n')[0] ?? error.code };
    });
    throw new ConfigError('GW_ERR_CONFIG_SYNTAX', file, problems);
  }
  let value: unknown;
  try {
    // yaml bounds what aliases may expand to (a "billion laughs" file) and throws past it.
    value = doc.toJS();
  } catch (error) {
    throw new ConfigError('GW_ERR_CONFIG_SYNTAX', file, [{ path: '', line: null, column: null, message: error instanceof Error ? error.message : String(error) }], error);
  }
  const result = postConfigSchema.safeParse(value ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, doc, lineCounter));
  throw new ConfigError('GW_ERR_CONFIG_INVALID', file, problems);
}

function describeIssue(issue: core.$ZodIssue, doc: Document, lineCounter: LineCounter): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const keyNode = findKeyNode(doc, issue.path, key);
      return {
        path: formatPath([...issue.path, key]),
        ...position(keyNode, doc, issue.path, lineCounter),
        message: `unknown key "${key}"${otherDriversNote(doc, issue.path, key)}`,
      };
    });
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0 && !('note' in issue && issue.note)) {
    // Report the alternative that came closest (fewest problems): "port: expected number" says
    // more than "Invalid input" for a TCP connection with a quoted port.
    const closest = issue.errors.reduce((best, branch) => (branch.length < best.length ? branch : best));
    return closest.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }, doc, lineCounter));
  }
  const node = doc.getIn(issue.path, true) as YamlNode | undefined;
  return [{ path: formatPath(issue.path), ...position(node, doc, issue.path, lineCounter), message: messageFor(issue) }];
}

/**
 * For a device's key that another driver takes (`checksum`, a toledo setting, on an sma
 * weighbridge): which driver that is, so the integrator sees the key was meant for another.
 */
function otherDriversNote(doc: Document, path: readonly PropertyKey[], key: string): string {
  const driver: unknown = doc.getIn([...path, 'driver']);
  if (typeof driver !== 'string' || path[path.length - 2] !== 'devices') return '';
  const others = otherDriversTaking(key, driver);
  return others.length === 0 ? '' : `: a setting of driver ${others.join(', ')}, not of ${driver}`;
}

function messageFor(issue: core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (${issue.expected})`;
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    // zod 4 puts the valid discriminator values on this issue; they are not in its public type.
    const { options, discriminator } = issue as { options?: unknown[]; discriminator?: string };
    const valid = options?.map(String).join(', ');
    return `unknown or missing ${discriminator ?? 'discriminator'}${valid ? `; valid: ${valid}` : ''}`;
  }
  return issue.message;
}

/** Where a problem sits: its own node, or the nearest parent that exists (for a missing key). */
function position(node: YamlNode | undefined | null, doc: Document, path: readonly PropertyKey[], lineCounter: LineCounter) {
  let located = node;
  for (let depth = path.length - 1; !located?.range && depth >= 0; depth -= 1) {
    located = doc.getIn(path.slice(0, depth), true) as YamlNode | undefined;
  }
  const range = located?.range ?? doc.contents?.range;
  if (!range) return { line: null, column: null };
  const { line, col } = lineCounter.linePos(range[0]);
  return { line, column: col };
}

function findKeyNode(doc: Document, parentPath: readonly PropertyKey[], key: string): YamlNode | undefined {
  const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((item) => {
    const k = item.key as { value?: unknown } | null;
    return k?.value === key;
  });
  return (pair?.key as YamlNode | undefined) ?? undefined;
}

