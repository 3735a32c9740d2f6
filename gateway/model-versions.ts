/**
 * The newest model version this post has run, per model, in the gateway's database: written in
 * the transaction of its `model.swapped` event, read at start as the floor below which a manifest
 * is a rollback (edge-models/model-slot.ts), so a restart cannot slip an older signed model in.
 */
import type Database from 'better-sqlite3';
import type { WithinCommit } from './outbox/sqlite-outbox.js';
import { migrateGatewayDatabase } from './storage/migrations.js';

export class ModelVersions {
  private readonly statements;

  constructor(db: Database.Database) {
    // The table is the schema's (storage/migrations.ts): brought up to date on whatever handle.
    migrateGatewayDatabase(db);
    this.statements = {
      get: db.prepare<[string], { version: string }>('SELECT version FROM model_versions WHERE model = ?'),
      set: db.prepare('INSERT INTO model_versions (model, version) VALUES (?, ?) ON CONFLICT (model) DO UPDATE SET version = excluded.version'),
    };
  }

  get(model: string): string | null {
    return this.statements.get.get(model)?.version ?? null;
  }

  /** Records `version` as the one running (an admin's rollback lowers it) with the swap's event. */
  within(model: string, version: string): WithinCommit {
    return (event) => {
      this.statements.set.run(model, version);
      return event;
    };
  }
}
