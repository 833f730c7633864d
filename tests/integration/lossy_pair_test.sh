#!/usr/bin/env bash
# emulated_pair_test.sh with 2 % random loss on the slower path: lost packets are asked for
# again and sent again (repair); the transfer arrives intact and B gives up few numbers.
# Usage: lossy_pair_test.sh BUILD_DIR
MPT_EMULATED_MODE=lossy exec bash "$(dirname "$0")/emulated_pair_test.sh" "$@"
