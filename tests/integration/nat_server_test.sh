#!/usr/bin/env bash
# nat_test.sh with the server in server mode (accept_remote = 1, conf.template and
# clients/it.conf): the client's two NATed paths reach the server's two listeners, which
# learn its addresses, follow a NAT rebinding and a handover, and refuse strangers -- the
# same checks as for an ordinary keyed connection.
# Usage: nat_server_test.sh BUILD_DIR
NAT_SERVER_MODE=1 exec bash "$(dirname "$0")/nat_test.sh" "$@"
