# SPDX-License-Identifier: LGPL-2.1-or-later
# The module's own exception types, imported by every other part.


class ProtocolError(Exception):
    """The peer sent bytes that are not valid pyward protocol v1."""
