"""Decentralised presence tracing: CrowdNotifier version 3, interoperable with its reference library.

``ibe``: the identity-based encryption over BLS12-381 (pymcl: the reference's own mcl library);
``messages``: the protocol's protobuf messages; ``protocol``: keys, QR codes, check-ins, pre-traces,
traces and matching.
"""
