/**
 * The last VMC command of each kind this post applied, with what it applied (the watchlist's
 * plates; the rolled-out model's manifest path; the digests an evidence request queued), in the
 * gateway's database. Written in the transaction of the command's `command.applied` event
 * (`within`), so the post's state and the answer the VMC hears are stored together or not at all;
 * read at start, so a restart keeps the applied watchlist and model and the version floor below
 * which a command is refused.
 */
import type Database from 'better-sqlite3';
import type { CommandKind } from '../../contract/vmc-command.js';
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';

/** What an applied watchlist command left in use. */
export interface AppliedWatchlist {
  plates: string[];
}

/** What an applied model rollout left in use. */
export interface AppliedModel {
  /** `risk` or `xrayScreening`, as in model.swapped. */
  model: 'risk' | 'xrayScreening';
  /** The manifest written into the data directory (its ONNX file beside it). */
  manifestPath: string;
  modelVersion: string;
}

/** What an applied evidence request queued: the digests held when it came (their transfers). */
export interface AppliedEvidenceRequest {
  digests: string[];
}

export interface AppliedCommand<C> {
  version: number;
  commandId: string;
  content: C;
  appliedMs: number;
}

interface Row {
  version: number;
  command_id: string;
  content: string;
  applied_ms: number;
}

export class CommandState {
  private readonly statements;

  constructor(db: Database.Database) {
    migrateGatewayDatabase(db);
    this.statements = {
      get: db.prepare<[string], Row>('SELECT version, command_id, content, applied_ms FROM vmc_commands WHERE kind = ?'),
      set: db.prepare(
        `INSERT INTO vmc_commands (kind, version, command_id, content, applied_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (kind) DO UPDATE SET version = excluded.version, command_id = excluded.command_id, content = excluded.content, applied_ms = excluded.applied_ms`,
      ),
    };
  }

  watchlist(): AppliedCommand<AppliedWatchlist> | null {
    return this.read<AppliedWatchlist>('watchlist.update');
  }

  model(): AppliedCommand<AppliedModel> | null {
    return this.read<AppliedModel>('model.rollout');
  }

  /** The last applied command of `kind` (the version floor), or null when none was. */
  last(kind: CommandKind): { version: number; commandId: string } | null {
    const row = this.statements.get.get(kind);
    return row ? { version: row.version, commandId: row.command_id } : null;
  }

  /** Records `kind`'s command as applied, in the transaction of its answer event. */
  within(kind: CommandKind, applied: AppliedCommand<AppliedWatchlist | AppliedModel | AppliedEvidenceRequest>): WithinCommit {
    return (event) => {
      this.statements.set.run(kind, applied.version, applied.commandId, JSON.stringify(applied.content), applied.appliedMs);
      return event;
    };
  }

  private read<C>(kind: CommandKind): AppliedCommand<C> | null {
    const row = this.statements.get.get(kind);
    if (!row) return null;
    return { version: row.version, commandId: row.command_id, content: JSON.parse(row.content) as C, appliedMs: row.applied_ms };
  }
}
