/**
 * The command-line forms of `backup` and `restore` (../backup-commands.ts runs them). Light, like
 * command-specs.ts: `backup --help` loads neither SQLite nor the configuration.
 */
import { defineForm, type CommandSpec } from '../../core/command-line.js';

const CONFIG_OPTION = {
  type: 'string',
  value: 'FILE',
  help: "the post's configuration, for its outbox.path (default: the default path, data/outbox.db under --data)",
} as const;

export const BACKUP_FORM = defineForm({
  path: 'backup',
  summary:
    "Writes the data directory to a .tar.gz while the gateway runs or not: a consistent snapshot of the database (SQLite's online backup: what was committed at that instant, WAL included) and the directory's other files. X-ray images (xray/) only with --with-xray, the evidence store (evidence/) only with --with-evidence. The archive is 0600: it holds password hashes, plates and the audit log.",
  options: {
    data: { type: 'string', value: 'DIR', required: true, help: "the gateway's data directory (/var/lib/border-gateway)" },
    out: { type: 'string', value: 'FILE', required: true, help: 'the archive to write (.tar.gz); written under a temporary name and renamed when complete' },
    config: CONFIG_OPTION,
    'with-xray': { type: 'boolean', help: 'also the received X-ray images under xray/ (4 MB each; default: left out)' },
    'with-evidence': { type: 'boolean', help: "also the evidence store's snapshots, thumbnails and scans under evidence/ (up to evidence.maxBytes; default: left out)" },
  },
});

export const RESTORE_FORM = defineForm({
  path: 'restore',
  summary:
    'Replaces the data directory with a backup: checks the archive and its database (integrity_check, schema version) first, refuses while a gateway holds the directory, and keeps the old directory as DIR.before-restore-<UTC time>. X-ray images and evidence stay: the old xray/ and evidence/ move into the restored directory unless the backup has its own.',
  options: {
    data: { type: 'string', value: 'DIR', required: true, help: "the gateway's data directory; it need not exist" },
    from: { type: 'string', value: 'FILE', required: true, help: 'an archive written by `backup`' },
    config: CONFIG_OPTION,
  },
});

const NOTE = 'Run both as root (restore renames the directory inside /var/lib); restore gives the restored files the owner of the directory it replaces. Stop the gateway before a restore: systemctl stop border-gateway.';

export const BACKUP: CommandSpec = { name: 'backup', summary: 'the data directory to a .tar.gz (consistent while the gateway runs)', forms: [BACKUP_FORM], notes: [NOTE] };
export const RESTORE: CommandSpec = { name: 'restore', summary: 'the data directory from a backup (the gateway stopped; the old one kept)', forms: [RESTORE_FORM], notes: [NOTE] };
