"""The gateway reads an OPC UA server that allows only Basic256Sha256 SignAndEncrypt, with
certificates made for the test; without security the same server refuses it (a fault)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.server.server import Server
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.config import parse_config
from gateway.service import Gateway
from greenmon.local.ports import free_port

pytestmark = pytest.mark.integration

SERVER_URI = "urn:greenmon:test:opcua-server"
CLIENT_URI = "urn:freeopcua:client"  # asyncua's client application URI


def _certificate(folder: Path, name: str, uri: str) -> tuple[Path, Path]:
    """A self-signed RSA certificate (DER) and its key (PEM) for an OPC UA application."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=True,
        data_encipherment=True, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    der, pem = folder / f"{name}.der", folder / f"{name}.pem"
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return der, pem


def test_opcua_sign_and_encrypt(tmp_path: Path) -> None:
    asyncio.run(_sign_and_encrypt(tmp_path))


async def _sign_and_encrypt(tmp_path: Path) -> None:
    server_cert, server_key = _certificate(tmp_path, "server", SERVER_URI)
    _certificate(tmp_path, "gateway", CLIENT_URI)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/greenmon/"
    server = Server()
    await server.init()
    server.set_endpoint(endpoint)
    await server.set_application_uri(SERVER_URI)
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    await server.load_certificate(str(server_cert))
    await server.load_private_key(str(server_key))
    idx = await server.register_namespace("urn:greenmon:test")
    plant = await server.nodes.objects.add_object(idx, "Plant")
    await plant.add_variable(f"ns={idx};s=Heat.Total", "Heat.Total", 77.25)
    point = {"endpoint": endpoint, "node_id": f"ns={idx};s=Heat.Total", "unit": "GJ"}
    secure = {"security_mode": "SignAndEncrypt", "security_policy": "Basic256Sha256",
              "certificate": "gateway.der", "private_key": "gateway.pem"}  # fmt: skip
    doc = {
        "enterprise": "G1",
        "interval": "1s",
        "opcua": [{"meter": "G1-HEAT", **point, **secure}, {"meter": "G1-PLAIN", **point}],
    }
    async with server:
        gateway = Gateway(parse_config(doc, base=tmp_path, env={}))
        items = await gateway.poll_once(datetime(2025, 1, 1, tzinfo=UTC))
        for source in gateway._opcua.values():
            await source.close()
    assert [(i["meter"], i["value"]) for i in items] == [("G1-HEAT", 77.25)]
    assert dict(gateway.faults) == {"G1-PLAIN": 1}  # no unsecured endpoint: refused
