"""Provider uptime probes: `provider_up` and the probe's duration per provider, from a cheap authenticated call, and
the TLS certificate expiry of the provider's endpoint."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from intplat_common import ProviderConfig, ResilientClient, UptimeProbe, UptimeProber

from .metrics_helpers import scrape


def gauge(name: str, provider: str) -> float | None:
    return scrape(name).get((("provider", provider),))


def client_answering(name: str, answer: httpx.Response, seen: list[httpx.Request]) -> ResilientClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    config = ProviderConfig(name=name, base_url=f"http://{name}.test", max_attempts=1, headers={"X-Token": "t"})
    return ResilientClient(config, transport=httpx.MockTransport(handle))


async def test_a_2xx_is_up_and_any_other_answer_or_error_is_down() -> None:
    seen: list[httpx.Request] = []
    answering = client_answering("probe-ok", httpx.Response(200, json={"ID": 1}), seen)
    refusing = client_answering("probe-401", httpx.Response(401, json={"ErrorCode": 10}), seen)

    async def unreachable() -> None:
        raise httpx.ConnectError("refused")

    prober = UptimeProber(
        [
            UptimeProbe.get("probe-ok", answering, "/server"),
            UptimeProbe.get("probe-401", refusing, "/v1/profile"),
            UptimeProbe("probe-down", unreachable),
        ]
    )
    try:
        assert await prober.probe_once() == {"probe-ok": True, "probe-401": False, "probe-down": False}
    finally:
        await answering.aclose()
        await refusing.aclose()
    assert [(r.method, r.url.path, r.headers["X-Token"]) for r in seen] == [
        ("GET", "/server", "t"),
        ("GET", "/v1/profile", "t"),
    ]
    assert (gauge("provider_up", "probe-ok"), gauge("provider_up", "probe-401")) == (1.0, 0.0)
    assert gauge("provider_up", "probe-down") == 0.0
    duration = gauge("provider_probe_duration_seconds", "probe-ok")
    assert duration is not None and 0 < duration < 5
    assert gauge("provider_certificate_expiry_timestamp_seconds", "probe-ok") is None, "plain http: no certificate"


async def test_a_probe_that_hangs_is_down_after_the_timeout() -> None:
    async def hangs() -> None:
        await asyncio.Event().wait()

    prober = UptimeProber([UptimeProbe("probe-hangs", hangs)], timeout=0.05)
    assert await prober.probe_once() == {"probe-hangs": False}
    assert gauge("provider_up", "probe-hangs") == 0.0


async def test_the_worker_probes_on_its_schedule_until_stopped() -> None:
    calls: list[int] = []
    probed = asyncio.Event()

    async def check() -> None:
        calls.append(1)
        if len(calls) == 2:
            probed.set()

    prober = UptimeProber([UptimeProbe("probe-scheduled", check)], interval=0.01)
    task = asyncio.create_task(prober.run())
    await asyncio.wait_for(probed.wait(), 10)
    await prober.stop(task)
    assert task.done()
    assert gauge("provider_up", "probe-scheduled") == 1.0


def self_signed_certificate(directory: Path, not_after: datetime) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, valid until `not_after`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "crl_sign"), False
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, encipher_only=False, decipher_only=False, **usage
            ),
            True,
        )
        .add_extension(key_id, False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "provider.pem", directory / "provider.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@asynccontextmanager
async def https_provider(cert_file: Path, key_file: Path, status: int) -> AsyncIterator[str]:
    """A provider endpoint over TLS answering every request with `status` (and closing the connection)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.mark.parametrize("status", [200, 401])
async def test_the_probe_reports_the_certificate_the_provider_presented(tmp_path: Path, status: int) -> None:
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    cert_file, key_file = self_signed_certificate(tmp_path, not_after)
    provider = f"probe-tls-{status}"
    async with https_provider(cert_file, key_file, status) as url:
        trusting = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=cert_file))
        client = ResilientClient(ProviderConfig(name=provider, base_url=url, max_attempts=1), transport=trusting)
        try:
            assert await UptimeProber([UptimeProbe.get(provider, client, "/server")]).probe_once() == {
                provider: status == 200
            }
        finally:
            await client.aclose()
    # A refusal (our credential) still came over the provider's certificate.
    assert gauge("provider_certificate_expiry_timestamp_seconds", provider) == not_after.timestamp()
