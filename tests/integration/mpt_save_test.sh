#!/usr/bin/env bash
# mpt save (#13 item 5), mpt's command line and its bash completion.
#
#   ns A                                               ns B
#   mpt0 10.201.0.1 ------ mptd over 2 paths ------- mpt0 10.201.0.2
#   veth0 10.200.1.1 ====== path_0 ================== veth0 10.200.1.2   <- mpt path down it 0
#   veth1 10.200.2.1 ====== path_1 ================== veth1 10.200.2.2   <- mpt path weight it 1 7
#
# Without root: `mpt VERB --help`, usage errors (exit 2, naming the problem), and
# packaging/mpt.bash-completion (sourced; COMP_WORDS/COMP_CWORD set, COMPREPLY checked).
# Then, as root in two namespaces: A's connection file, full of comments, odd spacing and a
# key mpt does not act on, gets `weight_out = 7` on path_1 (its trailing comment kept) and
# `status = 128` inserted in path_0, and is otherwise byte for byte what it was (mode kept);
# a second save writes nothing; `mpt reload` then applies 0 changes; B's save writes the
# weight the peer told it but not the down state the peer imposed; mptd A restarted from the
# saved files runs path_1 with weight 7 and path_0 administratively down.
# Usage: mpt_save_test.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
MPT=$BUILD/cli/mpt
COMPLETION=$(cd "$(dirname "$0")/../../packaging" && pwd)/mpt.bash-completion

# --- the command line (no root, no mptd) ---------------------------------------------------
out=$("$MPT" status --help) || fail "mpt status --help failed"
grep -q -- "--json" <<<"$out" || fail "mpt status --help does not show --json: $out"
grep -q "^Usage: mpt .*status" <<<"$out" || fail "mpt status --help has no usage line: $out"
"$MPT" help path | grep -q "path weight CONNECTION PATH WEIGHT" || fail "mpt help path"
"$MPT" reload --help | grep -q "Only a TUN change" || fail "mpt reload --help does not say what needs a restart"
"$MPT" --help | grep -q "^  save " || fail "mpt --help does not list save"
usage_error() {  # expected-text args...: exit 2, the text on stderr
  local want=$1 rc=0
  shift
  err=$("$MPT" "$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" -eq 2 ] || fail "mpt $*: exit $rc, not 2 ($err)"
  grep -q -- "$want" <<<"$err" || fail "mpt $*: the message does not name '$want': $err"
}
usage_error "bogus" bogus
usage_error "--yaml" status --yaml
usage_error "sideways" path sideways it 0
usage_error "bad path number" path up it x
usage_error "bad weight" path weight it 0 10001
usage_error "up nor down" int eth0 sideways
usage_error "unexpected argument" save now
"$MPT" </dev/null >/dev/null 2>&1 && fail "mpt without a verb succeeded"
echo "mpt: per-verb --help and usage errors (exit 2) as expected"

# --- bash completion (no root) -------------------------------------------------------------
bash -n "$COMPLETION" || fail "$COMPLETION: syntax error"
complete_words() {  # WORD... (the last one is being completed): prints COMPREPLY
  bash -c '
    . "$1"
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _mpt mpt "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ $//"' _ "$COMPLETION" "$@"
}
expect_completion() {  # EXPECTED WORD...
  local want=$1 got
  shift
  got=$(complete_words "$@")
  [ "$got" = "$want" ] || fail "completing '$*': got '$got', want '$want'"
}
COMP_RUN=$(mktemp -d /tmp/mpt-comp.XXXXXX)
touch "$COMP_RUN/mpta.sock" "$COMP_RUN/mptb.sock" "$COMP_RUN/notes.txt"
export MPT_RUN_DIR=$COMP_RUN
expect_completion "genkey help int interface path reload save show status" "$MPT" ""
expect_completion "save show status" "$MPT" s
expect_completion "mpta mptb" "$MPT" -i ""
expect_completion "mptb" "$MPT" --interface mptb
expect_completion "status" "$MPT" -i mpta st
expect_completion "--json" "$MPT" status ""
expect_completion "--json" "$MPT" status --j
expect_completion "down up weight" "$MPT" path ""
expect_completion "status" "$MPT" show ""
expect_completion "down up" "$MPT" int lo ""
expect_completion "lo" "$MPT" int l
expect_completion "path" "$MPT" help pa
unset MPT_RUN_DIR
rm -rf "$COMP_RUN"
echo "bash completion: verbs, sub-words, --json, running tunnels, interfaces"

# --- mpt save (root, namespaces) -----------------------------------------------------------
require_root_and_netns
init_test_env "$BUILD"

add_veth_paths 2
KEY=mpt-save-test-key-0001
AUTH_KEY=$KEY write_pair_configs "probe_interval_ms = 20" "hold_down_ms = 200"
# A's connection file as an operator keeps it: comments everywhere, indented and unindented
# sections, a trailing comment on the weight, a key mpt accepts but does not act on.
CONF=$WORK/a/connections/it.conf
printf '%s\n' \
  "# mpt save test: every line of this file but two must survive byte for byte" \
  "; an ini comment" \
  "[connection]" \
  "name = it" \
  "ip_ver = 4" \
  "ip_local = 10.201.0.1" \
  "ip_remote = 10.201.0.2" \
  "path_count = 2" \
  "auth_key = $KEY" \
  "probe_interval_ms = 20   ; fast probes" \
  "hold_down_ms = 200" \
  "" \
  "[path_0]" \
  "interface_name = veth0 # first uplink" \
  "ip_ver = 4" \
  "private_ipaddr = 10.200.1.1" \
  "remote_ipaddr = 10.200.1.2" \
  "window_size = 1" \
  "    ; an indented comment closing path_0" \
  "" \
  "[path_1]" \
  "  interface_name = veth1" \
  "  ip_ver = 4" \
  "  private_ipaddr = 10.200.2.1" \
  "  remote_ipaddr = 10.200.2.2" \
  "  weight_out = 1	; was one" \
  "  status = 0" \
  "# the end" >"$CONF"
chmod 640 "$CONF"
# What `mpt save` must make of it: these two edits, nothing else.
sed -e 's/^  weight_out = 1\t; was one$/  weight_out = 7\t; was one/' \
  -e '/^window_size = 1$/a status = 128' "$CONF" >"$WORK/expected.conf"
[ "$(diff "$CONF" "$WORK/expected.conf" | grep -c '^[<>]')" -eq 3 ] || fail "test set-up: expected.conf"
"$MPTD" --config "$WORK/a" --check >/dev/null 2>&1 || fail "A's configuration is refused"
start_mptd_pair
wait_for 50 established a || fail "A: the peer never answered HELLO"
wait_for 50 established b || fail "B: the peer never answered HELLO"

"$MPT" --socket "$WORK/a.sock" path weight it 1 7 >/dev/null || fail "mpt path weight it 1 7"
"$MPT" --socket "$WORK/a.sock" path down it 0 >/dev/null || fail "mpt path down it 0"
health_field() {  # side path field
  "$MPT" --socket "$WORK/$1.sock" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(next(h for h in s["health"] if h["path"] == "it/path_" + sys.argv[1])[sys.argv[2]])' "$2" "$3"
}
b_told() { [ "$(health_field b 1 weight)" = 7 ] && [ "$(health_field b 0 state)" = admin-down ]; }
wait_for 30 b_told || fail "B did not take the weight and state (path_1 weight $(health_field b 1 weight), path_0 $(health_field b 0 state))"

# Save on A: exactly the two edits.
ino=$(stat -c %i "$CONF")
"$MPT" --socket "$WORK/a.sock" save >"$WORK/save1.out" || fail "mpt save on A: $(cat "$WORK/save1.out")"
cat "$WORK/save1.out"
grep -q "^ok: saved 1 file(s)" "$WORK/save1.out" || fail "mpt save did not report the file"
grep -q "it.conf: .*path_0 status 0 -> 128" "$WORK/save1.out" || fail "mpt save does not list path_0's status"
grep -q "it.conf: .*path_1 weight_out 1 -> 7" "$WORK/save1.out" || fail "mpt save does not list path_1's weight"
grep -q "^  weight_out = 7	; was one$" "$CONF" || fail "weight_out = 7 not written: $(cat "$CONF")"
grep -q "^status = 128$" "$CONF" || fail "status = 128 not written: $(cat "$CONF")"
cmp "$CONF" "$WORK/expected.conf" || { diff "$WORK/expected.conf" "$CONF"; fail "the rest of the file changed"; }
[ "$(stat -c %a "$CONF")" = 640 ] || fail "the file's mode changed to $(stat -c %a "$CONF")"
[ "$(stat -c %i "$CONF")" != "$ino" ] || fail "the file was not replaced by a rename"
ls -A "$WORK/a/connections" | grep -qv "^it.conf$" && fail "a temporary file was left: $(ls -A "$WORK/a/connections")"
echo "A's file: weight_out = 7 (comment kept), status = 128 inserted, everything else byte for byte"

# Saving again writes nothing; a reload of the saved files changes nothing.
ino=$(stat -c %i "$CONF")
"$MPT" --socket "$WORK/a.sock" save >"$WORK/save2.out" || fail "second mpt save: $(cat "$WORK/save2.out")"
grep -q "^ok: saved 0 file(s)" "$WORK/save2.out" || fail "second save wrote: $(cat "$WORK/save2.out")"
[ "$(stat -c %i "$CONF")" = "$ino" ] || fail "the second save rewrote the file"
"$MPT" --socket "$WORK/a.sock" reload >"$WORK/reload.out" || fail "mpt reload after save: $(cat "$WORK/reload.out")"
grep -q "^ok: 0 change(s) applied" "$WORK/reload.out" || fail "reload after save applied changes: $(cat "$WORK/reload.out")"
[ "$(health_field a 1 weight)" = 7 ] || fail "A's path_1 weight is $(health_field a 1 weight) after the reload"
[ "$(health_field a 0 state)" = admin-down ] || fail "A's path_0 is $(health_field a 0 state) after the reload"
echo "second save: 0 files; reload after save: 0 changes"

# B: the weight the peer set is saved, the down state the peer imposed is not (A's own
# configuration keeps it down; B's would refuse A's later 'up').
BCONF=$WORK/b/connections/it.conf
"$MPT" --socket "$WORK/b.sock" save >"$WORK/saveb.out" || fail "mpt save on B: $(cat "$WORK/saveb.out")"
cat "$WORK/saveb.out"
awk '/^\[path_1\]/{p=1} p && /^weight_out = 7$/{found=1} END{exit !found}' "$BCONF" ||
  fail "B's path_1 weight not saved: $(cat "$BCONF")"
grep -q "^status" "$BCONF" && fail "B saved the state the peer imposed: $(cat "$BCONF")"
"$MPT" --socket "$WORK/b.sock" reload | grep -q "^ok: 0 change(s) applied" || fail "reload on B after save changed something"
echo "B's file: the peer's weight saved, the peer's down state not"

# Completion of connection names and path numbers from the running tunnel (root).
expect_completion "it" "$MPT" -s "$WORK/a.sock" path up ""
expect_completion "0 1" "$MPT" -s "$WORK/a.sock" path weight it ""

# mptd A restarted from the saved files runs what was saved.
kill "$(cat "$WORK/a.pid")"
for ((i = 0; i < 100; i++)); do kill -0 "$(cat "$WORK/a.pid")" 2>/dev/null || break; sleep 0.1; done
kill -0 "$(cat "$WORK/a.pid")" 2>/dev/null && fail "mptd A did not stop"
rm -f "$WORK/a.sock"
ip netns exec "$A" "$MPTD" --config "$WORK/a" --socket "$WORK/a.sock" >"$WORK/a2.log" 2>&1 &
echo $! >"$WORK/a.pid"
wait_for 50 test -S "$WORK/a.sock" || fail "mptd A did not start again"
[ "$(health_field a 1 weight)" = 7 ] || fail "restarted A runs path_1 with weight $(health_field a 1 weight)"
[ "$(health_field a 0 state)" = admin-down ] || fail "restarted A runs path_0 $(health_field a 0 state)"
wait_for 50 established a || fail "restarted A: the peer never answered HELLO"
ip netns exec "$A" ping -c 2 -i 0.2 -W 2 10.201.0.2 >/dev/null || fail "no traffic over path_1 after the restart"
echo "PASS: mpt save wrote weight and state, kept the rest byte for byte; reload after it is a no-op; a restart runs what was saved"
