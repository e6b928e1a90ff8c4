"""Private keys: generate them for a plan's key type, name their type, serialize them.

One place knows the key types, so issuing, inspection and the service-account pair agree on
what `ecdsa-p256` or `rsa-4096` means and which hash signs with which key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from hawizard.localfs import read_regular_bytes
from hawizard.plan import KeyType

PrivateKey = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
PublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.ECDSA_P256: ec.SECP256R1(),
    KeyType.ECDSA_P384: ec.SECP384R1(),
}
_RSA_BITS: dict[KeyType, int] = {KeyType.RSA_2048: 2048, KeyType.RSA_4096: 4096}
_CURVE_NAMES = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}


def generate_key(key_type: KeyType) -> PrivateKey:
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type])
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])


def key_type_name(key: PrivateKey | PublicKey) -> str:
    """`ecdsa-p256`, `rsa-2048`, … — the plan's spelling, also for imported keys it can't make."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return _CURVE_NAMES.get(key.curve.name, f"ecdsa-{key.curve.name}")
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "ed448"
    return type(key).__name__


def is_rsa(key: PrivateKey | PublicKey) -> bool:
    return isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey)


def signing_hash(ca_key: PrivateKey) -> hashes.HashAlgorithm | None:
    """The hash a CA signs with: SHA-384 for P-384 and larger curves, none for EdDSA."""
    if isinstance(ca_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(ca_key, ec.EllipticCurvePrivateKey) and ca_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def private_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM: read by etcd, Kubernetes and openssl alike."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: Path) -> PrivateKey:
    """Raise ValueError (never echoing key material) when the file is not a usable key."""
    try:
        key = serialization.load_pem_private_key(read_regular_bytes(path), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path.name} is not an unencrypted PEM private key") from exc
    if not isinstance(key, PrivateKey):
        raise ValueError(f"{path.name} holds an unsupported key type")
    return key


def load_public_key(path: Path) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(read_regular_bytes(path))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path.name} is not a PEM public key") from exc
    return key  # type: ignore[return-value]


def same_public_key(a: PrivateKey | PublicKey, b: PrivateKey | PublicKey) -> bool:
    return public_pem(a) == public_pem(b)
