"""Structured identifiers, table-tested per category and country: cards,
phones, SSNs, IP and MAC addresses, IBANs, emails and the national packs.
Plain strings in, findings out; no database."""

import functools
import time

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.policy.classification import (
    BUILTIN_DETECTORS,
    DETECTOR_DESCRIPTIONS,
    DETECTOR_PACKS,
    RESTRICTED,
    BuiltinSetting,
    Classifier,
    _Scan,
)
from apps.policy.detectors import contact, national, numbers

DEFAULT = Classifier()
ALL_NATIONAL = [name for pack in DETECTOR_PACKS.values() for name in pack]
PACKS_ON = Classifier({name: BuiltinSetting(True, RESTRICTED) for name in ALL_NATIONAL})


def found(text, classifier=DEFAULT):
    return [(f.label, text[f.start : f.end]) for f in classifier.scan(text)]


def assert_finds_exactly(label, template, value, classifier=DEFAULT):
    before = template.split("{}")[0]
    text = template.replace("{}", value)
    spans = [(f.start, f.end) for f in classifier.scan(text) if f.label == label]
    assert spans == [(len(before), len(before) + len(value))], found(text, classifier)


def assert_not_flagged(label, text, classifier=DEFAULT):
    assert label not in {f.label for f in classifier.scan(text)}, found(text, classifier)


def luhn_complete(partial: str) -> str:
    """``partial`` plus the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if numbers.luhn_ok(partial + check):
            return partial + check
    raise AssertionError("unreachable")


def card(prefix: str, length: int) -> str:
    body = (prefix + "7350182946" * 2)[: length - 1]
    return luhn_complete(body)


def grouped(digits: str, sizes, sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(digits[at : at + size])
        at += size
    if at < len(digits):
        parts.append(digits[at:])
    return sep.join(parts)


# --- payment cards ---------------------------------------------------------------

# (network, issuer prefix, length, how it is printed)
NETWORKS = [
    ("Visa", "4", 16, (4, 4, 4, 4)),
    ("Visa 13", "4", 13, (4, 4, 4)),
    ("Visa 19", "4", 19, (4, 4, 4, 4)),
    ("Mastercard", "53", 16, (4, 4, 4, 4)),
    ("Mastercard 2-series", "2720", 16, (4, 4, 4, 4)),
    ("Amex", "37", 15, (4, 6, 5)),
    ("Discover", "6011", 16, (4, 4, 4, 4)),
    ("Discover 19", "6445", 19, (4, 4, 4, 4)),
    ("JCB 16", "3530", 16, (4, 4, 4, 4)),
    ("JCB 15", "2131", 15, (4, 4, 4)),
    ("Diners 14", "3056", 14, (4, 6, 4)),
    ("Diners 16", "3852", 16, (4, 4, 4, 4)),
    ("UnionPay 16", "6221", 16, (4, 4, 4, 4)),
    ("UnionPay 19", "6250", 19, (6, 13)),
    ("UnionPay 81", "8171", 16, (4, 4, 4, 4)),
    ("Mir", "2201", 16, (4, 4, 4, 4)),
    ("RuPay", "6070", 16, (4, 4, 4, 4)),
    ("RuPay 508", "5085", 16, (4, 4, 4, 4)),
    ("Troy", "9792", 16, (4, 4, 4, 4)),
    ("Maestro 12", "6759", 12, (4, 4, 4)),
    ("Maestro 13", "5018", 13, (4, 4, 4)),
    ("Maestro 15", "5020", 15, (4, 4, 4)),
    ("Maestro 18", "6304", 18, (4, 4, 4, 4)),
    ("Maestro 19", "6763", 19, (4, 4, 4, 4)),
    ("Maestro range", "5612", 16, (4, 4, 4, 4)),
]


@pytest.mark.parametrize(("network", "prefix", "length", "sizes"), NETWORKS)
@pytest.mark.parametrize("sep", [" ", "-", ".", ""])
def test_cards_of_every_network_length_and_separator(network, prefix, length, sizes, sep):
    number = card(prefix, length)
    assert len(number) == length and numbers.luhn_ok(number)
    written = grouped(number, sizes, sep)
    assert_finds_exactly("CARD", "paid with {} yesterday", written)
    assert_finds_exactly("CARD", "({})", written)


@pytest.mark.parametrize(("network", "prefix", "length", "sizes"), NETWORKS)
def test_a_card_failing_luhn_is_not_a_card(network, prefix, length, sizes):
    number = card(prefix, length)
    broken = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert_not_flagged("CARD", "paid with {} yesterday".format(grouped(broken, sizes, " ")))


@pytest.mark.parametrize(
    "template",
    [
        "card {}",
        "Card number: {}",
        "my card is {}",
        "cc={}",
        "VISA {}",
        "mastercard: {}",
        "amex {}",
        "Kreditkarte {}",
    ],
)
@pytest.mark.parametrize(
    "number", [card("9111", 16), card("1234", 12), card("7001", 19), card("5612", 16)]
)
def test_in_context_any_luhn_valid_number_is_a_card(template, number):
    assert_finds_exactly("CARD", template, number)
    assert_finds_exactly("CARD", template, grouped(number, (2, 3, 1, 5, 4), "-"))


def test_card_inside_a_longer_run_is_found():
    number = grouped(card("4", 16), (4, 4, 4, 4), " ")
    assert found(f"ref {number} 12 27") == [("CARD", number)]


@pytest.mark.parametrize(
    "text",
    [
        "id 9111111111111111 and 1234567812345670",  # Luhn-valid, unknown issuer, no cue
        "pairs 41 11 11 11 11 11 11 11",  # nobody writes a card in pairs
        "ts 1700000000000 and 1700000000000000",
        "order 6759 2012 3 and total 4,111,111,111,111,111",
        "version 4111.1111.1111.1111.2",
        "sha 4111111111111111abc and x4111111111111111",
        f"a card-like prefix of {grouped(card('4', 16), (4, 4, 4, 4), ' ')} 7350 1829",
    ],
)
def test_card_look_alikes(text):
    assert_not_flagged("CARD", text)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["4", "51", "2221", "34", "6011", "3530", "36", "62", "2200", "9"]),
    length=st.integers(12, 19),
    seps=st.lists(st.sampled_from(["", "", "", " ", "-", "."]), min_size=18, max_size=18),
    seed=st.integers(0, 10**18),
    cue=st.sampled_from(["card", "Card number:", "my card", "cc", "visa", "mastercard"]),
)
def test_property_a_luhn_valid_card_after_card_is_found_whatever_separators(
    prefix, length, seps, seed, cue
):
    body = (prefix + str(seed).rjust(19, "7"))[: length - 1]
    number = luhn_complete(body)
    written = number[0] + "".join(sep + digit for sep, digit in zip(seps, number[1:], strict=False))
    text = f"{cue} {written} thanks"
    start = len(cue) + 1
    spans = [(f.start, f.end) for f in DEFAULT.scan(text) if f.label == "CARD"]
    assert any(s <= start and start + len(written) <= e for s, e in spans), found(text)


# --- phone numbers ---------------------------------------------------------------

REGIONS = [
    "GB", "DE", "FR", "ES", "IT", "NL", "AU", "IN", "US", "CA", "JP", "BR", "MX", "ZA", "SG",
    "CH", "SE", "PL", "IE", "NZ", "KR", "CN", "RU", "AE", "NG", "AR", "BE", "AT", "DK", "NO",
    "FI", "PT", "IL", "TR", "EG", "KE", "PH", "ID", "TH", "VN",
]  # fmt: skip


def example(region, kind):
    return phonenumbers.example_number_for_type(region, kind)


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize(
    "kind", [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
)
def test_international_numbers_of_many_countries(region, kind):
    number = example(region, kind)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert_finds_exactly("PHONE", "Reach me at {} after six", international)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assert_finds_exactly("PHONE", "whatsapp {}.", e164)
    assert_finds_exactly("PHONE", "dial {} now", "00" + e164[1:])


# Hand-written, as people in each country print them (no "+", no cue word).
NATIONAL = [
    ("GB", "020 7946 0958"),
    ("GB", "07700 900123"),
    ("GB", "(020) 7946 0958"),
    ("GB", "0161 496 0000"),
    ("DE", "030 12345678"),
    ("DE", "030/1234567"),
    ("DE", "(030) 1234 5678"),
    ("DE", "0151 23456789"),
    ("FR", "01 42 68 53 79"),
    ("FR", "06.52.14.38.27"),
    ("FR", "06-52-14-38-27"),
    ("ES", "612 34 56 78"),
    ("ES", "912 34 56 78"),
    ("IT", "02 1234 5678"),
    ("IT", "06 6982 1234"),
    ("NL", "06-12345678"),
    ("NL", "010 123 4567"),
    ("AU", "(02) 9374 4000"),
    ("AU", "0412 345 678"),
    ("IN", "011 2345 6789"),
    ("US", "(415) 555-0132"),
    ("US", "415-555-0132"),
    ("US", "415.555.0132"),
    ("US", "415 555-0132"),
    ("US", "415 555 0132"),
    ("US", "1-800-555-0199"),
    ("US", "1 (212) 555-0199"),
    ("CA", "(506) 234-5678"),
    ("US", "(591)341-7776"),  # an area code libphonenumber does not know: the layout suffices
    ("US", "881.428.6570"),
    ("FR", "0232781286"),  # one trunk "0", valid in France, written without spaces
    ("GB", "02079460958"),
]


@pytest.mark.parametrize(("region", "written"), NATIONAL)
def test_national_formats_of_the_default_regions(region, written):
    assert region in numbers.DEFAULT_PHONE_REGIONS
    assert_finds_exactly("PHONE", "Our office is {} (ask for Sam)", written)


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("call {} tonight", "+44 (0)20 7946 0958"),
        ("call {} tonight", "+49 (0)30 1234 5678"),
        ("Tel: {}", "+33 (0)1 23 45 67 89"),
        ("office {}, thanks", "+1 415-555-0132 ext. 42"),
        ("office {}, thanks", "(415) 555-0132 x123"),
        ("office {}, thanks", "020 7946 0958 ext 7"),
        ("mobile: {}", "98765 43210"),  # India, no trunk prefix: needs the cue
        ("phone {}", "2025550143"),  # bare run after a cue
        ("Call me at {} after six", "1-372-598-2963"),  # an unassigned area code
        ("reach the desk on {} or", "0033 6 94 02 43 61"),
        ("Tel.: {}", "0049 89 1234567"),
        ("tel:{}", "+14155550132"),
        ("see {} ok", "+44(0)115 4960914"),  # a "+" and a possible length: enough
        ("see {} ok", "+61.437.406.812"),
        ("see {} ok", "+55 61 9141-7776"),
        ("see {} ok", "+1-537-640-6812x41586"),
        ("お問い合わせは{}までお願いします", "+81 20-6235-2033"),  # no spaces around it
    ],
)
def test_trunk_prefixes_extensions_and_cued_numbers(template, value):
    assert_finds_exactly("PHONE", template, value)


def test_bare_national_numbers_need_a_cue():
    assert_not_flagged("PHONE", "ticket 9876543210 closed")
    assert_finds_exactly("PHONE", "call me: {}", "9876543210")


PHONE_NEAR_MISSES = [
    "released 2024-01-15, 15.01.2024 and 01/15/2024 at 10:30:45",
    "log 2024-01-15 10:30:45,123 INFO worker 12 started",
    "v1.2.3, version 10.15.7 and 2.7.18; build 2024.01.15",
    "order 123-456-7890 and invoice 4000 5000 6000 shipped",
    "ISBN 978-3-16-148410-0 and 9780306406157",
    "total $1 234 567, €12 345 678 and 1 234 567,89 EUR",
    "12 + 34 = 46, 100 - 2 = 98, 3 * 1234567 = 3703701",
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "sha 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "INT_MAX is +2147483647; +5 points; 1+1=2",
    "coordinates 51.5074 -0.1278, ratio 1/2/3, ZIP 94105-1234",
    "epoch 1700000000 and 1700000000123",
    "counts 200 300 4000 and 12 34 56 78 90",
    "IP 10.0.0.1 and 192.168.100.200",
    "see pages 0 12 34",
    "padded ids 0000012345 and 00123456789, spaced 200 300 4000",
    "ratio 0.381094567191384 and 0.7584295078, draw 07 10 20 33 44 and 09 11 18 27 34 40",
    "totals 1,234,567 and 12,345,678,901",
    "value: 227 616 7992, ticket 024-00-8225, part no. 078-05-1120, id 502 254 3143",
    "released on 0648844874, order 0800 123 4567, tracking 020 7946 0958",
]


@pytest.mark.parametrize("text", PHONE_NEAR_MISSES)
def test_phone_look_alikes(text):
    assert_not_flagged("PHONE", text)


def test_phone_regions_are_passed_in():
    text = "Büro 0221 1234567"  # a German number without "+"
    assert found(text, Classifier(phone_regions=["DE"])) == [("PHONE", "0221 1234567")]
    assert found(text, Classifier(phone_regions=["US"])) == []
    assert found("+49 221 1234567", Classifier(phone_regions=[])) == [("PHONE", "+49 221 1234567")]


# --- SSNs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("on file: {}", "123-45-6789"),
        ("on file: {}", "123 45 6789"),
        ("on file: {}", "123.45.6789"),
        ("SSN {}", "123456789"),
        ("ssn: {}", "1234 56 789"),
        ("social security number {}", "12-345-6789"),
        ("Social Security No. {}", "123 456 789"),
        ("SS# {}", "219099998"),
    ],
)
def test_ssns(template, value):
    assert_finds_exactly("SSN", template, value)


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000",
        "078-05-1120 and SSN 219-09-9999",
        "a bare 123456789 and 1234 56 789 without a cue",
        "SSN 12345678 is too short, ssn 1234567890 too long",
    ],
)
def test_ssn_look_alikes(text):
    assert_not_flagged("SSN", text)


# --- IP and MAC addresses ------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("gateway {} is down", "10.0.0.1"),
        ("gateway {} is down", "172.16.4.20"),
        ("gateway {} is down", "192.168.1.254"),
        ("public {}.", "8.8.8.8"),
        ("route {} via eth0", "10.20.0.0/16"),
        ("curl http://{}:8080/health", "192.168.0.10"),
        ("hosts {},db1", "10.0.0.1"),
        ("v6 {} ok", "2001:0db8:0000:0000:0000:ff00:0042:8329"),
        ("v6 {} ok", "2001:db8::ff00:42:8329"),
        ("mapped {} ok", "::ffff:192.168.1.1"),
        ("link [{}]:443", "fe80::1ff:fe23:4567:890a"),
    ],
)
def test_ips(template, value):
    assert_finds_exactly("IP", template, value)


@pytest.mark.parametrize(
    "text",
    [
        "localhost 127.0.0.1, any 0.0.0.0, broadcast 255.255.255.255, ::1 and ::",
        "version 1.2.3.4, v10.0.0.1, section 8.1.2.2, OID 1.3.6.1.4.1",
        "300.1.2.3, 10.0.0.256, 01.02.03.04",
        "std::vector, a::b, dead::beef, x[1::3], 12:30:45",
    ],
)
def test_ip_look_alikes(text):
    assert_not_flagged("IP", text)


@pytest.mark.parametrize(
    "value", ["00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5e", "AC:DE:48:00:11:22"]
)
def test_mac_addresses(value):
    assert_finds_exactly("MAC", "nic {} on vlan 4", value)
    assert BUILTIN_DETECTORS["mac"].level == 1


@pytest.mark.parametrize(
    "text",
    [
        "fingerprint 16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
        "00:00:00:00:00:00 and ff:ff:ff:ff:ff:ff, 12:30:45:10",
        "dead.beef.cafe and a1b2c3d4e5f6 and 2001:db8::1",
    ],
)
def test_mac_look_alikes(text):
    assert_not_flagged("MAC", text)


# --- IBAN and email ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "DE89 3704 0044 0532 0130 00",
        "de89 3704 0044 0532 0130 00",
        "DE89-3704-0044-0532-0130-00",
        "DE89 370 400 440 532 013 000",
        "de89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "gb82west12345698765432",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
        "BE68 5390 0754 7034",
    ],
)
def test_ibans_in_any_case_and_grouping(value):
    assert_finds_exactly("IBAN", "pay to {} by Friday", value)


@pytest.mark.parametrize(
    "text",
    [
        "DE89 3704 0044 0532 0130 01 and de89-3704-0044-0532-0130-01",  # fail mod-97
        "XY89 3704 0044 0532 0130 00 and DE89 3704 0044 0532 0130 0",
    ],
)
def test_iban_look_alikes(text):
    assert_not_flagged("IBAN", text)


@pytest.mark.parametrize(
    "value",
    [
        "jürgen.müller@bücher.de",
        "info@пример.рф",
        "user@xn--bcher-kva.de",
        "admin@example.xn--p1ai",
        "josé@correo.es",
        "用户@例子.广告",
        "first.last+tag@mail.example.co.uk",
    ],
)
def test_internationalised_emails(value):
    assert_finds_exactly("EMAIL", "write to {} soon", value)


# --- national identifier packs ---------------------------------------------------------

# (detector, template, valid value, the same value with a failing checksum or shape)
NATIONAL_IDS = [
    ("uk_nino", "NI {}", "AB 12 34 56 C", "BG 12 34 56 C"),
    ("uk_nino", "ref {}", "JG103759A", "QQ123456E"),
    ("uk_nhs", "NHS number {}", "9434765919", "9434765918"),
    ("uk_nhs", "patient {}", "943 476 5919", "943 476 5918"),
    ("uk_passport", "passport no. {}", "925076473", "000000000"),
    ("uk_driving_licence", "driving licence {}", "MORGA657054SM9IJ", "MORGA673054SM9IJ"),
    ("us_itin", "ITIN {}", "912-70-3456", "912-40-3456"),
    ("us_passport", "passport {}", "A12345678", "A11111111"),
    ("us_driver_licence", "driver's license {}", "D1234567", "D11111111"),
    ("us_mbi", "Medicare {}", "1EG4TE5MK73", "1EG4TS5MK73"),
    ("us_mbi", "card shows {}", "1EG4-TE5-MK73", "1EG4-TE5-MKS3"),
    ("us_npi", "NPI {}", "1234567893", "1234567890"),
    ("us_aba_routing", "routing number {}", "111000025", "111000026"),
    ("us_bank_account", "account number {}", "000123456789", "111111111"),
    ("ca_sin", "SIN {}", "123456782", "123456789"),
    ("ca_sin", "insurance {}", "123 456 782", "123 456 789"),
    ("de_tax_id", "Steuer-ID {}", "36574261809", "36574261808"),
    ("de_tax_id", "ID {}", "36 574 261 809", "36 574 261 808"),
    ("fr_nir", "numéro {}", "2 95 10 99 126 111 93", "2 95 10 99 126 111 94"),
    ("es_dni", "DNI {}", "54362315K", "54362315Z"),
    ("es_dni", "NIE {}", "X2482300W", "X2482300A"),
    ("it_fiscal_code", "CF {}", "RCCMNL83S18D969H", "RCCMNL83S18D969A"),
    ("nl_bsn", "BSN {}", "111222333", "111222334"),
    ("pl_pesel", "PESEL {}", "44051401359", "44051401358"),
    ("br_cpf", "CPF {}", "625.053.630-21", "625.053.630-22"),
    ("br_cpf", "meu CPF é {}", "62505363021", "62505363022"),
    ("br_cnpj", "empresa {}", "11.222.333/0001-81", "11.222.333/0001-82"),
    ("in_aadhaar", "Aadhaar: {}", "2345 6789 0124", "2345 6789 0123"),
    ("in_aadhaar", "is {} the right Aadhaar?", "234567890124", "234567890123"),
    ("in_pan", "PAN {}", "ABCPE1234F", "ABCXE1234F"),
    ("jp_my_number", "マイナンバー: {}", "376926104233", "376926104234"),
    ("jp_my_number", "田中さんのマイナンバーは{}です", "3769 2610 4233", "3769 2610 4234"),
    ("us_driver_licence", "my NJ driver's license is {}, is that it?", "P50012983660633",
     "P00000000000000"),
    ("us_driver_licence", "WA driver's license: {}.", "WDLHH40UV3E", "XDLHH40UV3E"),
    ("us_driver_licence", "is {} the right FL driver's license?", "L692553145231",
     "L000000000000"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "template", "valid", "invalid"), NATIONAL_IDS)
def test_national_identifiers_valid_and_checksum_failing(name, template, valid, invalid):
    label = name.upper()
    assert_finds_exactly(label, template, valid, PACKS_ON)
    assert_not_flagged(label, template.format(invalid), PACKS_ON)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("uk_passport", "925076473"),
        ("uk_nhs", "9434765919"),
        ("us_aba_routing", "111000025"),
        ("us_npi", "1234567893"),
        ("us_bank_account", "000123456789"),
        ("ca_sin", "123456782"),
        ("nl_bsn", "111222333"),
        ("pl_pesel", "44051401359"),
        ("us_driver_licence", "D1234567"),
        ("uk_driving_licence", "MORGA657054SM9IJ"),
        ("br_cpf", "62505363021"),
        ("in_aadhaar", "234567890124"),
        ("in_pan", "ABCPE1234F"),
        ("jp_my_number", "376926104233"),
    ],
)
def test_weak_or_unchecked_identifiers_need_a_cue_word(name, value):
    assert_not_flagged(name.upper(), f"reference {value} attached", PACKS_ON)


@pytest.mark.parametrize(
    ("label", "template", "value"),
    [
        ("NL_BSN", "Can you check whether {} is the right BSN for Lauren?", "111222333"),
        ("PL_PESEL", "is {} the right PESEL?", "44051401359"),
        ("US_BANK_ACCOUNT", "whether {} is the right account number", "61256092"),
        ("SSN", "{} is my SSN", "123456789"),
    ],
)
def test_a_cue_word_may_come_after_the_value(label, template, value):
    assert_finds_exactly(label, template, value, PACKS_ON)


def test_digit_groups_of_a_longer_number_are_not_an_identifier():
    """Four-digit groups inside an IBAN pass Aadhaar's check one time in ten."""
    text = "Payments from DE89 3704 0044 0532 0130 00 please"
    assert [label for label, _ in found(text, PACKS_ON)] == ["IBAN"]


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("Per informazioni chiami il {}.", "088252093"),  # Italy is a default region…
        ("Proszę o kontakt pod numerem {}.", "698 878 391"),  # … Poland is not
        ("Ring mig på {}. /Viktoria", "04100043"),
        ("お問い合わせは{}までお願いします。", "51-1505-9741"),
        ("Phone: {}\nEmail: x@example.com", "4086.6601"),
        ('id,name,phone\n1,"Julian Czak",{}\n', "605 566 800"),
        ('id,name,phone\n1,"Andrea McCool",{}\n', "\u0666\u0660\u0660\u0662\u0667\u0663"
         "\u0666\u0668\u0662\u0668"),
    ],
)  # fmt: skip
def test_a_number_called_a_phone_is_one_in_any_country(template, value):
    assert_finds_exactly("PHONE", template, value)


@pytest.mark.parametrize(
    "text",
    [
        "Call 2 times, then wait 45 minutes.",
        "id,name,reference\n1,Widget,605 566 800\n",
        "Contact us about order 605 566 800.",
        "version 4086.6601 of the phone app",
    ],
)
def test_numbers_near_phone_words_that_are_not_phones(text):
    assert_not_flagged("PHONE", text)


def test_a_csv_column_named_ssn():
    text = 'id,name,ssn,street\n86306,"Emil Imiela",453328033,"al. Kilińskiego 193"\n'
    assert [f for f in found(text) if f[0] == "SSN"] == [("SSN", "453328033")]
    assert [f for f in found(text.replace(",ssn,", ",ticket,")) if f[0] == "SSN"] == []


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("CARD", "9792 7257 9383 8280"),
        ("CARD", "3540.5692.0653.6999.37"),
        ("CARD", "501817225540"),
        ("PHONE", "+34943093088"),
    ],
)
def test_csv_fields_after_a_number(label, value):
    assert_finds_exactly(label, '1234,"Ana Ruiz",94105,{}\n', value)
    assert_finds_exactly(label, '1234,"Ana Ruiz",{},94105\n', value)


def test_packs_are_off_by_default_restricted_and_described():
    assert set(ALL_NATIONAL) == set(national.IDENTIFIERS)
    assert len(ALL_NATIONAL) == len(set(ALL_NATIONAL))
    for name in ALL_NATIONAL:
        assert BUILTIN_DETECTORS[name] == BuiltinSetting(False, RESTRICTED)
        assert DETECTOR_DESCRIPTIONS[name]
    assert found("NI AB 12 34 56 C, DNI 54362315K") == []
    only_uk = Classifier({name: BuiltinSetting(True, RESTRICTED) for name in DETECTOR_PACKS["uk"]})
    assert found("NI AB 12 34 56 C, DNI 54362315K", only_uk) == [("UK_NINO", "AB 12 34 56 C")]


# --- near-misses: number-heavy text without personal data -------------------------------

NUMBER_HEAVY = """\
2024-03-01T12:34:56.789Z INFO request_id=550e8400-e29b-41d4-a716-446655440000 took 123 ms
2024-03-01 12:34:57,001 WARN pool size 32/64, retries 3, backoff 1.5s, p99 245.7 ms
commit 9fceb02d0ae598e95dc970b74767f19372d61af8 (tag: v2.14.3) merged PR #10234
Order #1234567 shipped 3 items: SKU 100-2000-3000, SKU 4500-6000, total $1,234.56
Invoice INV-2024-000123 due 15/04/2024; amount 12 345,67 EUR; ref 2024/03/0042
Build 20240301.4 on node 7; versions 1.2.3, 10.15.7, 2.7.18, 3.12.0rc1
f(x) = 3x^2 + 2x - 1; 12 * 34 = 408; 1/3 ≈ 0.3333; 2^32 = 4294967296
Tracking 1Z999AA10123456784 and 9400 1000 0000 0000 0000 00
Coordinates 51.5074, -0.1278; elevation 35 m; temp -3.5 C; humidity 87%
ISBN 978-0-306-40615-7, ISSN 0317-8471, DOI 10.1000/182
Timestamp 1709296496 and 1709296496123; port 8080; PID 48213; uid 1000
Matrix [[1, 2, 3], [4, 5, 6]]; range(0, 100, 5); arr[1:10:2]
Score 98.6/100, rank 3 of 1200, ratio 16:9, resolution 1920x1080
Serial SN-20240301-000042, part no. 4410-2231-09, batch 2024-11
sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
"""


def test_no_structured_findings_in_number_heavy_text():
    assert [(label, value) for label, value in found(NUMBER_HEAVY, PACKS_ON)] == []


# --- properties and adversarial input ------------------------------------------------------

FINDERS = {
    "card": numbers.find_card,
    "phone": numbers.find_phone,
    "ssn": numbers.find_ssn,
    "ip": numbers.find_ip,
    "mac": numbers.find_mac,
    "email": contact.find_email,
    "iban": contact.find_iban,
    **national.FINDERS,
}


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789 .-+()/:@xXabcdefABCDEF\n#$%ssnSSNcard")),
        max_size=200,
    )
)
def test_property_finders_never_raise_and_spans_are_in_bounds(text):
    scan = _Scan(text)
    for finder in FINDERS.values():
        for start, end in finder(scan):
            assert 0 <= start < end <= len(text)
    for finding in PACKS_ON.scan(text):
        assert 0 <= finding.start < finding.end <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_property_any_unicode_text_is_scanned(text):
    for finding in PACKS_ON.scan(text):
        assert 0 <= finding.start < finding.end <= len(text)


ADVERSARIAL = [
    "\n",
    " ",
    "1",
    ".",
    "-",
    "1-",
    "1 ",
    "1.",
    "+1 ",
    ":",
    "a:",
    "12:",
    "(1)",
    "a1",
    "0 ",
    "1/",
    "ab12",
    "9",
    "AB 12 ",
    "ssn 1 ",
    "card 4",
    "x@",
    "a.",
    "\ud800",
]


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_the_shared_digit_scan_is_linear_on_adversarial_input(unit):
    text = unit * (100_000 // len(unit))
    start = time.thread_time()
    for run in numbers.runs(text):
        assert run.groups
    assert time.thread_time() - start < 1.0  # CPU time; quadratic would take minutes


@functools.cache
def adversarial_scan(unit):
    """100 KB of ``unit``, with the shared work (timed above) done."""
    scan = _Scan(unit * (100_000 // len(unit)))
    assert scan.lower and all(run.groups for run in scan.numbers)
    return scan


@pytest.mark.parametrize("unit", ADVERSARIAL)
@pytest.mark.parametrize("name", sorted(FINDERS))
def test_each_finder_is_linear_on_adversarial_input(name, unit):
    scan = adversarial_scan(unit)
    start = time.thread_time()
    for _ in FINDERS[name](scan):
        pass
    assert time.thread_time() - start < 1.0, name  # CPU time; quadratic would take minutes
