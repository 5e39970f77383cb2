"""The compact columns rules keep their facts in give back exactly what went in."""

from __future__ import annotations

from validateur.validation.rules.columns import MAX_INT_DIGITS, Claims, Interned

#: Texts a claim column must keep apart: the same digits with and without leading zeros,
#: "0", the longest integer kept and one digit more, claim-shaped letters, and "".
AWKWARD_CLAIMS = [
    "20000000001", "020000000001", "0020000000001", "0", "00", "",
    "9" * MAX_INT_DIGITS, "9" * (MAX_INT_DIGITS + 1), "1" + "0" * (MAX_INT_DIGITS - 1),
    "1234-5A", "12345A", "٣٣٣",  # Arabic-Indic digits: `isdigit()`, not ASCII
]


def test_claims_give_every_text_back_exactly() -> None:
    claims = Claims()
    for claim in AWKWARD_CLAIMS:
        claims.append(claim)
    assert [claims[index] for index in range(len(claims))] == AWKWARD_CLAIMS


def test_a_replaced_claim_gives_the_new_text_back() -> None:
    claims = Claims()
    for _ in AWKWARD_CLAIMS:
        claims.append("20000000001")
    for index, claim in enumerate(reversed(AWKWARD_CLAIMS)):
        claims[index] = claim
    assert [claims[index] for index in range(len(claims))] == AWKWARD_CLAIMS[::-1]


def test_claims_that_read_as_the_same_number_are_never_merged() -> None:
    claims = Claims()
    texts = ["123", "0123", "00123", "123"]
    for text in texts:
        claims.append(text)
    assert [claims[index] for index in range(4)] == texts
    assert len({claims[index] for index in range(4)}) == 3


def test_interned_values_share_one_object_per_distinct_value() -> None:
    infos: Interned[str] = Interned()
    first = "".join(["Dr ", "A"])
    second = "".join(["Dr ", "A"])
    assert first is not second
    assert infos.shared(first) is first
    assert infos.shared(second) is first
    assert infos.index("Dr B") == 1
    assert infos.values == ["Dr A", "Dr B"]

