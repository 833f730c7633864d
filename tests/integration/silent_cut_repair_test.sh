#!/usr/bin/env bash
# silent_cut_test.sh with loss repair on (the default): the receiver asks for what the cut
# path swallowed, the sender resends it on the live path; no reinjection of the whole
# unconfirmed history (only its tail), payload intact, no TCP retransmission timeout.
# Usage: silent_cut_repair_test.sh BUILD_DIR
MPT_SILENT_CUT_MODE=repair exec bash "$(dirname "$0")/silent_cut_test.sh" "$@"
