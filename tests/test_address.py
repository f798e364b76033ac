"""Where a phone finds the page: addresses, the short link, the QR code."""

import ipaddress

import zxingcpp
from PIL import Image

from rig.address import local_addresses, page_urls, qr_link, qr_matrix, terminal_qr


def test_local_addresses_are_ipv4_and_not_loopback():
    for address in local_addresses():
        ip = ipaddress.ip_address(address)
        assert ip.version == 4 and not ip.is_loopback


def test_the_ip_address_comes_first_then_the_name():
    assert page_urls("0.0.0.0", 8080, addresses=["10.1.2.3"], hostname="rig") == [
        "http://10.1.2.3:8080/", "http://rig.local:8080/"]
    assert page_urls("0.0.0.0", 8080, addresses=[], hostname="rig.lan") == [
        "http://rig.local:8080/"]
    assert page_urls("127.0.0.1", 9000) == ["http://127.0.0.1:9000/"]


def test_the_link_fits_a_version_3_code_for_the_longest_ipv4_address():
    """29x29 modules: two OLED pixels a module with a quiet zone fit its 64 rows."""
    link = qr_link("http://255.255.255.255:65535/", "abcd-efgh-jkmn-pqrs-tuvw")
    assert link == "http://255.255.255.255:65535/?t=abcdefghjkmnpqrstuvw"
    assert len(qr_matrix(link)) == 29


def _picture(matrix, module=6, quiet=4):
    size = (len(matrix) + 2 * quiet) * module
    img = Image.new("L", (size, size), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                x0, y0 = (x + quiet) * module, (y + quiet) * module
                img.paste(0, (x0, y0, x0 + module, y0 + module))
    return img


def test_a_decoder_reads_the_link_back():
    link = qr_link("http://192.168.1.20:8080/", "76su-zyz8-jhxu-fvx7-aejz")
    assert [c.text for c in zxingcpp.read_barcodes(_picture(qr_matrix(link)))] == [link]


def test_the_terminal_code_has_every_module():
    link = "http://10.0.0.5:8080/?t=abcdefghjkmnpqrstuvw"
    text = terminal_qr(link).splitlines()
    matrix = qr_matrix(link)
    assert len(text) == (len(matrix) + 5) // 2 and len(text[0]) == len(matrix) + 4
