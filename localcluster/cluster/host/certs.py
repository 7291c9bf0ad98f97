"""The cluster's PKI: one CA, a certificate per component, the service-account key pair, kubeconfigs.

Keys are ECDSA P-256 (fast to make). A certificate is kept while it is signed by the current CA,
has the wanted subject and names and is valid for at least another 30 days; otherwise it is
reissued, so a second ``up`` changes nothing and a changed name list is picked up.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localcluster.cluster.spec.pki import CertSpec

CA_DAYS = 3650
LEAF_DAYS = 730
RENEW_BEFORE = dt.timedelta(days=30)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path} is not an ECDSA key")
    return key


class Authority:
    """The cluster CA, stored as ``ca.crt``/``ca.key`` in the PKI directory."""

    def __init__(self, pki: Path) -> None:
        """Load the CA from ``pki``, creating it on first use."""
        self.pki = pki
        self.cert_path = pki / "ca.crt"
        self.key_path = pki / "ca.key"
        if not (self.cert_path.exists() and self.key_path.exists()):
            self._create()
        self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        self.key = _load_key(self.key_path)

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stateful-local-ca")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1))
            .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, _key_pem(key))
        _write_public(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))

    def paths(self, stem: str) -> tuple[Path, Path]:
        """Certificate and key path of a leaf."""
        return self.pki / f"{stem}.crt", self.pki / f"{stem}.key"

    def ensure(self, spec: CertSpec) -> bool:
        """Issue ``spec`` unless a matching, valid certificate exists; True when (re)issued."""
        cert_path, key_path = self.paths(spec.stem)
        if cert_path.exists() and key_path.exists() and self._matches(cert_path, spec):
            return False
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in spec.organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name))
        usages = []
        if spec.server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if spec.client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(hours=1))
            .not_valid_after(_now() + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_encipherment=False, key_cert_sign=False, crl_sign=False,
                    content_commitment=False, data_encipherment=False, key_agreement=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
        names += [x509.IPAddress(ip) for ip in spec.ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        _write_private(key_path, _key_pem(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return True

    def _matches(self, cert_path: Path, spec: CertSpec) -> bool:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.issuer != self.cert.subject or cert.not_valid_after_utc - _now() < RENEW_BEFORE:
            return False
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        orgs = tuple(a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        if cns != [spec.common_name] or sorted(orgs) != sorted(spec.organizations):
            return False
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = sorted(san.get_values_for_type(x509.DNSName))
            ips = sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
        except x509.ExtensionNotFound:
            dns, ips = [], []
        return dns == sorted(spec.dns_names) and ips == sorted(str(ip) for ip in spec.ip_addresses)


def ensure_service_account_keys(pki: Path) -> None:
    """Create ``sa.key``/``sa.pub`` (token signing key pair) once."""
    key_path, pub_path = pki / "sa.key", pki / "sa.pub"
    if key_path.exists() and pub_path.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    _write_private(key_path, _key_pem(key))
    _write_public(
        pub_path,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    """A kubeconfig with the CA and client credentials embedded (so it can be copied anywhere)."""
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stateful-local", "cluster": {
            "server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        "contexts": [{"name": "stateful-local", "context": {"cluster": "stateful-local", "user": user}}],
        "current-context": "stateful-local",
        "preferences": {},
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def write_private(path: Path, text: str) -> bool:
    """Write a secret-bearing file (mode 0600) if its content changed; True when written."""
    data = text.encode()
    if path.exists() and path.read_bytes() == data:
        return False
    _write_private(path, data)
    return True
