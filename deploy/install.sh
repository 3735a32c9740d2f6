#!/usr/bin/env bash
# Installs or upgrades border-gateway on a post from the offline bundle (`npm run bundle` writes
# it, docs/deployment.md says how to use it). Run as root, beside the archive and its .sha256:
#
#   bash border-gateway-<version>-install.sh border-gateway-<version>-linux-<arch>.tar.gz [--config post.yaml]
#   bash border-gateway-<version>-install.sh --rollback
#
# Options:
#   --config FILE  install FILE as /etc/border-gateway/post.yaml (root:border-gateway 0640) when
#                  there is none yet; an existing one is never overwritten
#   --no-start     install and enable, but neither start nor restart the service
#   --no-backup    on an upgrade, skip the backup of the data directory taken before the swap
#   --rollback     put /opt/border-gateway.previous back in place (and the current one aside)
#   --root DIR     act on DIR as if it were / (tests, building an image): systemd-sysusers,
#                  systemd-tmpfiles and `systemctl enable` work on DIR offline; nothing is
#                  stopped, started or reloaded
#
# Environment:
#   NODE=PATH      the node this script runs (default /usr/bin/node, the one the unit runs; the
#                  unit runs /usr/bin/node whatever NODE says: for tests and image builds)
#
# What it does, each step safe to repeat (a second run with the same bundle changes nothing and
# leaves a running service running):
#   1. checks that the machine runs systemd (/run/systemd/system; else it stops before changing
#      anything), the archive against <archive>.sha256 (sha256sum -c), that the bundle is for this
#      machine's CPU and Node major (bundle.json), and that node is at least what the package's
#      engines ask (20.19)
#   2. unpacks it to /opt/border-gateway; a different installed version is kept as
#      /opt/border-gateway.previous for rollback (replacing an older one). On an upgrade the new
#      version checks post.yaml first (`config check --secrets`, as in 5: one it refuses ends the
#      upgrade with nothing changed and the service running), then the service is stopped and the
#      data directory backed up to /var/backups/border-gateway/ (a failed backup starts the
#      service again and ends the upgrade with nothing changed); the newer gateway migrates the
#      database forward on start
#   3. installs the unit, sysusers and tmpfiles files and /usr/local/bin/border-gateway (the CLI
#      run by /usr/bin/node, as the unit runs it)
#   4. creates the border-gateway user (systemd-sysusers), applies the tmpfiles rules,
#      creates /etc/border-gateway (root:root 0755), post.yaml from --config and the data
#      directory /var/lib/border-gateway (border-gateway 0700)
#   5. systemctl daemon-reload, enable; starts (or restarts) the service when post.yaml exists
#      and `border-gateway config check --secrets` accepts it, run as the service would run it
#      (its user, its working directory, the variables of gateway.env)
set -euo pipefail

die() { echo "install: $*" >&2; exit 1; }
say() { echo "install: $*"; }

root=''
archive=''
config=''
start=1
backup=1
rollback=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$(realpath -m "$2"); shift 2 ;;
    --config) [ $# -ge 2 ] || die "--config needs a file"; config=$(realpath "$2"); shift 2 ;;
    --no-start) start=0; shift ;;
    --no-backup) backup=0; shift ;;
    --rollback) rollback=1; shift ;;
    # The header above, whatever its length: the comment lines after the #! line.
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$archive" ] || die "one archive only"; archive=$(realpath "$1"); shift ;;
  esac
done
[ "$(id -u)" = 0 ] || [ -n "$root" ] || die "run as root (or with --root DIR)"
[ "$root" != / ] || root=''
live=$([ -z "$root" ] && echo 1 || echo 0)
# The gateway runs as a systemd service: on a machine booted without systemd (a container, another
# init) every systemctl below would fail after the package is unpacked and the user made. The test
# is sd_booted()'s own.
[ "$live" = 0 ] || [ -d /run/systemd/system ] \
  || die "this machine was not booted with systemd (no /run/systemd/system): nothing was installed. The gateway runs as a systemd service; to prepare a post's disk image, install into it with --root DIR"

opt="$root/opt/border-gateway"
previous="$root/opt/border-gateway.previous"
etc="$root/etc/border-gateway"
data="$root/var/lib/border-gateway"
backups="$root/var/backups/border-gateway"
node=${NODE:-/usr/bin/node}
unit=border-gateway.service
# Set when this run installs anything that differs from what was there: a running service then
# runs something else than what is installed, and is restarted; otherwise it is left running.
changed=0

service_active() { [ "$live" = 1 ] && systemctl is-active --quiet "$unit"; }

stop_service() {
  if service_active; then
    say "stopping $unit"
    systemctl stop "$unit"
    return 0
  fi
  return 1
}

# One file systemd reads, installed; noted as a change when it differs from the one there.
install_system_file() {
  local source=$1 target=$2
  cmp -s "$source" "$target" || changed=1
  install -m 0644 "$source" "$target"
}

# The files systemd reads, from the package now at /opt/border-gateway.
install_system_files() {
  install -d -m 0755 "$root/etc/systemd/system" "$root/etc/sysusers.d" "$root/etc/tmpfiles.d" "$root/usr/local/bin"
  install_system_file "$opt/deploy/border-gateway.service" "$root/etc/systemd/system/$unit"
  install_system_file "$opt/deploy/border-gateway.sysusers.conf" "$root/etc/sysusers.d/border-gateway.conf"
  install_system_file "$opt/deploy/border-gateway.tmpfiles.conf" "$root/etc/tmpfiles.d/border-gateway.conf"
  install_command "$root/usr/local/bin/border-gateway"
}

# The command integrators type (and the nightly backup's cron line): the CLI run by the node the
# unit runs, whatever \`node\` comes first on their PATH. A symbolic link to cli.js ran the first
# node on the PATH, and another Node major refuses the bundle's better-sqlite3.
install_command() {
  local target=$1 script
  script=$(printf '%s\n' '#!/bin/sh' "# Installed by border-gateway's install.sh: the CLI with the node its service runs." \
    'exec /usr/bin/node /opt/border-gateway/dist/gateway/cli.js "$@"')
  # A symbolic link left by an older installer is replaced, not written through.
  [ ! -L "$target" ] || rm -f "$target"
  printf '%s\n' "$script" | cmp -s - "$target" || printf '%s\n' "$script" >"$target"
  chmod 0755 "$target"
}

# Exports the variables of an EnvironmentFile= into this (sub)shell. node parses the file
# (util.parseEnv, as node --env-file reads one: NAME=value lines, quotes, # comments) and hands
# the assignments over a pipe, NUL-separated: never on a command line, which any user can read.
export_env_file() {
  local assignment
  while IFS= read -r -d '' assignment; do export "$assignment"; done < <("$node" -e '
    const variables = require("node:util").parseEnv(require("node:fs").readFileSync(process.argv[1], "utf8"));
    for (const [name, value] of Object.entries(variables)) process.stdout.write(`${name}=${value}\0`);' "$1")
}

# `config check --secrets` run as the service sees its configuration: as its user (a {file:}
# secret it cannot read fails here, not only a missing one), from its working directory (where
# relative paths resolve) and with the variables of gateway.env (its EnvironmentFile=). Without
# this `run` stopped on GW_ERR_CONFIG_SECRET a second after it had opened its outbox and listeners.
config_accepted() {
  local package=${1:-$opt}
  local secrets=(--secrets)
  local help
  # A version from before --secrets (a rollback to it) can check the file only.
  help=$("$node" "$package/dist/gateway/cli.js" config check --help 2>/dev/null || true)
  [[ $help == *--secrets* ]] || secrets=()
  # StateDirectory= makes the working directory at the first start; made here as systemd makes it.
  [ -d "$data" ] || install -d -m 0700 -o border-gateway -g border-gateway "$data"
  (
    cd "$data"
    [ ! -f "$etc/gateway.env" ] || export_env_file "$etc/gateway.env"
    runuser -u border-gateway -- "$node" "$package/dist/gateway/cli.js" config check "${secrets[@]}" "$etc/post.yaml"
  )
}

# Before an upgrade stops anything: the new version's `config check --secrets` of the post's
# configuration. A version may refuse what the one before accepted (a bound or a rule it adds);
# found only after the swap, the post was left without its gateway until someone came.
config_accepted_by_new() {
  [ "$live" = 1 ] && [ "$start" = 1 ] && [ -f "$etc/post.yaml" ] || return 0
  id border-gateway >/dev/null 2>&1 || return 0
  # mktemp -d made it root's alone; the service's user runs the check from inside it.
  chmod 0755 "$unpack"
  config_accepted "$new" || die "$bundle_version refuses $etc/post.yaml (above): nothing was changed, $unit runs on. Make it a configuration both versions accept and run this again (--no-start upgrades without this check and leaves the service stopped)"
}

# daemon-reload, enable; start, or restart, when the configuration is there and accepted. A
# running service is left running when this run changed nothing (the same bundle again).
activate() {
  local was_running=$1
  if [ "$live" = 0 ]; then
    systemctl --root="$root" enable "$unit" >/dev/null 2>&1 || die "systemctl --root=$root enable $unit failed"
    say "enabled $unit under $root (not started: --root)"
    return
  fi
  systemctl daemon-reload
  systemctl enable "$unit" >/dev/null 2>&1
  if [ "$start" = 0 ]; then
    say "enabled $unit (not started: --no-start)"
  elif [ ! -f "$etc/post.yaml" ]; then
    say "enabled $unit; not started: no $etc/post.yaml yet (run this again with --config FILE, which installs it root:border-gateway 0640 and starts the service)"
  elif [ "$changed" = 0 ] && service_active; then
    say "$unit is running and nothing changed: left running (systemctl restart $unit restarts it)"
  elif ! config_accepted; then
    if service_active; then
      say "not restarted ($unit runs on as it was): fix $etc/post.yaml or what it names, then systemctl restart $unit"
    else
      say "not started: fix $etc/post.yaml or what it names, then systemctl start $unit"
    fi
  else
    local verb=started
    if [ "$was_running" = 1 ] || service_active; then verb=restarted; fi
    systemctl restart "$unit"
    say "$verb $unit: systemctl status $unit; journalctl -u $unit -f"
  fi
}

# The data directory to /var/backups/border-gateway/ with the new version's `backup`, taken once
# the service has stopped: the copy is the database exactly as the new version takes it over. A
# copy taken while the service ran missed what the old version committed before the stop. It runs
# between the stop and the swap, where an exit starts the old version again (on_exit): a failed
# backup changes nothing. Its folder is made before the stop (backup_folder).
backup_before_upgrade() {
  local installed=$1
  [ "$backup" = 1 ] || return 0
  if [ -z "$(find "$data" -name '*.db' -print -quit 2>/dev/null)" ]; then
    say "no database under $data: no backup taken"
    return 0
  fi
  local out
  out="$backups/before-upgrade-$installed-to-$bundle_version-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
  # Where the configuration puts the database (outbox.path, relative to --data as `run` reads
  # it); under --root an absolute outbox.path is the image's, read under $root.
  local config_option=()
  if [ -f "$etc/post.yaml" ]; then
    config_option=(--config "$etc/post.yaml")
    [ "$live" = 1 ] || config_option+=(--root "$root")
  fi
  say "backing up $data before the upgrade"
  "$node" "$new/dist/gateway/cli.js" backup --data "$data" --out "$out" "${config_option[@]}" \
    || die "the backup before the upgrade failed: nothing was changed (--no-backup skips it)"
}

# The backups' folder, made while the service still runs: a /var/backups that is full or read-only
# stops the upgrade before anything is stopped.
backup_folder() {
  [ "$backup" = 1 ] || return 0
  install -d -m 0700 "$backups" || die "cannot make $backups for the backup before the upgrade: nothing was changed (--no-backup skips it)"
}

if [ "$rollback" = 1 ]; then
  [ -z "$archive" ] || die "--rollback takes no archive"
  [ -d "$previous" ] || die "nothing to roll back to: no $previous"
  was_running=0
  if stop_service; then was_running=1; fi
  mv "$opt" "$opt.rollback"
  mv "$previous" "$opt"
  mv "$opt.rollback" "$previous"
  changed=1
  say "rolled back to $("$node" -p "require('$opt/package.json').version" 2>/dev/null || echo 'the previous version') (the other is now $previous)"
  install_system_files
  activate "$was_running"
  newest=$(find "$backups" -maxdepth 1 -name 'before-upgrade-*.tar.gz' -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)
  # Stopped first: a gateway that refuses its database exits and is restarted every 5 s.
  [ -z "$newest" ] || say "if it refuses the database (GW_ERR_OUTBOX_SCHEMA_NEWER in journalctl -u $unit), restore the backup taken before the upgrade: systemctl stop $unit; border-gateway restore --config /etc/border-gateway/post.yaml --data /var/lib/border-gateway --from ${newest#"$root"}; systemctl start $unit"
  exit 0
fi

[ -n "$archive" ] || die "which archive? usage: install.sh border-gateway-<version>-linux-<arch>.tar.gz [--config FILE] (see --help)"
[ -f "$archive" ] || die "no archive $archive"
name=$(basename "$archive")
sums="$archive.sha256"
[ -f "$sums" ] || die "no $sums beside the archive: copy it too (npm run bundle writes both)"

# 1. The archive is the one that was built: its line of the .sha256, checked by sha256sum.
line=$(awk -v f="$name" '$2 == f || $2 == "*" f' "$sums")
[ -n "$line" ] || die "$sums has no line for $name"
(cd "$(dirname "$archive")" && sha256sum --check --strict --quiet <<<"$line") || die "$name does not match its sha256: copy it again"
digest=${line%% *}
say "$name: sha256 ok"

[ -x "$node" ] || die "no Node.js at $node (the unit runs it): install Node.js 20.19 or later first (docs/deployment.md#the-machine)"
install -d -m 0755 "$root/opt"
unpack=$(mktemp -d "$root/opt/.border-gateway.unpack.XXXXXX")
# Set from the service's stop to the swap, while the old version is still in place: any exit then
# (a failed backup, Ctrl-C, a dropped SSH session) starts it again rather than leave the post
# without its gateway.
restart_on_exit=0
on_exit() {
  rm -rf "$unpack"
  if [ "$restart_on_exit" = 1 ]; then
    systemctl start "$unit" && echo "install: $unit started again" >&2
  fi
}
trap on_exit EXIT
trap 'exit 130' INT HUP TERM
tar -xzf "$archive" -C "$unpack" --no-same-owner
new="$unpack/border-gateway"
[ -f "$new/bundle.json" ] || die "$name is not a border-gateway bundle (no border-gateway/bundle.json)"
bundle_field() { "$node" -p "const b = require('$new/bundle.json'); String($1)"; }
bundle_arch=$(bundle_field b.arch)
bundle_major=$(bundle_field b.node.major)
bundle_version=$(bundle_field b.version)
here_arch=$("$node" -p process.arch)
here_major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$bundle_arch" = "$here_arch" ] || die "$name is for $bundle_arch; this machine's node is $here_arch"
[ "$bundle_major" = "$here_major" ] || die "$name was built with Node $bundle_major; $node is $("$node" -v). better-sqlite3 is built for one Node major: install Node $bundle_major, or build the bundle with Node $here_major"
# The major alone would let 20.0–20.18 through: the package's engines (">=20.19") name the minor.
node_floor=$("$node" -p "String(require('$new/package.json').engines?.node ?? '0').replace(/^>=\s*/, '')")
node_enough=$("$node" -p "const [a, b] = process.versions.node.split('.').map(Number); const [x, y = 0] = '$node_floor'.split('.').map(Number); a > x || (a === x && b >= y)")
[ "$node_enough" = true ] || die "$name needs Node $node_floor or later (package.json engines); $node is $("$node" -v): install a newer Node $bundle_major (docs/deployment.md#the-machine)"
echo "$digest" >"$new/.bundle-sha256"

# 2. Swap it in, keeping the installed version for rollback; the same bundle again is left as is.
was_running=0
if [ -f "$opt/.bundle-sha256" ] && [ "$(cat "$opt/.bundle-sha256")" = "$digest" ]; then
  say "$bundle_version is already installed from this archive at $opt"
else
  if [ -d "$opt" ]; then
    installed=$("$node" -p "require('$opt/package.json').version" 2>/dev/null || echo unknown)
    config_accepted_by_new
    backup_folder
    if stop_service; then was_running=1; restart_on_exit=1; fi
    backup_before_upgrade "$installed"
    restart_on_exit=0
    rm -rf "$previous"
    mv "$opt" "$previous"
    say "kept $installed as $previous (rollback: install.sh --rollback)"
  fi
  mv "$new" "$opt"
  changed=1
  say "installed $bundle_version ($bundle_arch) at $opt"
fi

# 3–4. systemd's files, the user, the retention rules, the configuration directory.
install_system_files
if [ "$live" = 1 ]; then
  systemd-sysusers /etc/sysusers.d/border-gateway.conf
  systemd-tmpfiles --create /etc/tmpfiles.d/border-gateway.conf
else
  # With --root (systemd 252), a file named on the command line is not looked up under the root.
  systemd-sysusers --root="$root" "$root/etc/sysusers.d/border-gateway.conf"
  systemd-tmpfiles --root="$root" --create "$root/etc/tmpfiles.d/border-gateway.conf"
fi
gid=$(awk -F: '$1 == "border-gateway" { print $3 }' "$root/etc/group")
[ -n "$gid" ] || die "systemd-sysusers made no border-gateway group in $root/etc/group"
install -d -m 0755 "$etc"
[ "$(id -u)" != 0 ] || chown 0:0 "$etc"
# The data directory, as StateDirectory= makes it at the first start: \`user add\` and \`client add\`,
# run as the service's user before it ever started, write the database there.
uid=$(awk -F: '$1 == "border-gateway" { print $3 }' "$root/etc/passwd")
[ -n "$uid" ] || die "systemd-sysusers made no border-gateway user in $root/etc/passwd"
if [ ! -d "$data" ]; then
  install -d -m 0700 "$data"
  [ "$(id -u)" != 0 ] || chown "$uid:$gid" "$data"
fi
if [ -n "$config" ]; then
  if [ -f "$etc/post.yaml" ]; then
    say "kept the existing $etc/post.yaml (not replaced by $config)"
  else
    install -m 0640 "$config" "$etc/post.yaml"
    [ "$(id -u)" != 0 ] || chown "0:$gid" "$etc/post.yaml"
    changed=1
    say "installed $config as $etc/post.yaml (root:border-gateway 0640)"
  fi
fi

# 5. systemd.
activate "$was_running"
