"""Typed, versioned messages on greenmon's Kafka topics, encoded and decoded in one place.

=====================================  =============================================
topic                                  schema
=====================================  =============================================
``greenmon.readings``                  ``greenmon.domain.wire.ReadingRecord`` (``ver``)
``greenmon.readings.late``             the same record: :mod:`greenmon.messages.late`
``greenmon.readings.dlq``              :class:`greenmon.messages.dead_letter.DeadLetter`
``greenmon.windows``                   ``greenmon.domain.windows`` (window results)
``greenmon.value_added``               :class:`greenmon.messages.value_added.ValueAddedMessage`
alert outbox, MQTT, webhook, e-mail    :class:`greenmon.messages.alert.AlertDocument`
=====================================  =============================================

Every message carries a version (``version``; ``ver`` in the compact reading record);
one without is version 1, the format published before versions existed, so what
meters, gateways and older services send stays valid. A consumer refuses a version it
does not read with :class:`greenmon.errors.UnknownVersion` (an
:class:`~greenmon.errors.InvalidInput`), whose text is the dead-letter reason; a new
version is rolled out consumers first. See :mod:`greenmon.messages.base`.
"""
