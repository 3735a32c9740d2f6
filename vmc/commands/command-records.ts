/**
 * What the VMC knows of its commands to the posts: each command sent (kind, version, posts), each
 * post's answer to it, and each post's current watchlist and model versions as its latest answer
 * states them. The answers arrive as events (`command.applied`, `command.refused`) and are
 * recorded in the transaction that stores the event (recordCommandAnswer), so a redelivered
 * answer changes nothing; an `applied` replaces a stored `refused` (never the reverse); only a
 * newer answer replaces a post's versions.
 */
import type { CloudEvent } from '../../contract/envelope.js';
import { COMMAND_KINDS, type CommandKind } from '../../contract/vmc-command.js';
import type { SqlRunner } from '../store/sql-db.js';

export interface SentCommand {
  commandId: string;
  kind: CommandKind;
  version: number;
  postIds: string[];
  /** A line for people: "12 plates", "risk 2026.11.27". */
  summary: string;
  issuedBy: string;
  issuedAt: string;
}

export interface CommandProgress extends SentCommand {
  applied: string[];
  refused: { postId: string; code: string | null; message: string | null }[];
  /** Posts named that have not answered yet (offline, or the command is on its way). */
  waiting: string[];
}

export interface PostVersions {
  postId: string;
  watchlistVersion: number | null;
  watchlistPlates: number | null;
  modelCommandVersion: number | null;
  riskModel: string | null;
  xrayModel: string | null;
  updatedAt: string;
}

type AnswerData = {
  commandId: string | null;
  kind: CommandKind | null;
  current: { watchlistVersion: number | null; watchlistPlates: number; modelCommandVersion: number | null; models: { risk: string | null; xrayScreening: string | null } };
  reason?: { code: string; message: string };
};

/**
 * Records a post's answer to a command; runs inside the transaction storing its event. Only an
 * answer to a watchlist or model command (or one the post could not read) sets the post's
 * versions: an evidence request changes neither, and its answers are many and frequent.
 * `timeMs` is the answer's own time; `seenMs` orders the post's versions: its time, never later
 * than now (an answer stamped 9999-12-31 pinned the post's versions, which no later answer could
 * replace).
 */
export async function recordCommandAnswer(tx: SqlRunner, event: CloudEvent, postId: string, timeMs: number, seenMs: number): Promise<void> {
  const data = event.data as AnswerData;
  if (data.commandId !== null) {
    // A post's answer to a command stays once stored, except that an `applied` replaces a
    // `refused`: the first answer used to win, so a forged `command.refused` carrying a genuine
    // command's id, stored first, hid the post's later genuine `command.applied` for good. A post
    // that applied a command did apply it; a refusal after it (a forgery, or the post reading the
    // retained command again) never undoes that.
    await tx.run(
      `INSERT INTO command_answers (command_id, post_id, outcome, reason_code, reason_message, time_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (command_id, post_id) DO UPDATE SET outcome = excluded.outcome, reason_code = excluded.reason_code, reason_message = excluded.reason_message, time_ms = excluded.time_ms
       WHERE command_answers.outcome = 'refused' AND excluded.outcome = 'applied'`,
      [
        data.commandId,
        postId,
        event.type === 'command.applied' ? 'applied' : 'refused',
        data.reason?.code ?? null,
        data.reason?.message.slice(0, 1000) ?? null,
        timeMs,
      ],
    );
  }
  if (data.kind === 'evidence.request') return;
  const { current } = data;
  await tx.run(
    `INSERT INTO post_versions (post_id, watchlist_version, watchlist_plates, model_command_version, risk_model, xray_model, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (post_id) DO UPDATE SET watchlist_version = excluded.watchlist_version, watchlist_plates = excluded.watchlist_plates,
       model_command_version = excluded.model_command_version, risk_model = excluded.risk_model, xray_model = excluded.xray_model, time_ms = excluded.time_ms
     WHERE excluded.time_ms >= post_versions.time_ms`,
    [postId, current.watchlistVersion, current.watchlistPlates, current.modelCommandVersion, current.models.risk, current.models.xrayScreening, seenMs],
  );
}

export class CommandRecords {
  constructor(private readonly db: SqlRunner) {}

  /** The highest version sent of `kind` (0 when none): the CLI's next command is one above. */
  async highestVersion(kind: CommandKind): Promise<number> {
    const row = (await this.db.all<{ v: number | string | null }>('SELECT MAX(version) AS v FROM commands WHERE kind = ?', [kind]))[0];
    return Number(row?.v ?? 0);
  }

  async recordSent(command: SentCommand): Promise<void> {
    await this.db.run('INSERT INTO commands (command_id, kind, version, post_ids, summary, issued_by, issued_ms) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      command.commandId,
      command.kind,
      command.version,
      JSON.stringify(command.postIds),
      command.summary,
      command.issuedBy,
      Date.parse(command.issuedAt),
    ]);
  }

  /** The latest commands of `kinds` (default all), newest first, each with its posts' answers. */
  async progress(limit = 50, kinds: readonly CommandKind[] = COMMAND_KINDS): Promise<CommandProgress[]> {
    if (kinds.length === 0) return [];
    const commands = await this.db.all<{ command_id: string; kind: CommandKind; version: number | string; post_ids: string; summary: string; issued_by: string; issued_ms: number | string }>(
      `SELECT command_id, kind, version, post_ids, summary, issued_by, issued_ms FROM commands WHERE kind IN (${kinds.map(() => '?').join(', ')}) ORDER BY issued_ms DESC, version DESC LIMIT ?`,
      [...kinds, limit],
    );
    const result: CommandProgress[] = [];
    for (const row of commands) {
      const answersOfAll = await this.db.all<{ post_id: string; outcome: string; reason_code: string | null; reason_message: string | null }>(
        'SELECT post_id, outcome, reason_code, reason_message FROM command_answers WHERE command_id = ? ORDER BY post_id',
        [row.command_id],
      );
      const postIds = JSON.parse(row.post_ids) as string[];
      // Only the posts it was sent to: an answer from another (a bug, or a post answering what it
      // read off another's topic) is stored as that post's event and counts for nothing here.
      const named = new Set(postIds);
      const answers = answersOfAll.filter((a) => named.has(a.post_id));
      const answered = new Set(answers.map((a) => a.post_id));
      result.push({
        commandId: row.command_id,
        kind: row.kind,
        version: Number(row.version),
        postIds,
        summary: row.summary,
        issuedBy: row.issued_by,
        issuedAt: new Date(Number(row.issued_ms)).toISOString(),
        applied: answers.filter((a) => a.outcome === 'applied').map((a) => a.post_id),
        refused: answers.filter((a) => a.outcome === 'refused').map((a) => ({ postId: a.post_id, code: a.reason_code, message: a.reason_message })),
        waiting: postIds.filter((post) => !answered.has(post)),
      });
    }
    return result;
  }

  async postVersions(): Promise<PostVersions[]> {
    const rows = await this.db.all<{ post_id: string; watchlist_version: number | null; watchlist_plates: number | null; model_command_version: number | null; risk_model: string | null; xray_model: string | null; time_ms: number | string }>(
      'SELECT post_id, watchlist_version, watchlist_plates, model_command_version, risk_model, xray_model, time_ms FROM post_versions ORDER BY post_id',
    );
    const num = (value: number | string | null): number | null => (value === null ? null : Number(value));
    return rows.map((r) => ({
      postId: r.post_id,
      watchlistVersion: num(r.watchlist_version),
      watchlistPlates: num(r.watchlist_plates),
      modelCommandVersion: num(r.model_command_version),
      riskModel: r.risk_model,
      xrayModel: r.xray_model,
      updatedAt: new Date(Number(r.time_ms)).toISOString(),
    }));
  }
}
