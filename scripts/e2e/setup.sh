#!/usr/bin/env bash
# Installs what the end-to-end test needs, once per machine:
#   - Debian packages: chromium (driven by playwright-core), ripgrep (VS Code's search),
#     and the toolchain that rebuilds code-server's native modules (g++, make, python3, libkrb5-dev);
#   - code-server (VS Code's server + web workbench) in a cache folder outside the project's
#     dependency tree, with its native modules rebuilt locally: its own postinstall would fetch from
#     GitHub, which these machines cannot reach.
# A second run finds everything in place and returns in about a second.
#
# Environment:
#   LORA_LAB_E2E_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/lora-lab-e2e)
#   CODE_SERVER_VERSION  default 4.100.3 (VS Code 1.100.3, the newest that runs on Node 20)
# Prints the code-server folder (the one holding out/node/entry.js) as its last line.
set -euo pipefail

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.100.3}"
CACHE="${LORA_LAB_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lora-lab-e2e}"
PREFIX="$CACHE/code-server-$CODE_SERVER_VERSION"
CS="$PREFIX/node_modules/code-server"
STAMP="$PREFIX/.ready"

log() { printf '[e2e setup] %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
apt_packages=(chromium ripgrep libkrb5-dev g++ make python3)
CACHE_LOGS="$(mktemp -d)"
trap 'rm -rf "$CACHE_LOGS"' EXIT
missing=()
for p in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >"$CACHE_LOGS/apt.log" 2>&1 || {
    tail -n 40 "$CACHE_LOGS/apt.log" >&2
    log "apt-get install failed"
    exit 1
  }
else
  log "Debian packages present: ${apt_packages[*]}"
fi

# --- code-server ------------------------------------------------------------------------------
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 1800 9 || { log "another setup holds $CACHE/.lock"; exit 1; }

if [ -f "$STAMP" ] && [ -f "$CS/out/node/entry.js" ]; then
  log "code-server $CODE_SERVER_VERSION cached in $PREFIX"
  echo "$CS"
  exit 0
fi

log "installing code-server $CODE_SERVER_VERSION into $PREFIX (a few minutes, once)"
start=$SECONDS
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
cat >"$PREFIX/package.json" <<'JSON'
{ "name": "lora-lab-e2e-code-server", "private": true, "description": "code-server for LoRA Lab's end-to-end test (not part of the extension)" }
JSON

# Plain npm, whatever the calling npm script set (e.g. npm_config_* from the project).
run_npm() { (cd "$1" && shift && env -u npm_config_prefix -u npm_config_global npm --no-audit --no-fund --loglevel=error "$@" >&2); }

# Its postinstall downloads from GitHub: skip every script and do the steps ourselves.
run_npm "$PREFIX" install --ignore-scripts --no-save "code-server@$CODE_SERVER_VERSION"

VS="$CS/lib/vscode"
log "code-server: VS Code's server dependencies"
run_npm "$VS" install --ignore-scripts --omit=dev
# @vscode/ripgrep's postinstall downloads rg from GitHub: use Debian's.
mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
ln -sf "$(command -v rg)" "$VS/node_modules/@vscode/ripgrep/bin/rg"
log "code-server: building native modules (node-pty, spdlog, kerberos, …)"
(cd "$VS" && npm_config_yes=true npm rebuild --foreground-scripts >"$PREFIX/rebuild.log" 2>&1) || {
  tail -n 40 "$PREFIX/rebuild.log" >&2
  log "native rebuild failed (full log: $PREFIX/rebuild.log)"
  exit 1
}
ln -sfn node_modules "$VS/node_modules.asar"
(cd "$VS/bin/remote-cli" && ln -sfn code-linux.sh code-server)
(cd "$VS/bin/helpers" && ln -sfn browser-linux.sh browser.sh)
log "code-server: built-in extensions' dependencies"
run_npm "$VS/extensions" install --omit=dev --foreground-scripts
log "code-server: argon2 (password hashing; loaded at startup)"
# code-server's own dependencies are hoisted into $PREFIX/node_modules; out/node/util.js loads argon2.
(cd "$PREFIX" && npm_config_yes=true npm rebuild --foreground-scripts argon2 >>"$PREFIX/rebuild.log" 2>&1) || {
  tail -n 40 "$PREFIX/rebuild.log" >&2
  log "argon2 rebuild failed (full log: $PREFIX/rebuild.log)"
  exit 1
}

# Smoke check: the server answers --version.
# (In a throwaway home: code-server writes a default config file on any start.)
smoke_home="$(mktemp -d)"
if ! version=$(HOME="$smoke_home" XDG_CONFIG_HOME="$smoke_home/config" XDG_DATA_HOME="$smoke_home/data" XDG_CACHE_HOME="$smoke_home/cache" \
  node "$CS/out/node/entry.js" --version 2>&1 | grep -v ' info '); then
  rm -rf "$smoke_home"
  printf '%s\n' "$version" >&2
  log "code-server does not start"
  exit 1
fi
rm -rf "$smoke_home"
log "code-server ready: $(printf '%s' "$version" | head -n1) ($((SECONDS - start)) s)"
touch "$STAMP"
echo "$CS"
