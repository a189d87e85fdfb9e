"""Which kinds of certificate a signer may issue: its extended key usages (DCC spec, volume 1, 5.4.1).

A signer whose certificate has an extended key usage extension may sign only the
kinds it lists: test (``...1847.2021.1.1``), vaccination (``.2``), recovery
(``.3``); some early signers used a variant with an extra ``.0``. A signer
without the extension may sign any kind. An extension that lists only other
purposes (a passport signer's, say) does not allow health certificates at all,
as the reference test suite of the DCC test data holds.
"""

from __future__ import annotations

from cryptography import x509

from chaincut.codes.dcc_schema import certificate_kind

__all__ = ["KEY_USAGE_OIDS", "extended_key_usages", "key_usage_problem"]

KEY_USAGE_OIDS = {
    "t": ("1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"),
    "v": ("1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"),
    "r": ("1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"),
}
_EKU_OID_DER = bytes.fromhex("0603551d25")  # OBJECT IDENTIFIER 2.5.29.37 (extKeyUsage)


def _read_length(data: bytes, at: int) -> tuple[int, int]:
    first = data[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    return int.from_bytes(data[at + 1 : at + 1 + count], "big"), at + 1 + count


def _dotted(content: bytes) -> str:
    parts = [str(min(content[0] // 40, 2)), str(content[0] - 40 * min(content[0] // 40, 2))]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(str(value))
            value = 0
    return ".".join(parts)


def _raw_usages(tbs: bytes) -> set[str]:
    """The usages read straight from the DER, for extensions strict parsers refuse (an empty list)."""
    at = tbs.find(_EKU_OID_DER)
    if at < 0:
        return set()
    at += len(_EKU_OID_DER)
    if tbs[at] == 0x01:  # the optional "critical" flag
        at += 3
    if tbs[at] != 0x04:
        raise ValueError("extKeyUsage value is not an OCTET STRING")
    _, at = _read_length(tbs, at + 1)
    if tbs[at] != 0x30:
        raise ValueError("extKeyUsage value is not a SEQUENCE")
    length, at = _read_length(tbs, at + 1)
    end, usages = at + length, set()
    while at < end:
        if tbs[at] != 0x06:
            raise ValueError("extKeyUsage holds something other than OIDs")
        size, at = _read_length(tbs, at + 1)
        usages.add(_dotted(tbs[at : at + size]))
        at += size
    return usages


def extended_key_usages(signer: x509.Certificate) -> set[str]:
    """The dotted OIDs of a signer certificate's extended key usages (empty when it has none)."""
    try:
        extension = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return set()
    except ValueError:
        try:
            return _raw_usages(signer.tbs_certificate_bytes)
        except (ValueError, IndexError):
            return {"unreadable"}
    return {oid.dotted_string for oid in extension.value}


def key_usage_problem(signer: x509.Certificate, dcc: object) -> str | None:
    """Why this signer may not issue this kind of certificate, or None when it may."""
    usages = extended_key_usages(signer)
    if not usages:
        return None
    allowed = sorted(kind for kind, oids in KEY_USAGE_OIDS.items() if usages.intersection(oids))
    kind = certificate_kind(dcc)
    if kind is None or kind not in allowed:
        kinds = ", ".join(allowed) if allowed else "no health"
        return f"the signer's extended key usage allows {kinds} certificates, not this one"
    return None
