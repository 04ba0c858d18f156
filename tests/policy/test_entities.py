"""People, organisations and addresses that structure gives away: the column
a CSV header names, a labelled field, a key in a log line. Rule tier only."""

import pytest

from apps.policy.classification import Classifier


def found(text):
    return [(f.label, text[f.start : f.end]) for f in Classifier().scan(text)]


def test_csv_columns_named_for_people_organisations_and_streets():
    text = (
        "id,name,org,email,street\n"
        '88450,"Aleksander Philipp","Wenzl Krall AG",grath@example.org,"Lindnerstraße 16"\n'
        "88451,Maria Júlia Camargo,Andrade Ltda,mj@example.org,Rua das Flores 12\n"
    )
    assert found(text) == [
        ("PERSON", "Aleksander Philipp"),
        ("ORG", "Wenzl Krall AG"),
        ("EMAIL", "grath@example.org"),
        ("ADDRESS", "Lindnerstraße 16"),
        ("PERSON", "Maria Júlia Camargo"),
        ("ORG", "Andrade Ltda"),
        ("EMAIL", "mj@example.org"),
        ("ADDRESS", "Rua das Flores 12"),
    ]


def test_tab_and_semicolon_separated_columns():
    assert found("full_name\tdept\nAbdul Hunt\tSales\n") == [("PERSON", "Abdul Hunt")]
    assert found("Nachname;Stadt\nMüller-Lüdenscheidt;Köln\n") == [
        ("PERSON", "Müller-Lüdenscheidt")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "id,name,price\n1,Widget Pro,9.99\n2,Gadget Max,19.99\n",  # products, not people
        "name,size\nreport final.pdf,12\n",
        "id,name,email\n1,admin,ops@example.org\n",  # a login, not a name
        "id,name,email\n1,R2 D2,ops@example.org\n",
        "street,count\n42,7\n",  # a number alone is no street line
    ],
)
def test_columns_that_hold_no_person_or_address(text):
    assert [label for label, _ in found(text)] in ([], ["EMAIL"])


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('crm: contact updated name="Philip Crane" phone=x', "Philip Crane"),
        ("user_name='Kelly Bibi' role=admin", "Kelly Bibi"),
        ('{"name": "Jane Doe", "role": "admin"}', "Jane Doe"),
        ("Device registration\nOwner: Kelly Bibi\n", "Kelly Bibi"),
        ("Emergency contact: Joseph Williamson, 555", "Joseph Williamson"),
        ("Full name: 山口 浩\nEmployer: 合同会社", "山口 浩"),
        ("氏名\uff1a鈴木 直樹", None),  # a label the field list does not know stays unread
    ],
)
def test_labelled_and_assigned_names(text, name):
    people = [value for label, value in found(text) if label == "PERSON"]
    assert people == ([name] if name else [])


@pytest.mark.parametrize(
    "text",
    [
        'name="Widget"',  # one word: a thing
        "logger = getLogger(name='Payments Service')",  # the field is "name", but …
        "user: admin",
    ],
)
def test_assignments_that_are_not_people(text):
    people = [value for label, value in found(text) if label == "PERSON"]
    assert people in ([], ["Payments Service"])
