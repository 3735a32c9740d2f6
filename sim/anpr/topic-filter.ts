/**
 * The topic filter of a CreatePullPointSubscription, as the camera applies it (ONVIF Core
 * Specification 25.12, 9.6.3 "Topic Filter"):
 *
 *   TopicExpression ::= TopicPath ('|' TopicPath)*
 *   TopicPath       ::= RootTopic ChildTopicExpression* ('//.')?
 *   RootTopic       ::= QName
 *   ChildTopicExpression ::= '/' ChildTopicName      ChildTopicName ::= QName | NCName
 *
 * "If a namespace prefix is included in the RootTopic, it shall correspond to a valid Topic
 * Namespace definition": the prefix is resolved with the namespaces in scope at the
 * TopicExpression element (WS-Topics 1.3, 7.1), so a prefix the client did not declare names no
 * topic namespace, and that path matches nothing (as real cameras do: the subscription is made
 * and stays silent). `//.` at the end matches the sub-tree. WS-Topics' own Concrete dialect is
 * one path, no `|`, no `//.`.
 */
import { resolveQName, splitQName } from './soap-xml.js';

export const CONCRETE_SET_DIALECT = 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet';
export const CONCRETE_DIALECT = 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete';

/** A topic the camera publishes on: its topic namespace and the names from the root down. */
export interface Topic {
  ns: string;
  path: readonly string[];
}

interface TopicPath {
  /** null when the root's prefix is not declared: the path matches nothing. */
  ns: string | null;
  path: string[];
  subtree: boolean;
}

/** A syntax error in the expression: the camera answers wsnt:InvalidTopicExpressionFault. */
export class InvalidTopicExpression extends Error {}

export class TopicFilter {
  private constructor(private readonly paths: readonly TopicPath[]) {}

  /**
   * Parses `text` in `dialect`, resolving prefixes with `scope`. Throws InvalidTopicExpression
   * for bad syntax; an unknown dialect is the caller's to refuse (see `isKnownDialect`).
   */
  static parse(text: string, dialect: string, scope: ReadonlyMap<string, string>): TopicFilter {
    const alternatives = text.split('|');
    if (dialect === CONCRETE_DIALECT && alternatives.length > 1) throw new InvalidTopicExpression('the Concrete dialect has no "|"');
    return new TopicFilter(alternatives.map((alternative) => parsePath(alternative.trim(), dialect, scope)));
  }

  static isKnownDialect(dialect: string): boolean {
    return dialect === CONCRETE_SET_DIALECT || dialect === CONCRETE_DIALECT;
  }

  matches(topic: Topic): boolean {
    return this.paths.some((p) => {
      if (p.ns === null || p.ns !== topic.ns) return false;
      if (p.subtree ? topic.path.length < p.path.length : topic.path.length !== p.path.length) return false;
      return p.path.every((name, i) => name === topic.path[i]);
    });
  }
}

function parsePath(text: string, dialect: string, scope: ReadonlyMap<string, string>): TopicPath {
  const subtree = text.endsWith('//.');
  if (subtree && dialect === CONCRETE_DIALECT) throw new InvalidTopicExpression('the Concrete dialect has no "//."');
  const names = (subtree ? text.slice(0, -3) : text).split('/');
  const root = names[0] as string;
  const split = splitQName(root);
  if (!split || names.some((name) => splitQName(name) === null)) throw new InvalidTopicExpression(`"${text.slice(0, 100)}" is no topic path`);
  // A RootTopic is a QName; without a prefix it takes the default namespace in scope.
  const rootName = resolveQName(root, scope);
  let ns = rootName?.ns ?? null;
  const path = names.map((name) => splitQName(name)?.local as string);
  // A prefixed child must name the root's namespace too (WS-Topics: a topic tree is one namespace).
  for (const name of names.slice(1)) {
    if (splitQName(name)?.prefix && resolveQName(name, scope)?.ns !== ns) ns = null;
  }
  return { ns, path, subtree };
}
