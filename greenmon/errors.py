"""greenmon's exception hierarchy: every exception class greenmon defines is here.

Everything greenmon raises on purpose derives from :class:`GreenmonError`, so a
caller (the ``greenmon`` command line first of all) can catch one type. The
subclasses say which side is at fault::

    GreenmonError
    ├── InvalidInput            data from outside is wrong
    │   ├── InvalidReading      a meter reading (payload, topic, Kafka record)
    │   ├── RegistryError       a meter-registry file
    │   ├── ImportRefused       a whole import file (greenmon.accounting.value_added)
    │   └── InvalidMessage      a message on a Kafka topic (greenmon.messages)
    │       └── UnknownVersion  ... of a schema version this consumer does not read
    ├── ServiceError            a broker, the database or a local service failed
    │   └── DeliveryError       an alert channel did not take a message (retried)
    ├── CredentialsError        MQTT credentials cannot be issued
    ├── NotAcknowledged         Kafka did not acknowledge records that must not be lost
    └── FactorMissing           no conversion or emission factor is valid at a time

* :class:`InvalidInput` — data from outside (a payload, a CSV row, a setting, a
  message) is wrong; the message names what and why. Readings and messages that
  fail become dead letters with ``str(exc)`` as their reason.
* :class:`ServiceError` — a broker, database or local service misbehaved; the
  caller retries or reports, the data stays where it was.
* :class:`NotAcknowledged` — records the caller must not lose (dead letters, late
  readings) were not acknowledged by Kafka; the caller retries its whole batch. It
  is not a :class:`ServiceError` on purpose: a service retries it without dropping
  its database connection.
* :class:`FactorMissing` — no factor is valid for a carrier at a timestamp: an
  explicit error, never a zero.

:class:`ImportRefused` lives beside its parser in ``greenmon.accounting.value_added``
(it formats per-line errors) and derives from :class:`InvalidInput`. Other exceptions that
escape greenmon (``ValueError`` from a pure function given an impossible argument,
``psycopg.Error``, ``KafkaError``) are programming errors or come from a library.
"""

from __future__ import annotations


class GreenmonError(Exception):
    """Base of every error greenmon raises on purpose."""


class InvalidInput(GreenmonError):
    """Input from outside greenmon is malformed or inconsistent."""


class InvalidReading(InvalidInput):
    """A meter reading (payload, topic or record) was refused; ``str()`` is the reason."""


class RegistryError(InvalidInput):
    """A meter-registry file has an unknown value; the message names the row and column."""


class InvalidMessage(InvalidInput):
    """A message on a Kafka topic does not match its schema; ``str()`` is the reason."""


class UnknownVersion(InvalidMessage):
    """A message carries a schema version this consumer does not read."""


class ServiceError(GreenmonError):
    """A broker, the database or a local service failed or is unreachable."""


class DeliveryError(ServiceError):
    """An alert channel (MQTT, webhook, e-mail) did not take a message; it is retried later."""


class CredentialsError(GreenmonError):
    """MQTT credentials cannot be issued (bad user name, unreadable password file)."""


class NotAcknowledged(GreenmonError):
    """Kafka did not acknowledge records that must not be lost; the batch is retried."""


class FactorMissing(GreenmonError):
    """No factor is valid for a carrier at a timestamp: an explicit error, never a zero."""
