"""Detached Ed25519 signatures of a manifest, in OpenSSH's ``SSHSIG`` format.

``render --sign-key KEY`` writes ``manifest.json.sig``; ``verify --public-key KEY`` checks it. The
format is the one ``ssh-keygen -Y sign`` writes (namespace ``auditkit``, SHA-512), so an auditor
can also check a report years later with OpenSSH alone:

    echo "auditor ssh-ed25519 AAAA..." > allowed_signers
    ssh-keygen -Y verify -f allowed_signers -I auditor -n auditkit -s manifest.json.sig < manifest.json

A rewritten report with a rewritten manifest fails: the signature covers the manifest, which
pins every file by its SHA-256. Keys are read with ``cryptography`` (OpenSSH or PEM).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from pathlib import Path

from auditkit.errors import InputError

NAMESPACE = b"auditkit"
MAGIC = b"SSHSIG"
HASH = b"sha512"
SIGNATURE_FILE = "manifest.json.sig"
PASSPHRASE_ENV = "AUDITKIT_SIGN_KEY_PASSPHRASE"
_BEGIN, _END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise ValueError("truncated")
    (n,) = struct.unpack(">I", buf[pos:pos + 4])
    if pos + 4 + n > len(buf):
        raise ValueError("truncated")
    return buf[pos + 4:pos + 4 + n], pos + 4 + n


def _public_blob(raw: bytes) -> bytes:
    return _string(b"ssh-ed25519") + _string(raw)


def _signed_data(message: bytes) -> bytes:
    return MAGIC + _string(NAMESPACE) + _string(b"") + _string(HASH) + _string(hashlib.sha512(message).digest())


def load_private_key(path: str | Path):
    """An Ed25519 private key from an OpenSSH or PEM file; one-line errors otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read the signing key: {exc.strerror or exc}") from None
    password = os.environ.get(PASSPHRASE_ENV)
    password_bytes = password.encode() if password else None
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=password_bytes)
        else:
            key = serialization.load_pem_private_key(data, password=password_bytes)
    except TypeError:
        raise InputError(f"{p}: the signing key is encrypted: put its passphrase in ${PASSPHRASE_ENV}") from None
    except (ValueError, Exception) as exc:  # noqa: BLE001 - cryptography raises several types for bad keys
        raise InputError(f"{p}: not an OpenSSH or PEM private key ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{p}: the signing key is {type(key).__name__.replace('_', '')}; an Ed25519 key is "
                         "required (ssh-keygen -t ed25519)")
    return key


def load_public_key(path: str | Path) -> bytes:
    """The raw 32 bytes of an Ed25519 public key from an OpenSSH line (``ssh-ed25519 AAAA...``) or PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    p = Path(path)
    try:
        data = p.read_bytes().strip()
    except OSError as exc:
        raise InputError(f"{p}: cannot read the public key: {exc.strerror or exc}") from None
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_ssh_public_key(data.split(b"\n")[0])
    except (ValueError, Exception) as exc:  # noqa: BLE001
        raise InputError(f"{p}: not an OpenSSH or PEM public key ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{p}: not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(message: bytes, key) -> str:
    """An armored SSHSIG signature of ``message`` with an Ed25519 private key."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = key.sign(_signed_data(message))
    blob = (MAGIC + struct.pack(">I", 1) + _string(_public_blob(raw)) + _string(NAMESPACE) + _string(b"")
            + _string(HASH) + _string(_string(b"ssh-ed25519") + _string(sig)))
    text = base64.b64encode(blob).decode()
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def check(message: bytes, armored: str, public_raw: bytes) -> str | None:
    """None when ``armored`` is a valid signature of ``message`` by ``public_raw``; else why not."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = armored.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        return "not an SSH signature (no BEGIN/END SSH SIGNATURE lines)"
    try:
        blob = base64.b64decode("".join(text[len(_BEGIN):-len(_END)].split()), validate=True)
        if blob[:6] != MAGIC or struct.unpack(">I", blob[6:10])[0] != 1:
            return "not an SSHSIG version 1 signature"
        pos = 10
        pub, pos = _read_string(blob, pos)
        namespace, pos = _read_string(blob, pos)
        _, pos = _read_string(blob, pos)
        algorithm, pos = _read_string(blob, pos)
        sig_blob, pos = _read_string(blob, pos)
        kind, spos = _read_string(sig_blob, 0)
        sig, _ = _read_string(sig_blob, spos)
    except (ValueError, struct.error):
        return "the signature is damaged (truncated or not base64)"
    if namespace != NAMESPACE:
        return f"the signature is for namespace {namespace.decode(errors='replace')!r}, not 'auditkit'"
    if algorithm != HASH or kind != b"ssh-ed25519":
        return "the signature is not an Ed25519 / SHA-512 signature"
    if pub != _public_blob(public_raw):
        return "the signature was made with another key than the public key given"
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, _signed_data(message))
    except InvalidSignature:
        return "the signature does not match the manifest: the manifest was changed after signing"
    return None
