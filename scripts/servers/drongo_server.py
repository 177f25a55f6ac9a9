"""Runs drongo (GCP emulator) with TCP_NODELAY: usage drongo_server.py HOST PORT.

Without TCP_NODELAY each request stalls about 40 ms (Nagle + delayed ACK).
"""

import signal
import sys

import drongo.server


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    # SIGTERM unwinds like Ctrl-C, so run() closes its socket.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    drongo.server.DrongoHTTPRequestHandler.disable_nagle_algorithm = True
    drongo.server.run(host=host, port=port)


main()
