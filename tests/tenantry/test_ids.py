"""Which numbers can name a row or a user: the database refuses to compare with others."""

from __future__ import annotations

from tenantry.ids import MAX_ROW_ID, MAX_USER_ID, is_row_id, is_user_id, new_row_id


def test_user_ids_fit_a_32_bit_integer() -> None:
    assert is_user_id(1) and is_user_id(MAX_USER_ID)
    assert not is_user_id(0) and not is_user_id(-1) and not is_user_id(2**31)


def test_row_ids_fit_a_64_bit_integer_and_new_ones_are_valid() -> None:
    assert is_row_id(MAX_ROW_ID) and not is_row_id(2**63) and not is_row_id(0)
    assert all(is_row_id(new_row_id()) for _ in range(1000))
