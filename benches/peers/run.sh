#!/usr/bin/env bash
# Peer benchmark: tierd's decode path against faster-whisper on the same weights, interleaved in one run.
# Installs faster-whisper into its own virtual environment (never part of the test command).
# usage: benches/peers/run.sh [extra `tierd bench decode` arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/peers-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import faster_whisper' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check faster-whisper==1.2.1
fi
cargo run --release -- bench decode --peer-python "$venv/bin/python" "$@"
