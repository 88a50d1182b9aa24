"""Which address a failed login is counted for: the peer, or the forwarded client behind a trusted proxy."""

from __future__ import annotations

import pytest

from lrs_ws.config import Settings
from lrs_ws.soap.context import client_address

PROXIES = Settings.from_env({"LRS_WS_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"}).trusted_proxies


@pytest.mark.parametrize(
    "remote, forwarded, expected",
    [
        ("203.0.113.5", "", "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a proxy: a client cannot pick its address
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # hops a client wrote itself are ignored
        ("10.1.2.3", "198.51.100.1, 192.0.2.1", "198.51.100.1"),  # through two trusted proxies
        ("10.1.2.3", "not-an-address", "10.1.2.3"),
        ("10.1.2.3", "", "10.1.2.3"),
        ("", "198.51.100.1", ""),
    ],
)
def test_the_source_is_the_peer_or_the_last_untrusted_forwarded_hop(remote, forwarded, expected) -> None:
    environ = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(environ, PROXIES) == expected


def test_without_trusted_proxies_the_forwarded_header_is_never_believed() -> None:
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
    assert client_address(environ, ()) == "127.0.0.1"


def test_a_trusted_proxy_setting_that_is_not_an_address_stops_start_up_with_its_name() -> None:
    with pytest.raises(ValueError, match="LRS_WS_TRUSTED_PROXIES"):
        Settings.from_env({"LRS_WS_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"})
