/**
 * The command-line forms of `backup` and `restore` (../backup-commands.ts runs them). Light, like
 * command-specs.ts: `backup --help` loads neither SQLite nor the configuration.
 */
import { defineForm, type CommandSpec } from '../../core/command-line.js';

const BACKUP_CONFIG_OPTION = {
  type: 'string',
  value: 'FILE',
  help: "the post's configuration, for its outbox.path (default: the default path, data/outbox.db under --data)",
} as const;

// restore takes the database's place from the archive; the configuration only checks it.
const RESTORE_CONFIG_OPTION = {
  type: 'string',
  value: 'FILE',
  help: "the post's configuration: the archive's database must be where its outbox.path puts it, and its events and crossings its post.id's (default: no check; the database goes where the backup had it)",
} as const;

export const BACKUP_FORM = defineForm({
  path: 'backup',
  summary:
    "Writes the data directory to a .tar.gz while the gateway runs or not: a consistent snapshot of the database (SQLite's online backup: what was committed at that instant, WAL included) and the directory's other files. X-ray images (xray/) only with --with-xray, the evidence store (evidence/) only with --with-evidence. The archive is 0600: it holds password hashes, plates and the audit log.",
  options: {
    data: { type: 'string', value: 'DIR', required: true, help: "the gateway's data directory (/var/lib/border-gateway)" },
    out: { type: 'string', value: 'FILE', required: true, help: 'the archive to write (.tar.gz); written under a temporary name and renamed when complete' },
    config: BACKUP_CONFIG_OPTION,
    root: {
      type: 'string',
      value: 'DIR',
      help: 'read an absolute outbox.path of --config under DIR: the data directory of an image, as `install.sh --root DIR` upgrades it (default: /)',
    },
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
    config: RESTORE_CONFIG_OPTION,
    owner: {
      type: 'string',
      value: 'USER',
      help: "give the restored directory and its files to USER and USER's group, as root (default: the owner of the directory it replaces; none on a new disk, so give --owner border-gateway there)",
    },
  },
});

const BACKUP_NOTE = "Run it as root or as border-gateway (the data directory's owner); run as root, anything SQLite creates beside the live database is given back to the database's owner.";
const RESTORE_NOTE = "Run it as root (it renames the directory inside /var/lib), the gateway stopped: systemctl stop border-gateway. The restored files get the owner of the directory they replace, or --owner's.";

export const BACKUP: CommandSpec = { name: 'backup', summary: 'the data directory to a .tar.gz (consistent while the gateway runs)', forms: [BACKUP_FORM], notes: [BACKUP_NOTE] };
export const RESTORE: CommandSpec = { name: 'restore', summary: 'the data directory from a backup (the gateway stopped; the old one kept)', forms: [RESTORE_FORM], notes: [RESTORE_NOTE] };
