"""Optional source-IP allowlist for the webhook route (defence in depth; the signature is the authentication).

The list is Stripe's published webhook IPs, shipped in `data/stripe_webhook_ips.json` and refreshed with
`stripe-gateway refresh-ips`. `X-Forwarded-For` is believed only when the peer is a configured trusted proxy.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IP_LIST = Path(__file__).parent / "data" / "stripe_webhook_ips.json"
STRIPE_IP_LIST_URL = "https://stripe.com/files/ips/ips_webhooks.json"


def load_stripe_ips(path: Path = IP_LIST) -> list[IpNetwork]:
    document = json.loads(path.read_text())
    return [ipaddress.ip_network(ip) for ip in document["WEBHOOKS"]]


@dataclass(frozen=True)
class SourceIpPolicy:
    enabled: bool
    allowed: tuple[IpNetwork, ...]
    trusted_proxies: tuple[IpNetwork, ...]

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The first address, walking X-Forwarded-For from the right, that is not one of our trusted proxies."""
        if peer is None:
            return None
        if not forwarded_for or not self._trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self._trusted(hop):
                return hop
        return peer

    def permits(self, ip: str | None) -> bool:
        if not self.enabled:
            return True
        if ip is None:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.allowed)

    def _trusted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)
