#!/usr/bin/env bash
# Prepares a machine to run the autograder and the tests. Idempotent, and quick when all is there:
#  - socat (and curl), which some probes use as a second, independent TCP peer, and bubblewrap,
#    which the grader's sandbox (--sandbox, grade-all) uses for namespaces;
#  - the npm dependencies in deno.json, cached so later runs resolve offline;
#  - with --chromium (asked for by the HTML report's browser test only; grading never needs it):
#    Debian's headless chromium;
#  - with --bench (asked for by `deno task bench` only): Debian's memcached and wrk, the benchmark's
#    production anchor and its HTTP cross-check.
#  - as root: the unprivileged user student processes run as (course-student, uid 64000 with
#    64001..64015 reserved for concurrent runs), and the staff checkout closed to other users (o-rwx,
#    and its git directory), so that a student process cannot read solutions, hidden probes or
#    the grader (see autograder/sandbox/student_user.ts).
# Packages come from apt-get, as root or through passwordless sudo (a Codespace); otherwise the
# script says what is missing and goes on.
set -u
cd "$(dirname "$0")/.." || exit 1

warn() { echo "setup: $*" >&2; }

# ensure "why they are needed" COMMAND=PACKAGE...: installs the packages whose command is missing.
ensure() {
  local why=$1 missing=() pair
  shift
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      warn "warning: ${missing[*]} missing (sudo apt-get install ${missing[*]}); $why"
      return 0
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    warn "warning: ${missing[*]} missing and no apt-get here; $why"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    warn "warning: could not install ${missing[*]}; $why"
  fi
}

ensure "probes that need socat or curl fail, and --sandbox has no namespaces" \
  socat=socat curl=curl bwrap=bubblewrap
[ "${1:-}" = "--chromium" ] && ensure "the HTML report's browser test cannot run" chromium=chromium
[ "${1:-}" = "--bench" ] && ensure "the benchmark skips what needs them" memcached=memcached wrk=wrk

# The student user and a checkout it cannot read: a layer that works on every host, containers
# without namespaces included. Skipped (said once) when not root: the grader then runs student
# processes as the user running it.
if [ "$(id -u)" = "0" ]; then
  if ! getent passwd course-student >/dev/null; then
    uid=64000
    if getent passwd "$uid" >/dev/null || ! command -v useradd >/dev/null 2>&1 ||
      ! { getent group "$uid" >/dev/null || groupadd --system --gid "$uid" course-student; } ||
      ! useradd --system --uid "$uid" --gid "$uid" --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin course-student 2>/dev/null; then
      warn "warning: could not create the user course-student; student processes run as nobody"
    fi
  fi
  chmod o-rwx .
  common=$(git rev-parse --git-common-dir 2>/dev/null) && [ -d "$common" ] && chmod o-rwx "$common"
fi

# typescript: the tokenizer of the similarity report and of 01-echo's lesson check.
need_ts=false
grep -q '"typescript"' deno.json && [ ! -d node_modules/typescript ] && need_ts=true
if [ ! -d node_modules/zod ] || [ ! -d node_modules/fflate ] || $need_ts; then
  if ! deno install --quiet; then
    warn "error: 'deno install' failed; npm dependencies are not cached"
    exit 1
  fi
fi
exit 0
