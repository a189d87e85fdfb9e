"""Benchmark: signed health codes, issued and verified on one core.

    python bench/codes.py                      # 20,000 codes issued and verified, 500 QR PNGs
    python bench/codes.py --codes 100000 --png 2000 --dcc 20000

The requirements: verification of at least 5,000 codes/s on one core, offline, ES256, from
the QR text with every check (prefix, base45, zlib, COSE_Sign1, the signer under its root,
ES256, validity, the payload's schema); issuance of at least 2,000 codes/s (claims to QR
text: CWT, COSE_Sign1 ES256, zlib, base45). The QR PNG rate is printed for information, and
so is the rate of verifying EU DCCs (``HC1:``, ``verify_hcert``: the same steps, the signer's
key usage, and the content against the official DCC JSON schema of its version).

Everything runs in this one process on one thread, with the code paths the server uses:
``CodeIssuer.issue`` with the active signer cached (as ``CodeKeys.active_signer`` caches it)
and ``CodeVerifier.verify`` with its per-kid key cache (as ``TrustedCodes`` holds it), each
code distinct (its own id, name and reasons). Prints one JSON line on stdout, then a summary
on stderr. Besides wall-clock rates it reports rates per second of the process's own CPU time
(the one-core rate when other work shares the machine) and the load average.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _machine  # bench/_machine.py: Python puts the script's folder on the path
from chaincut.clock import FixedClock
from chaincut.codes import TrustAnchors, verify_hcert
from chaincut.codes.code_verify import CodeTrust, CodeVerifier
from chaincut.codes.issuance import ActiveSigner, CodeIssuer, build_claims, code_qr_png
from chaincut.codes.signing_keys import new_dsc, new_root
from chaincut.codes.trust_list import IssuerTrust
from chaincut.domain.health_codes import CodeReason, HealthCode

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


class _Signers:
    def __init__(self, signer: ActiveSigner) -> None:
        self._signer = signer

    def active_signer(self) -> ActiveSigner:
        return self._signer


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=20_000, help="codes to issue and verify")
    parser.add_argument("--png", type=int, default=500, help="QR PNGs to draw")
    parser.add_argument("--dcc", type=int, default=5_000, help="EU DCCs to verify (0: none)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    root = new_root("HK", NOW)
    dsc = new_dsc(root, "HK", NOW, 1)
    issuer = CodeIssuer(
        _Signers(ActiveSigner(dsc.kid, dsc.private_key, NOW + timedelta(days=300))), "HK", 24, FixedClock(NOW)
    )
    reasons = (
        CodeReason("close_contact", "red", "close contact (visit to venue V-000123 with case C-4567)", None),
        CodeReason("testing_notice", "amber", "compulsory testing notice CTN-2026-1120", None),
    )
    claims = [
        build_claims(
            HealthCode(i, "red", reasons, NOW + timedelta(days=10), NOW, "2026.11-default"),
            code_id=f"{i:022d}",
            issuer="HK",
            subject=f"{i:022d}",
            name=f"Resident {i} 陳大文",
            last_negative_test_at=NOW - timedelta(hours=20),
            now=NOW,
            valid_hours=24,
        )
        for i in range(args.codes)
    ]

    started, cpu = time.perf_counter(), time.process_time()
    texts = [issuer.issue(c).text for c in claims]
    issue_seconds, issue_cpu = time.perf_counter() - started, time.process_time() - cpu

    verifier = CodeVerifier(
        CodeTrust({"HK": IssuerTrust("HK", root.certificate, {dsc.kid: dsc.certificate})})
    )
    at = NOW + timedelta(hours=1)
    started, cpu = time.perf_counter(), time.process_time()
    valid = sum(1 for text in texts if verifier.verify(text, at).valid)
    verify_seconds, verify_cpu = time.perf_counter() - started, time.process_time() - cpu
    if valid != len(texts):
        print(f"only {valid} of {len(texts)} codes verified", file=sys.stderr)
        return 1

    dcc = _dcc_rates(args.dcc) if args.dcc else {}

    started = time.perf_counter()
    png_bytes = sum(len(code_qr_png(text)) for text in texts[: args.png])
    png_seconds = time.perf_counter() - started

    result = {
        "benchmark": "codes",
        "codes": len(texts),
        "qr_text_chars_mean": round(sum(map(len, texts)) / len(texts), 1),
        "issue_per_second": round(len(texts) / issue_seconds),
        "verify_per_second": round(len(texts) / verify_seconds),
        # Per second of this process's CPU time: the one-core rate when other work shares the machine.
        "issue_per_cpu_second": round(len(texts) / issue_cpu),
        "verify_per_cpu_second": round(len(texts) / verify_cpu),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "png_per_second": round(args.png / png_seconds, 1) if args.png else None,
        "png_bytes_mean": round(png_bytes / args.png) if args.png else None,
        **dcc,
        "targets": {"verify_per_second": 5000, "issue_per_second": 2000},
        **_machine.machine(),
    }
    print(json.dumps(result))
    print(
        f"issued {result['issue_per_second']:,}/s (target 2,000), "
        f"verified {result['verify_per_second']:,}/s (target 5,000), QR PNG {result['png_per_second']}/s; "
        f"per CPU second: issued {result['issue_per_cpu_second']:,}, "
        f"verified {result['verify_per_cpu_second']:,}; "
        f"{result['qr_text_chars_mean']} characters a code",
        file=sys.stderr,
    )
    if dcc:
        print(
            f"EU DCCs verified {dcc['dcc_verify_per_second']:,}/s "
            f"({dcc['dcc_verify_per_cpu_second']:,} per CPU second; for information)",
            file=sys.stderr,
        )
    return 0


def _dcc_rates(count: int) -> dict[str, int]:
    """EU DCCs (vaccinations, each its own certificate id) signed by a test signer, then verified."""
    sys.path.insert(0, str(REPO / "tests"))
    from support.dcc import ISSUED, VACCINATION, new_signer

    signer = new_signer()
    texts = []
    for i in range(count):
        dcc = copy.deepcopy(VACCINATION)
        dcc["v"][0]["ci"] = f"URN:UVCI:01:HK:BENCH{i:010d}#X"
        texts.append(signer.issue(dcc))
    trust, at = TrustAnchors.of([signer.certificate]), ISSUED + timedelta(days=1)
    started, cpu = time.perf_counter(), time.process_time()
    valid = sum(1 for text in texts if verify_hcert(text, trust, at).valid)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    if valid != count:
        raise SystemExit(f"only {valid} of {count} EU DCCs verified")
    return {
        "dcc": count,
        "dcc_verify_per_second": round(count / seconds),
        "dcc_verify_per_cpu_second": round(count / cpu_seconds),
    }


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
