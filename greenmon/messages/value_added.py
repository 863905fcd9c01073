"""Value-added figures on ``greenmon.value_added``: one enterprise-month per message.

Version 1 (a message without ``version`` is version 1, as they were first published)::

    {"version": 1, "enterprise_id": "E1", "month": "2025-01", "value_added": 1120.5,
     "price_basis": "current"}

``value_added`` is a JSON number in 10^4 CNY; ``price_basis`` is ``constant_2020`` or
``current``. The shape is checked here; whether the enterprise is registered, the
month real and a price index there is checked by
:func:`greenmon.accounting.value_added.build_row`, as for the import file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, StrictStr

from greenmon.accounting.value_added import PriceIndex, ValueAddedRow, build_row
from greenmon.errors import InvalidMessage
from greenmon.messages.base import Message


class ValueAddedMessage(Message):
    KIND = "value-added message"

    enterprise_id: StrictStr
    month: StrictStr
    value_added: Annotated[float, Field(strict=True)]
    price_basis: StrictStr

    def row(self, index: PriceIndex, industries: Mapping[str, str]) -> ValueAddedRow:
        """The figure at constant 2020 prices; InvalidMessage with every problem found."""
        try:
            return build_row(self.model_dump(exclude={"version"}), index, industries)
        except ValueError as exc:
            raise InvalidMessage(f"{self.KIND}: {exc}") from None


def parse_value_added_message(
    payload: bytes, index: PriceIndex, industries: Mapping[str, str]
) -> ValueAddedRow:
    """Parse one ``greenmon.value_added`` record; InvalidMessage with the reason if refused.

    Stateless: a later record for the same enterprise-month is expected to replace the
    earlier one where it is stored.
    """
    return ValueAddedMessage.decode(payload).row(index, industries)
